"""Resuming a run: fingerprints of what decides a grade, and the finished results saved under ``out/.state``."""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path

from autograder.reports import SubmissionResult, UnitResult
from course.grading.plan import GradingPlan
from course.grading.reports import not_graded_units, write_reports


def grading_digest(plan: GradingPlan) -> str:
    """A digest of the grading side of a run: units, options, the held-out data chosen, the release
    (notebooks and student ``dl``), and the code of the checks and of the reference library (a fix
    to either grades everyone again)."""
    import autograder
    import dl

    digest = hashlib.sha256(repr((plan.assignment, plan.notebooks, plan.options, plan.fixture_data)).encode())
    release = [plan.release_dir / f"{nb.name}.ipynb" for nb in plan.notebooks]
    _add_files(digest, plan.release_dir, release + sorted((plan.release_dir / "dl").rglob("*.py")))
    for package in (Path(autograder.__file__).parent, Path(dl.__file__).parent):
        _add_files(digest, package, sorted(package.rglob("*.py")))
    return digest.hexdigest()


def fingerprint(grading: str, plan: GradingPlan, folder: Path) -> str:
    """A digest of what decides a student's grade: ``grading`` (:func:`grading_digest`) and the files of the
    submission the grader reads (the assignment's notebooks and ``artifacts/``; nothing else in the folder)."""
    digest = hashlib.sha256(grading.encode())
    artifacts = folder / "artifacts"  # a link is refused at grading; walking it could walk the whole disk
    files = [folder / f"{nb.name}.ipynb" for nb in plan.notebooks] + ([] if artifacts.is_symlink() else sorted(artifacts.rglob("*")))
    _add_files(digest, folder, files)
    return digest.hexdigest()


def _add_files(digest, base: Path, files: list[Path]) -> None:
    """Feed each file's path (relative to ``base``) and bytes to ``digest``; a missing file counts as
    such, and a symbolic link by its target (never followed: it could name a FIFO or a huge file)."""
    for path in files:
        digest.update(str(path.relative_to(base)).encode() + b"\0")
        if path.is_symlink():
            digest.update(b"\1link\0" + os.fsencode(os.readlink(path)) + b"\0")
            continue
        if not path.is_file():
            digest.update(b"\1missing\0")
            continue
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0")


def _state_path(out: Path, student: str) -> Path:
    return out / ".state" / f"{student}.json"


def load_finished(out: Path, student: str, stamp: str) -> SubmissionResult | None:
    """The saved result of ``student`` if it was graded from exactly these inputs, else None.

    A result with units the grader itself failed on (:func:`~course.grading.reports.not_graded_units`)
    is never kept: whatever caused the failure may be gone by the next run.
    """
    try:
        state = json.loads(_state_path(out, student).read_text(encoding="utf-8"))
        if state["fingerprint"] != stamp:
            return None
        saved = state["result"]
        units = [UnitResult(**unit) for unit in saved.pop("units")]
        result = SubmissionResult(**saved, units=units)
    except (OSError, ValueError, KeyError, TypeError):  # absent, from an older version, or damaged: grade again
        return None
    return None if not_graded_units(result) else result


def save_finished(out: Path, result: SubmissionResult, stamp: str, hidden_visibility: str) -> None:
    """Write the reports of one student, then its state file (each atomically), so a skip always finds them."""
    write_reports(out, result, hidden_visibility)
    path = _state_path(out, result.submission)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps({"fingerprint": stamp, "result": asdict(result)}, indent=1), encoding="utf-8")
    os.replace(tmp, path)
