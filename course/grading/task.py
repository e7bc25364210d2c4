"""One task of a run: grading every notebook of one student's submission folder."""
from __future__ import annotations

import traceback
from pathlib import Path

from autograder.grade import grade_submission, load_once, not_graded
from autograder.reports import SubmissionResult
from course.grading.plan import GradingPlan

FIXTURE_WARNING = ("WARNING: graded with --fixture-data: saved models were scored on the generated CIFAR-10 stand-in, "
                   "not the real held-out images, so these scores are not grades")


def grade_student(plan: GradingPlan, student: str, folder: Path) -> SubmissionResult:
    """Grade every notebook of one submission folder; never raises for a problem of the submission.

    A notebook whose grading fails in the grader itself gets 0 on its units and a message; the
    traceback goes to the result's ``instructor_log``. A run on fixture data says so first among
    the result's warnings (they open ``results.json``).
    """
    data = load_once(plan.data, fixture=plan.fixture_data)  # called by the checks only when they need data
    merged = SubmissionResult(student, plan.assignment, warnings=[FIXTURE_WARNING] if plan.fixture_data else [])
    for nb in plan.notebooks:
        try:
            result = grade_submission(folder / f"{nb.name}.ipynb", plan.release_dir / f"{nb.name}.ipynb", nb.units,
                                      options=plan.options, data=data, submission_id=student, uses=nb.uses)
        except Exception:  # the task boundary: a grader failure costs this notebook, not the batch
            result = not_graded(student, f"{nb.name}.ipynb", nb.units)
            result.instructor_log.append(f"{nb.name} could not be graded:\n{traceback.format_exc()}")
        merged.units += result.units
        merged.wall_time += result.wall_time
        merged.warnings += [w for w in result.warnings if w not in merged.warnings]
        merged.instructor_log += [f"{nb.name}: {entry}" for entry in result.instructor_log]
        if result.error:
            merged.error = "\n".join(filter(None, [merged.error, f"{nb.name}: {result.error}"]))
    return merged
