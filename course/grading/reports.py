"""What a run reports: each student's ``results.json`` and feedback page, and for the staff the score
table (or the class's summary) and the notes on what needs a look."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from autograder.feedback import write_feedback_html
from autograder.gradebook import GradebookSummary
from autograder.grade import NOT_GRADED
from autograder.reports import SubmissionResult, write_results_json
from autograder.units import Unit


@dataclass
class AssignmentReport:
    results: list[SubmissionResult]
    units: list[Unit]  # every graded unit of the assignment, in manifest order
    out: Path
    skipped: list[str] = field(default_factory=list)  # students whose earlier result was kept
    gradebook: GradebookSummary | None = None  # what was written into the nbgrader gradebook, if asked
    notes: list[str] = field(default_factory=list)  # how the run graded (fixture data, DL_SMOKE ignored), for the terminal


def not_graded_units(result: SubmissionResult) -> list[str]:
    """The grade ids of ``result`` that scored 0 because the grader itself failed on them."""
    return [unit.grade_id for unit in result.units if unit.message.startswith(NOT_GRADED)]


def write_reports(out: Path, result: SubmissionResult, hidden_visibility: str) -> None:
    """The student's ``results.json`` and ``feedback.html`` under ``out/<student>/`` (each written atomically)."""
    write_results_json(result, out / result.submission / "results.json", hidden_visibility)
    write_feedback_html(result, out / result.submission / "feedback.html", hidden_visibility)


def staff_note(report: AssignmentReport) -> str | None:
    """What the staff must look at: units the grader itself failed on (they scored 0), or None."""
    failed = {result.submission: len(not_graded_units(result)) for result in report.results}
    failed = {student: count for student, count in failed.items() if count}
    if not failed:
        return None
    students = ", ".join(list(failed)[:10]) + (f" and {len(failed) - 10} more" if len(failed) > 10 else "")
    return (f"{sum(failed.values())} unit(s) could not be graded automatically and scored 0 ({students}); "
            f"the tracebacks are in {report.out / 'grading.log'}. Running the command again grades them again.")


def score_table(report: AssignmentReport, max_columns: int = 8) -> str:
    """A plain-text table of the scores: one column per student for up to ``max_columns`` students,
    else one row per unit with the class's mean, full and zero marks (``grades.csv`` has every score)."""
    if len(report.results) > max_columns:
        return _class_summary(report)
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


def _class_summary(report: AssignmentReport) -> str:
    """Per unit: the mean score and how many students got full marks, zero, or a unit that could not be graded."""
    n = len(report.results)
    width = max([len(u.grade_id) for u in report.units] + [5])
    lines = [f"{n} students", f"{'unit':<{width}} {'max':>5} {'mean':>7} {'full':>5} {'zero':>5} {'error':>5}"]
    for unit in report.units:
        got = [u for r in report.results for u in r.units if u.grade_id == unit.grade_id]
        mean = sum(u.score for u in got) / n
        full, zero = sum(u.score >= unit.points for u in got), sum(u.score == 0 for u in got)
        errors = sum(u.status == "error" for u in got)
        lines.append(f"{unit.grade_id:<{width}} {unit.points:>5.0f} {mean:>7.2f} {full:>5} {zero:>5} {errors:>5}")
    totals = sorted(r.score for r in report.results)
    lines.append(f"{'total':<{width}} {sum(u.points for u in report.units):>5.0f} {sum(totals) / n:>7.2f}"
                 f"   (median {totals[n // 2]:.2f}, lowest {totals[0]:.2f}, highest {totals[-1]:.2f})")
    return "\n".join(lines)
