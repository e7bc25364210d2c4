"""Grade a whole assignment: every notebook of every submission, one report per student.

A submission is a folder holding the assignment's notebooks (and the ``artifacts/`` they wrote),
as students hand in their copy of the release folder; for a one-notebook assignment a bare
``.ipynb`` works too. The student id is the folder's name.

Outputs under ``out``:

- ``<student>/results.json``: Gradescope's format, every unit of the assignment;
- ``grades.csv``: one row per student, one column per unit, and the total;
- ``notebooks/<Notebook>/``: the per-notebook reports and ``grading.log`` (for the staff only).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from autograder.grade import grade_batch
from autograder.options import GradingOptions
from autograder.reports import SubmissionResult, write_grades_csv, write_results_json
from course.manifest import load_manifest


class GradeError(Exception):
    """The grading run cannot start (no release, bad submission paths); the message says why."""


@dataclass
class AssignmentReport:
    results: list[SubmissionResult]
    units: list  # every graded unit of the assignment, in manifest order
    out: Path


def submission_folders(paths: list[Path], notebook_names: list[str]) -> dict[str, Path]:
    """Student id -> submission folder; a bare notebook stands for its folder if the assignment has one notebook."""
    folders: dict[str, Path] = {}
    for path in paths:
        if path.is_file() and path.suffix == ".ipynb":
            if len(notebook_names) != 1 or path.stem != notebook_names[0]:
                raise GradeError(f"{path}: pass the submission folder (it must hold {', '.join(n + '.ipynb' for n in notebook_names)})")
            path = path.parent
        if not path.is_dir():
            raise GradeError(f"{path} is not a submission folder or notebook")
        student = re.sub(r"[^A-Za-z0-9._-]", "_", path.resolve().name).lstrip(".") or "submission"
        if student in folders:
            raise GradeError(f"two submissions are both called {student!r}: {folders[student]} and {path}")
        folders[student] = path
    return folders


def grade_assignment(root: Path, assignment: str, submissions: list[Path], out: Path, jobs: int = 1, data=None) -> AssignmentReport:
    """Grade ``submissions`` of ``assignment`` against ``release/<assignment>``; write the reports under ``out``."""
    course = load_manifest(root)
    if assignment not in course.assignments:
        raise GradeError(f"no assignment {assignment!r} in the manifest; known: {', '.join(course.assignments)}")
    notebooks = course.built_notebooks(assignment)
    release_dir = root / "release" / assignment
    if not notebooks or not release_dir.is_dir():
        raise GradeError(f"{release_dir} does not exist; run `dl-course release {assignment}` first")
    folders = submission_folders(submissions, [nb.name for nb in notebooks])
    # The worker's `import dl` must find the student edition, never the reference.
    options = GradingOptions(library_path=str(release_dir.resolve()))

    merged = {student: SubmissionResult(student, assignment) for student in folders}
    units = []
    for nb in notebooks:
        units += nb.units
        batch = {student: folder / f"{nb.name}.ipynb" for student, folder in folders.items()}
        uses = [(name, course.notebooks[name].units) for name in nb.uses]
        results = grade_batch(batch, release_dir / f"{nb.name}.ipynb", nb.units, out_dir=out / "notebooks" / nb.name,
                              options=options, jobs=jobs, data=data, uses=uses)
        for result in results:
            total = merged[result.submission]
            total.units += result.units
            total.wall_time += result.wall_time
            if result.error:
                total.error = "\n".join(filter(None, [total.error, f"{nb.name}: {result.error}"]))
    for student, result in merged.items():
        write_results_json(result, out / student / "results.json")
    write_grades_csv(list(merged.values()), units, out / "grades.csv")
    return AssignmentReport(list(merged.values()), units, out)


def score_table(report: AssignmentReport) -> str:
    """A plain-text table: one row per unit, one column per student, and the totals."""
    students = [r.submission for r in report.results]
    scores = {r.submission: {u.grade_id: u for u in r.units} for r in report.results}
    width = max([len(u.grade_id) for u in report.units] + [5])
    lines = [f"{'unit':<{width}} {'max':>5} " + " ".join(f"{s:>10}" for s in students)]
    for unit in report.units:
        cells = [f"{scores[s][unit.grade_id].score:>10.2f}" if unit.grade_id in scores[s] else f"{'-':>10}" for s in students]
        lines.append(f"{unit.grade_id:<{width}} {unit.points:>5.0f} " + " ".join(cells))
    total = sum(u.points for u in report.units)
    lines.append(f"{'total':<{width}} {total:>5.0f} " + " ".join(f"{r.score:>10.2f}" for r in report.results))
    return "\n".join(lines)
