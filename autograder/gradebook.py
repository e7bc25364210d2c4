"""Write the scores of ``dl-course grade`` into the nbgrader gradebook, so that formgrader shows them.

:func:`write_nbgrader_gradebook` takes the gradebook's database URL, an assignment id, the
grader's :class:`~autograder.reports.SubmissionResult` of every student and the assignment's
notebooks (notebook name -> graded units, from the manifest), and returns a
:class:`GradebookSummary`. The assignment, its notebooks and their grade cells must already be in
the gradebook: ``nbgrader generate_assignment`` (run by ``dl-course release <a>``) puts them
there. Each unit is graded in its notebook's hidden test cell, whose nbgrader grade id is
``<grade_id>-tests``; the other grade cells (the written questions, graded by hand) are left alone.

Everything is checked before anything is written; a :class:`GradebookError` says what disagrees:
no database or no such assignment, a notebook or test cell the gradebook lacks, a test cell
without a unit, a cell whose points differ from the unit's (the gradebook is from another release),
a unit that is not in ``notebooks``, a student listed twice.

What is written, and why
------------------------
- ``Student``: created (id only) when missing; names and e-mails that staff entered are kept.
- ``SubmittedAssignment``: created with ``Gradebook.add_submission`` when missing. That also
  creates, as ``nbgrader autograde`` does, one ``SubmittedNotebook`` per notebook, one ``Grade``
  per grade cell and one ``Comment`` per solution cell; formgrader's "Manage Submissions" lists
  the gradebook's submissions (``Gradebook.submission_dicts``), and its totals sum the ``Grade``
  rows, so the full structure must exist even for cells we do not score.
- ``Grade.auto_score`` of each unit's test cell: the unit's score, clipped to ``[0, max_score]``.
  ``Grade.score`` (what formgrader sums, per notebook and per submission) is ``manual_score``
  when staff set one and ``auto_score`` otherwise, so a manual override survives a re-run.
  ``manual_score`` and ``extra_credit`` are never written. Writing the same results again changes
  nothing (idempotent); new results replace the old auto scores.
- ``Grade.needs_manual_grade`` of each unit's test cell: ``False`` for a unit graded normally, so
  formgrader does not ask for a manual grade; ``True`` where the grader could not grade the unit
  (status ``error``: the student was told that the staff would grade it), and where staff had set
  a manual score and the auto score has now changed (the override was made against another score;
  ``nbgrader autograde`` flags every cell with a manual score on each run, we flag only changes).
  Otherwise a manually scored cell keeps its flag. The written questions' grades keep theirs:
  ``add_submission`` creates them needing a manual grade, which is what makes formgrader ask
  for it.
- ``SubmittedAssignment.timestamp``: only from ``timestamps`` (e.g. :func:`submission_timestamp`
  of the submission folder). Formgrader shows a gradebook submission as autograded unless the
  student has a ``submitted/<student>/<a>/`` folder in the course root; then it also needs
  ``autograded/<student>/<a>/`` and this timestamp equal to that folder's ``timestamp.txt``,
  or it lists the submission as not autograded, with 0 points. Without a timestamp the stored
  one is kept (none for a new submission): a made-up time would break that match and could look
  late against a due date.

Not written: comments, late penalties, flags, and the notebooks under ``autograded/`` that
formgrader's grading view renders (grading the written answers there needs them, e.g. from
``nbgrader autograde``, which would also rewrite the auto scores of the test cells).
"""
from __future__ import annotations

import datetime
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

from autograder.reports import SubmissionResult
from autograder.units import Unit

TEST_CELL_SUFFIX = "-tests"


class GradebookError(Exception):
    """The gradebook cannot take these results; the message says what disagrees and what to do."""


@dataclass
class GradebookSummary:
    """What :func:`write_nbgrader_gradebook` did; ``str()`` is a line for the CLI."""

    db_url: str
    assignment: str
    students: int = 0
    students_created: int = 0
    submissions_created: int = 0
    grades_written: int = 0
    grades_changed: int = 0
    needs_manual_grade: list[str] = field(default_factory=list)  # "<student>: <grade id>"

    def __str__(self) -> str:
        line = (f"gradebook {self.db_url}: {self.assignment}, {self.students} student(s) "
                f"({self.students_created} new, {self.submissions_created} new submission(s)), "
                f"{self.grades_written} unit score(s) written, {self.grades_changed} changed")
        if self.needs_manual_grade:
            line += f"; needs a manual grade: {', '.join(self.needs_manual_grade)}"
        return line


def unit_cell_name(grade_id: str) -> str:
    """The nbgrader grade id of the hidden test cell of unit ``grade_id``."""
    return f"{grade_id}{TEST_CELL_SUFFIX}"


def submission_timestamp(folder: str | os.PathLike) -> datetime.datetime | None:
    """The time in ``<folder>/timestamp.txt`` (written by ``nbgrader submit``/``collect``), or None."""
    from nbgrader.utils import parse_utc

    path = Path(folder) / "timestamp.txt"
    text = path.read_text(encoding="utf-8").strip() if path.is_file() else ""
    if not text:
        return None
    try:
        return parse_utc(text)
    except ValueError as exc:
        raise GradebookError(f"{path}: not a time ({text!r})") from exc


def write_nbgrader_gradebook(
    db_url: str,
    assignment: str,
    results: Sequence[SubmissionResult],
    notebooks: Mapping[str, Sequence[Unit]],
    timestamps: Mapping[str, datetime.datetime | str | None] | None = None,
) -> GradebookSummary:
    """Write every result's unit scores as the auto scores of its test cells in the gradebook at ``db_url``.

    ``results``: one per student (``SubmissionResult.submission`` is the student id).
    ``notebooks``: notebook name -> its graded units. ``timestamps``: student -> submission time,
    optional. A unit missing from a result scores 0 (as in ``grades.csv``). Returns a summary;
    raises :class:`GradebookError` (before writing anything) when gradebook and results disagree.
    """
    from nbgrader.api import Gradebook

    _check_database_exists(db_url, assignment)
    unit_cells = _unit_cells(notebooks)
    _check_results(results, unit_cells)
    times = _parse_timestamps(timestamps or {})
    summary = GradebookSummary(db_url, assignment)
    # course_id="" keeps Gradebook from adding a "default_course" row to the course table.
    with Gradebook(db_url, course_id="") as gradebook:
        _check_gradebook(gradebook, db_url, assignment, notebooks)
        for result in results:
            _write_submission(gradebook, assignment, result, unit_cells, times.get(result.submission), summary)
    return summary


def _check_database_exists(db_url: str, assignment: str) -> None:
    """Refuse a SQLite URL whose file does not exist (opening it would create an empty gradebook)."""
    prefix = "sqlite:///"
    if db_url.startswith(prefix) and db_url != "sqlite:///:memory:" and not Path(db_url[len(prefix):]).is_file():
        raise GradebookError(f"no gradebook at {db_url}: {_release_hint(assignment)}")


def _release_hint(assignment: str) -> str:
    return (f"run `dl-course release {assignment}` (or `nbgrader generate_assignment {assignment}`) in the course root "
            "that uses this gradebook, then write the grades again")


def _unit_cells(notebooks: Mapping[str, Sequence[Unit]]) -> dict[str, tuple[str, Unit]]:
    """Unit grade id -> (notebook name, unit)."""
    cells: dict[str, tuple[str, Unit]] = {}
    for notebook, units in notebooks.items():
        for unit in units:
            if unit.grade_id in cells:
                raise GradebookError(f"unit {unit.grade_id} is listed in both {cells[unit.grade_id][0]} and {notebook}")
            cells[unit.grade_id] = (notebook, unit)
    return cells


def _check_results(results: Sequence[SubmissionResult], unit_cells: Mapping[str, tuple[str, Unit]]) -> None:
    """Each student once, and only units of the assignment."""
    seen: set[str] = set()
    for result in results:
        if result.submission in seen:
            raise GradebookError(f"student {result.submission!r} has two results; write one per student")
        seen.add(result.submission)
        unknown = sorted({u.grade_id for u in result.units} - set(unit_cells))
        if unknown:
            raise GradebookError(f"the result of {result.submission} has units that are not in the assignment's "
                                 f"notebooks: {', '.join(unknown)}")


def _parse_timestamps(timestamps: Mapping[str, datetime.datetime | str | None]) -> dict[str, datetime.datetime]:
    """Student -> naive UTC time, as nbgrader stores it (students without a time are left out)."""
    from nbgrader.utils import parse_utc

    times = {}
    for student, when in timestamps.items():
        try:
            parsed = parse_utc(when)
        except ValueError as exc:
            raise GradebookError(f"the submission time of {student} is not a time: {when!r}") from exc
        if parsed is not None:
            times[student] = parsed
    return times


def _check_gradebook(gradebook, db_url: str, assignment: str, notebooks: Mapping[str, Sequence[Unit]]) -> None:
    """The gradebook's assignment has every notebook and unit test cell, with the same points, and no other test cells."""
    from nbgrader.api import MissingEntry

    try:
        stored = gradebook.find_assignment(assignment)
    except MissingEntry:
        raise GradebookError(f"assignment {assignment!r} is not in the gradebook {db_url}: {_release_hint(assignment)}") from None
    cells = {nb.name: {c.name: c for c in nb.grade_cells} for nb in stored.notebooks}
    problems = []
    for notebook, units in notebooks.items():
        if notebook not in cells:
            problems.append(f"notebook {notebook} is not in the gradebook's {assignment}")
            continue
        for unit in units:
            cell = cells[notebook].get(unit_cell_name(unit.grade_id))
            if cell is None:
                problems.append(f"{notebook} has no grade cell {unit_cell_name(unit.grade_id)} (unit {unit.grade_id})")
            elif abs(float(cell.max_score) - float(unit.points)) > 1e-9:
                problems.append(f"{notebook}: grade cell {cell.name} is worth {cell.max_score:g} points in the gradebook, "
                                f"unit {unit.grade_id} {unit.points:g} in the manifest")
    ours = {unit_cell_name(u.grade_id) for units in notebooks.values() for u in units}
    for notebook, named in cells.items():
        for name in sorted(n for n in named if n.endswith(TEST_CELL_SUFFIX) and n not in ours):
            problems.append(f"{notebook}: grade cell {name} of the gradebook has no unit in the manifest")
    if problems:
        raise GradebookError(f"the gradebook {db_url} does not match the course's {assignment} (it is from another "
                             f"release?): {_release_hint(assignment)}\n" + "\n".join(problems))


def _write_submission(gradebook, assignment: str, result: SubmissionResult, unit_cells: Mapping[str, tuple[str, Unit]],
                      timestamp: datetime.datetime | None, summary: GradebookSummary) -> None:
    """Create the student and submission if missing, set its timestamp if given, write its units' auto scores."""
    from nbgrader.api import MissingEntry

    student = result.submission
    try:
        gradebook.find_student(student)
    except MissingEntry:
        gradebook.add_student(student)
        summary.students_created += 1
    try:
        submission = gradebook.find_submission(assignment, student)
    except MissingEntry:
        with gradebook.db.no_autoflush:  # nbgrader builds the rows before adding them: no SQLAlchemy warnings
            submission = gradebook.add_submission(assignment, student)
        summary.submissions_created += 1
    if timestamp is not None:
        submission.timestamp = timestamp
    grades = {(nb.name, grade.name): grade for nb in submission.notebooks for grade in nb.grades}
    scored = {u.grade_id: u for u in result.units}
    for grade_id, (notebook, unit) in unit_cells.items():
        grade = grades[(notebook, unit_cell_name(grade_id))]
        outcome = scored.get(grade_id)
        score = outcome.score if outcome is not None else 0.0
        error = outcome is not None and outcome.status == "error"
        if _set_auto_score(grade, min(max(float(score), 0.0), float(unit.points)), error):
            summary.grades_changed += 1
        summary.grades_written += 1
        if grade.needs_manual_grade:
            summary.needs_manual_grade.append(f"{student}: {grade_id}")
    gradebook.db.commit()
    summary.students += 1


def _set_auto_score(grade, score: float, error: bool) -> bool:
    """Set ``grade.auto_score`` and its manual-grade flag (see the module docstring); True if the score changed."""
    changed = grade.auto_score is None or abs(grade.auto_score - score) > 1e-9
    grade.auto_score = score
    if error:
        grade.needs_manual_grade = True
    elif grade.manual_score is None:
        grade.needs_manual_grade = False
    elif changed:
        grade.needs_manual_grade = True
    return changed
