"""Grading results and the files written from them: Gradescope ``results.json`` and a CSV gradebook.

Feedback contains per-unit scores and the checks' messages only, never the source of a hidden
check. It says that hidden checks ran, and never claims that every test passed. A warning about
the grading itself (student code that ran without the bubblewrap sandbox) opens the top-level
``output`` of ``results.json``; the batch's ``grading.log`` repeats it for every submission.

Public and hidden checks. A unit's score comes only from its hidden checks (``unit.checks``),
run by the grader. Its *public checks* are what a student can see and reproduce: the answer
cell was found, is no longer as released, ran without error and defines the unit's names; or,
for an artifact unit, the artifact's files were saved under ``artifacts/``. :class:`UnitResult` carries both.

Visibility (Gradescope's autograder specification, "Output format" and "Controlling Test Case
Visibility", https://gradescope-autograders.readthedocs.io/en/latest/specs/):

- a test's ``visibility`` is ``hidden`` (never shown to students), ``after_due_date`` (shown
  after the due date, or the late due date if late submissions are allowed), ``after_published``
  (shown once the assignment is published from "Review Grades") or ``visible`` (the default);
- a top-level ``visibility`` is the default of every test, and a test may override it with its
  own (the spec's example: hide everything until the due date, keep a pre-submission check such
  as "the code compiled" ``visible``);
- "If test cases are hidden, students will not be able to see their total score";
- the top-level ``score`` is optional but required when a test has none, and overrides the
  total of the tests; a test may omit ``score`` and ``max_score`` and carry only a ``status``
  (``passed``/``failed``) as an informational check;
- the top-level ``output`` is rendered as ``simple_format`` (HTML-like) unless
  ``output_format`` says otherwise; test outputs default to ``text`` (no HTML rendered).

:func:`gradescope_results` with ``hidden_visibility="visible"`` writes one scored, visible
test per unit, as before. With ``after_published``, ``after_due_date`` or ``hidden`` it writes,
per unit, a scoreless *visible* test with the public checks' outcome (e.g. "public checks
passed; 3 hidden checks are run at grading") and the scored hidden-checks test with that
visibility; the top-level ``visibility`` is set to the same value, so a test that lacks its own
is hidden too. The top-level ``score`` stays (the public tests carry none, so the spec requires
it; it equals the sum of the hidden tests' scores and so overrides nothing), and students do not
see it before publication because hidden tests hide the total score. The top-level ``output``
then says that the score comes from hidden checks whose results are shown later, never that
anything passed beyond the public checks. Every top-level ``output`` is marked
``output_format: "text"``, as it may quote student-controlled text (an error message).
"""
from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from autograder.units import Unit

VISIBILITIES = ("visible", "after_published", "after_due_date", "hidden")  # Gradescope's values
WHEN_SHOWN = {  # when a student sees the hidden checks' results, per visibility
    "after_published": "Their results and your score are shown once the course staff publish the grades.",
    "after_due_date": "Their results and your score are shown after the due date (the late due date, if late "
                      "submissions are allowed).",
    "hidden": "Their results and your score are not shown here; the course staff will tell you your grade.",
}
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
    public_passed: bool | None = None  # None: the public checks could not run (e.g. an unreadable notebook)
    public_message: str = ""  # what the public checks found, for the student
    hidden_checks: int | None = None  # how many hidden checks give the score (len(unit.checks)); None: unknown


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


def check_visibility(hidden_visibility: str) -> str:
    """``hidden_visibility`` if it is one of Gradescope's :data:`VISIBILITIES`; else ValueError naming them."""
    if hidden_visibility not in VISIBILITIES:
        raise ValueError(f"hidden_visibility must be one of {', '.join(VISIBILITIES)}; got {hidden_visibility!r}")
    return hidden_visibility


def hidden_checks_count(count: int | None) -> str:
    """E.g. "3 hidden checks", "1 hidden check", or "hidden checks" when the number is unknown."""
    noun = "check" if count == 1 else "checks"
    return f"hidden {noun}" if count is None else f"{count} hidden {noun}"


def hidden_checks_phrase(count: int | None, published: bool) -> str:
    """E.g. "3 hidden checks are run at grading" (before publication) or "1 hidden check ran" (after)."""
    if published:
        return f"{hidden_checks_count(count)} ran"
    return f"{hidden_checks_count(count)} {'is' if count == 1 else 'are'} run at grading"


def public_summary(unit: UnitResult) -> str:
    """The public checks' outcome in a few words: passed, failed with the reason, or could not run."""
    if unit.public_passed is None:
        return "public checks could not run"
    if unit.public_passed:
        return "public checks passed"
    return f"public checks failed: {unit.public_message}" if unit.public_message else "public checks failed"


def public_line(unit: UnitResult, published: bool) -> str:
    """E.g. "public checks passed; 3 hidden checks are run at grading"."""
    return f"{public_summary(unit)}; {hidden_checks_phrase(unit.hidden_checks, published)}"


def pending_note(result: SubmissionResult, hidden_visibility: str) -> str:
    """What a student reads before the hidden checks' results are shown: where the score comes from."""
    counts = [u.hidden_checks for u in result.units]
    total = None if None in counts else sum(counts)
    passed = sum(1 for u in result.units if u.public_passed)
    return (f"Public checks passed for {passed} of {len(result.units)} units. Your score comes from "
            f"{hidden_checks_count(total)}, run at grading: your functions are called on random inputs chosen "
            f"by the grader and their outputs compared with the course's reference implementation and with "
            f"numerical gradients; saved models are scored on held-out data. {WHEN_SHOWN[hidden_visibility]} "
            f"The public checks only tell whether the grader found each answer cell, changed from the release, "
            f"ran it without error and found what it defines (or found your saved model); passing them does not "
            f"mean that the hidden "
            f"checks pass. Written answers are graded by hand and are not included.")


def _top_output(result: SubmissionResult, note: str) -> str:
    """The top-level ``output``: warnings about the grading, the submission's error, then ``note``."""
    output = note
    if result.error:
        output = f"{result.error}\n\n{output}"
    if result.warnings:
        output = "\n".join(result.warnings) + f"\n\n{output}"
    return output


def _hidden_test(unit: UnitResult, visibility: str) -> dict:
    """The scored test of a unit's hidden checks."""
    return {
        "name": unit.grade_id,
        "score": unit.score,
        "max_score": unit.max_score,
        "status": "passed" if unit.status == "passed" else "failed",
        "output": unit.message,
        "visibility": visibility,
    }


def _public_test(unit: UnitResult) -> dict:
    """The always-visible, scoreless test of a unit's public checks."""
    return {
        "name": f"{unit.grade_id}: public checks",
        "status": "passed" if unit.public_passed else "failed",
        "output": public_line(unit, published=False),
        "visibility": "visible",
    }


def gradescope_results(result: SubmissionResult, hidden_visibility: str = "visible") -> dict:
    """The Gradescope ``results.json`` object of one submission.

    ``hidden_visibility`` is the Gradescope visibility of the hidden checks' results (one of
    :data:`VISIBILITIES`; ValueError otherwise). Other than ``visible``, every unit also gets a
    visible test with its public checks (see the module docstring).
    """
    visibility = check_visibility(hidden_visibility)
    published = visibility == "visible"
    note = HIDDEN_CHECKS_NOTE if published else pending_note(result, visibility)
    data = {
        "score": result.score,
        "execution_time": round(result.wall_time, 3),
        "output": _top_output(result, note),
        "output_format": "text",
        "stdout_visibility": "hidden",
    }
    if published:
        data["tests"] = [_hidden_test(unit, "visible") for unit in result.units]
    else:
        data["visibility"] = visibility
        data["tests"] = [test for unit in result.units for test in (_public_test(unit), _hidden_test(unit, visibility))]
    return data


def write_results_json(result: SubmissionResult, path: str | os.PathLike, hidden_visibility: str = "visible") -> Path:
    """Write ``results.json`` atomically (a temporary file renamed into place); see :func:`gradescope_results`."""
    data = gradescope_results(result, hidden_visibility)  # raises for a bad visibility before anything is written
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
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
