"""A grading run: plan, skip what is unchanged, grade the rest (locally or on Dask), write every report."""
from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Callable, Iterator

from autograder.checks.registry import DataSource
from autograder.grade import DataUnavailable, load_once, preload_data
from autograder.gradebook import submission_timestamp, write_nbgrader_gradebook
from autograder.options import GradingOptions
from autograder.reports import SubmissionResult, check_visibility, write_grades_csv
from autograder.sandbox import resolve as resolve_sandbox
from course.grading.plan import GradeError, GradingPlan, grading_plan
from course.grading.reports import AssignmentReport, write_reports
from course.grading.runners import run_dask, run_local
from course.grading.state import fingerprint, grading_digest, load_finished, save_finished
from course.grading.submissions import submission_folders
from course.grading.task import FIXTURE_WARNING
from dl.utils import smoke_mode

log = logging.getLogger("course.grading")
SMOKE_IGNORED = ("note: DL_SMOKE is set here, but grading does not follow it: saved models are scored on the real "
                 "held-out CIFAR-10 (pass --fixture-data to grade on the generated stand-in instead)")


def grade_assignment(
    root: Path,
    assignment: str,
    submissions: list[Path],
    out: Path,
    jobs: int = 1,
    data: DataSource | None = None,
    *,
    options: GradingOptions | None = None,
    fixture_data: bool = False,
    **run,
) -> AssignmentReport:
    """Grade ``submissions`` of ``assignment`` against ``release/<assignment>``; write the reports under ``out``.

    ``data`` returns the held-out data of the accuracy units (default: the real CIFAR-10 split,
    or with ``fixture_data`` the generated stand-in); ``run`` takes the keywords of
    :func:`grade_class`. Raises GradeError when the run cannot start.
    """
    plan = grading_plan(root, assignment, options, data, fixture_data)
    return grade_class(plan, submissions, out, jobs, **run)


def grade_class(
    plan: GradingPlan,
    submissions: list[Path],
    out: Path,
    jobs: int = 1,
    *,
    force: bool = False,
    scheduler: str | None = None,
    progress: bool = False,
    gradebook: str | None = None,
    hidden_visibility: str = "visible",
) -> AssignmentReport:
    """Grade the submission folders ``submissions`` (:func:`~course.grading.submissions.submission_folders`)
    by ``plan``; write the reports under ``out`` (the package's doc lists them).

    ``force`` grades again students whose result is already there; ``scheduler`` runs the tasks
    on a Dask cluster instead of ``jobs`` local threads; ``progress`` shows a bar on stderr;
    ``gradebook`` (a database URL such as ``sqlite:///<root>/gradebook.db``) also writes the
    scores into that nbgrader gradebook (:mod:`autograder.gradebook`), after the reports;
    ``hidden_visibility`` is when students see the hidden checks' results in ``results.json``
    and ``feedback.html`` (Gradescope's values: ``visible``, ``after_published``,
    ``after_due_date``, ``hidden``; see :mod:`autograder.reports`).

    Before grading anyone, raises GradeError for bad submission paths or held-out data that
    cannot be loaded, and SandboxUnavailable for a required sandbox that is missing.
    """
    check_visibility(hidden_visibility)
    folders = submission_folders(submissions, [nb.name for nb in plan.notebooks], plan.assignment)
    sandbox = resolve_sandbox(plan.options)  # a sandbox that was required and is missing stops the run here
    notes = [FIXTURE_WARNING] if plan.fixture_data else [SMOKE_IGNORED] if plan.data is None and smoke_mode() else []
    out.mkdir(parents=True, exist_ok=True)

    results: dict[str, SubmissionResult] = {}
    grading = grading_digest(plan)
    stamps = {student: fingerprint(grading, plan, folder) for student, folder in folders.items()}
    if not force:
        for student in folders:
            finished = load_finished(out, student, stamps[student])
            if finished is not None:
                results[student] = finished
    skipped = list(results)
    for student in skipped:  # their reports follow this run's options (the visibility may have changed)
        write_reports(out, results[student], hidden_visibility)
    tasks = [(student, folder) for student, folder in folders.items() if student not in results]
    if tasks:
        try:
            preload_data(plan.units, load_once(plan.data, fixture=plan.fixture_data))
        except DataUnavailable as exc:
            raise GradeError("\n".join([str(exc), *notes])) from exc

    with _batch_log(out / "grading.log") as batch_log, _progress_bar(len(folders), len(skipped), progress) as advance:
        for note in notes:
            batch_log.warning("%s", note)
        if sandbox.warning:
            batch_log.warning("%s", sandbox.warning)
        if skipped:
            batch_log.info("kept the earlier results of %d unchanged submission(s): %s", len(skipped), ", ".join(skipped))

        def deliver(result: SubmissionResult) -> None:
            save_finished(out, result, stamps[result.submission], hidden_visibility)
            results[result.submission] = result
            for entry in [*result.warnings, *result.instructor_log]:
                batch_log.info("submission %s: %s", result.submission, entry)
            batch_log.info("submission %s: %s / %s in %.1f s", result.submission, result.score, result.max_score, result.wall_time)
            advance()

        if scheduler:
            run_dask(plan, tasks, scheduler, deliver)
        else:
            run_local(plan, tasks, jobs, deliver)

    ordered = [results[student] for student in folders]
    write_grades_csv(ordered, plan.units, out / "grades.csv")
    report = AssignmentReport(ordered, plan.units, out, skipped, notes=notes)
    if gradebook is not None:
        report.gradebook = write_nbgrader_gradebook(gradebook, plan.assignment, ordered, {nb.name: nb.units for nb in plan.notebooks},
                                                    {student: submission_timestamp(folder) for student, folder in folders.items()})
    return report


@contextlib.contextmanager
def _batch_log(path: Path) -> Iterator[logging.Logger]:
    """The package's logger, appending to ``path`` (and not to the terminal) within the block.

    The grader's own logger (``autograder``: workers that could not set a limit, say) writes
    there too.
    """
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    loggers = [log, logging.getLogger("autograder")]
    saved = [(logger.level, logger.propagate) for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False  # the terminal gets the bar and the table
    try:
        yield log
    finally:
        for logger, (level, propagate) in zip(loggers, saved):
            logger.removeHandler(handler)
            logger.setLevel(level)
            logger.propagate = propagate
        handler.close()


@contextlib.contextmanager
def _progress_bar(total: int, done: int, show: bool) -> Iterator[Callable[[], None]]:
    """A function advancing a tqdm bar over the batch on stderr (which does nothing when ``show`` is false)."""
    if not show:
        yield lambda: None
        return
    from tqdm.auto import tqdm

    with tqdm(total=total, initial=done, unit="submission", desc="grading", dynamic_ncols=True) as bar:
        yield bar.update
