"""Grading results and the files written from them: Gradescope ``results.json`` and a CSV gradebook.

Feedback contains per-unit scores and the checks' messages only, never the source of a hidden
check. It says that hidden checks ran, and never claims that every test passed. A warning about
the grading itself (student code that ran without the bubblewrap sandbox) opens the top-level
``output`` of ``results.json``; the batch's ``grading.log`` repeats it for every submission.
"""
from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from autograder.units import Unit

HIDDEN_CHECKS_NOTE = (
    "These scores come from hidden checks that ran on your submission: your functions were called on "
    "random inputs chosen by the grader and their outputs compared with the course's reference "
    "implementation and with numerical gradients; saved models were scored on held-out data. The "
    "checks in the notebook are only a part of them, so a unit can lose points here even when the "
    "notebook's own checks pass. Written answers are graded by hand and are not included."
)


@dataclass
class UnitResult:
    """Score of one unit: ``status`` is ``passed``, ``partial``, ``failed`` or ``error`` (could not be graded)."""

    grade_id: str
    score: float
    max_score: float
    status: str
    message: str
    wall_time: float = 0.0


@dataclass
class SubmissionResult:
    """Every unit's result for one submission, plus notes for the instructor only."""

    submission: str
    notebook: str
    units: list[UnitResult] = field(default_factory=list)
    error: str | None = None  # a problem with the whole submission, shown to the student
    warnings: list[str] = field(default_factory=list)  # about how it was graded (e.g. without the sandbox)
    instructor_log: list[str] = field(default_factory=list)
    wall_time: float = 0.0

    @property
    def score(self) -> float:
        return round(sum(u.score for u in self.units), 4)

    @property
    def max_score(self) -> float:
        return round(sum(u.max_score for u in self.units), 4)


def gradescope_results(result: SubmissionResult) -> dict:
    """The Gradescope ``results.json`` object of one submission."""
    output = HIDDEN_CHECKS_NOTE
    if result.error:
        output = f"{result.error}\n\n{output}"
    if result.warnings:
        output = "\n".join(result.warnings) + f"\n\n{output}"
    return {
        "score": result.score,
        "execution_time": round(result.wall_time, 3),
        "output": output,
        "stdout_visibility": "hidden",
        "tests": [
            {
                "name": unit.grade_id,
                "score": unit.score,
                "max_score": unit.max_score,
                "status": "passed" if unit.status == "passed" else "failed",
                "output": unit.message,
                "visibility": "visible",
            }
            for unit in result.units
        ],
    }


def write_results_json(result: SubmissionResult, path: str | os.PathLike) -> Path:
    """Write ``results.json`` atomically (a temporary file renamed into place)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(gradescope_results(result), indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def write_grades_csv(results: Sequence[SubmissionResult], units: Sequence[Unit], path: str | os.PathLike) -> Path:
    """One row per submission, one column per unit (its score) and the total."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["submission", *(u.grade_id for u in units), "total"])
        for result in results:
            scores = {u.grade_id: u.score for u in result.units}
            writer.writerow([result.submission, *(scores.get(u.grade_id, 0.0) for u in units), result.score])
    os.replace(tmp, path)
    return path
