"""Grade a whole assignment: every notebook of every submission, one report per student.

A submission is a folder holding the assignment's notebooks (and the ``artifacts/`` they wrote),
as students hand in their copy of the release folder; for a one-notebook assignment a bare
``.ipynb`` works too. The student id is the folder's name.

One task grades one student: each notebook in a sandboxed worker of its own
(:func:`autograder.grade.grade_submission`), merged into one result. Tasks run ``jobs`` at a time
in this process's threads, or on a Dask cluster (``scheduler``: a ``distributed`` scheduler's
address; the workers must see the course root and the submissions at the same paths, and have
this package installed). Either way the results come back here and are written as each task
finishes, so an interrupted run loses only the submissions being graded at that moment.

Outputs under ``out``:

- ``<student>/results.json``: Gradescope's format, every unit of the assignment;
- ``<student>/feedback.html``: the same for the student to read (no hidden test source);
- ``grades.csv``: one row per student, one column per unit, and the total;
- ``grading.log``: one line per submission, and whatever the staff should know (tracebacks of
  units the grader could not grade, warnings about the sandbox); never shown to students;
- ``.state/<student>.json``: the finished result with a fingerprint of what was graded (the
  submission's notebooks and artifacts, the release, the grader's and the reference's code, the
  units and the options). A re-run skips every student whose fingerprint is unchanged, and
  grades again those whose submission changed; ``force`` grades everyone again.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import traceback
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator

from autograder.checks.registry import DataSource
from autograder.grade import NOT_GRADED, DataUnavailable, grade_submission, load_once, not_graded, preload_data
from autograder.gradebook import GradebookSummary, submission_timestamp, write_nbgrader_gradebook
from autograder.options import GradingOptions
from autograder.feedback import write_feedback_html
from autograder.reports import SubmissionResult, UnitResult, check_visibility, write_grades_csv, write_results_json
from autograder.sandbox import resolve as resolve_sandbox
from autograder.units import Unit
from course.manifest import load_manifest

log = logging.getLogger("course.grade")


class GradeError(Exception):
    """The grading run cannot start (no release, bad submission paths); the message says why."""


@dataclass(frozen=True)
class NotebookPlan:
    """One notebook to grade: its units and the ``(name, units)`` of the notebooks it uses."""

    name: str
    units: tuple[Unit, ...]
    uses: tuple[tuple[str, tuple[Unit, ...]], ...] = ()


@dataclass(frozen=True)
class GradingPlan:
    """Everything a task needs to grade one student (plain data, so it travels to Dask workers).

    ``data`` returns the held-out data of accuracy units (default: the course's CIFAR-10 split);
    it is loaded at most once per process.
    """

    assignment: str
    release_dir: Path
    notebooks: tuple[NotebookPlan, ...]
    options: GradingOptions
    data: DataSource | None = None

    @property
    def units(self) -> list[Unit]:
        return [unit for nb in self.notebooks for unit in nb.units]


@dataclass
class AssignmentReport:
    results: list[SubmissionResult]
    units: list[Unit]  # every graded unit of the assignment, in manifest order
    out: Path
    skipped: list[str] = field(default_factory=list)  # students whose earlier result was kept
    gradebook: GradebookSummary | None = None  # what was written into the nbgrader gradebook, if asked


def submission_folders(paths: list[Path], notebook_names: list[str], assignment: str = "") -> dict[str, Path]:
    """Student id -> submission folder; a bare notebook stands for its folder if the assignment has one notebook.

    The id is the folder's name, or its parent's when the folder is named after the assignment
    (nbgrader's layout, ``submitted/<student>/<assignment>/``). A folder that holds none of the
    notebooks, while exactly one of its subfolders does, is graded from that subfolder (an
    uploaded zip with a top folder of its own, as Gradescope unpacks it); the id stays the same.
    """
    folders: dict[str, Path] = {}
    for path in paths:
        if path.is_file() and path.suffix == ".ipynb":
            if len(notebook_names) != 1 or path.stem != notebook_names[0]:
                raise GradeError(f"{path}: pass the submission folder (it must hold {', '.join(n + '.ipynb' for n in notebook_names)})")
            path = path.parent
        if not path.is_dir():
            raise GradeError(f"{path} is not a submission folder or notebook")
        named = path.resolve()
        named = named.parent if assignment and named.name == assignment else named
        student = re.sub(r"[^A-Za-z0-9._-]", "_", named.name).lstrip(".") or "submission"
        if student in folders:
            raise GradeError(f"two submissions are both called {student!r}: {folders[student]} and {path}")
        folders[student] = _notebook_folder(path, notebook_names)
    return folders


def _notebook_folder(folder: Path, notebook_names: list[str]) -> Path:
    """``folder``, or its only subfolder holding any of the notebooks when ``folder`` holds none."""
    def holds(candidate: Path) -> bool:
        return any(os.path.lexists(candidate / f"{name}.ipynb") for name in notebook_names)
    if holds(folder):
        return folder
    inside = [sub for sub in sorted(folder.iterdir()) if sub.is_dir() and not sub.is_symlink() and holds(sub)]
    return inside[0] if len(inside) == 1 else folder


def grading_plan(root: Path, assignment: str, options: GradingOptions | None = None, data: DataSource | None = None) -> GradingPlan:
    """The plan of ``assignment`` from the manifest and ``release/<assignment>``; GradeError if it is not released."""
    course = load_manifest(root)
    if assignment not in course.assignments:
        raise GradeError(f"no assignment {assignment!r} in the manifest; known: {', '.join(course.assignments)}")
    notebooks = course.built_notebooks(assignment)
    release_dir = (root / "release" / assignment).resolve()
    if not notebooks or not release_dir.is_dir():
        raise GradeError(f"{release_dir} does not exist; run `dl-course release {assignment}` first")
    missing = [f"{nb.name}.ipynb" for nb in notebooks if not (release_dir / f"{nb.name}.ipynb").is_file()]
    if missing:
        raise GradeError(f"{release_dir} lacks {', '.join(missing)}; run `dl-course release {assignment}` again")
    # The worker's `import dl` must find the student edition, never the reference.
    options = options or GradingOptions()
    if options.library_path is None:
        options = replace(options, library_path=str(release_dir))
    plans = tuple(NotebookPlan(nb.name, tuple(nb.units), tuple((name, tuple(course.notebooks[name].units)) for name in nb.uses))
                  for nb in notebooks)
    return GradingPlan(assignment, release_dir, plans, options, data)


# --------------------------------------------------------------------------------------------
# One task: one student


def grade_student(plan: GradingPlan, student: str, folder: Path) -> SubmissionResult:
    """Grade every notebook of one submission folder; never raises for a problem of the submission.

    A notebook whose grading fails in the grader itself gets 0 on its units and a message; the
    traceback goes to the result's ``instructor_log``.
    """
    data = load_once(plan.data)  # called by the checks only when they need data
    merged = SubmissionResult(student, plan.assignment)
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


# --------------------------------------------------------------------------------------------
# Resuming


def grading_digest(plan: GradingPlan) -> str:
    """A digest of the grading side of a run: units, options, the release (notebooks and student ``dl``),
    and the code of the checks and of the reference library (a fix to either grades everyone again)."""
    import autograder
    import dl

    digest = hashlib.sha256(repr((plan.assignment, plan.notebooks, plan.options)).encode())
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

    A result with units the grader itself failed on (:func:`not_graded_units`) is never kept:
    whatever caused the failure may be gone by the next run.
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


def not_graded_units(result: SubmissionResult) -> list[str]:
    """The grade ids of ``result`` that scored 0 because the grader itself failed on them."""
    return [unit.grade_id for unit in result.units if unit.message.startswith(NOT_GRADED)]


def write_reports(out: Path, result: SubmissionResult, hidden_visibility: str) -> None:
    """The student's ``results.json`` and ``feedback.html`` under ``out/<student>/`` (each written atomically)."""
    write_results_json(result, out / result.submission / "results.json", hidden_visibility)
    write_feedback_html(result, out / result.submission / "feedback.html", hidden_visibility)


def save_finished(out: Path, result: SubmissionResult, stamp: str, hidden_visibility: str) -> None:
    """Write the reports of one student, then its state file (each atomically), so a skip always finds them."""
    write_reports(out, result, hidden_visibility)
    path = _state_path(out, result.submission)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps({"fingerprint": stamp, "result": asdict(result)}, indent=1), encoding="utf-8")
    os.replace(tmp, path)


# --------------------------------------------------------------------------------------------
# Running the tasks


Task = tuple[str, Path]  # (student, folder)
Deliver = Callable[[SubmissionResult], None]


def run_local(plan: GradingPlan, tasks: list[Task], jobs: int, deliver: Deliver) -> None:
    """Grade ``tasks`` in ``jobs`` threads (each student's code runs in its own worker process).

    ``deliver`` gets each result, in this thread, as soon as it is ready. On an interrupt
    (Ctrl-C, or an exception from ``deliver``) nothing new starts; the tasks already running
    finish (their workers are outside the terminal's process group) and are delivered before the
    interrupt goes on, so no finished result is lost.
    """
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [pool.submit(grade_student, plan, student, folder) for student, folder in tasks]
        delivered: set[int] = set()
        try:
            for future in as_completed(futures):
                delivered.add(id(future))
                deliver(future.result())
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            for future in futures:
                if id(future) not in delivered and not future.cancelled() and future.exception() is None:
                    deliver(future.result())
            raise


def run_dask(plan: GradingPlan, tasks: list[Task], scheduler: str, deliver: Deliver) -> None:
    """Grade ``tasks`` on the Dask cluster at ``scheduler`` (e.g. ``tcp://10.0.0.5:8786``); ``deliver`` each result here."""
    try:
        from distributed import Client, as_completed as dask_completed
    except ImportError:
        raise GradeError("--scheduler needs Dask's `distributed` package: pip install -c constraints.txt distributed") from None
    try:
        client = Client(scheduler, timeout=10)
    except (OSError, TimeoutError) as exc:
        raise GradeError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
    try:
        futures = [client.submit(grade_student, plan, student, folder, pure=False, retries=1) for student, folder in tasks]
        try:
            for future in dask_completed(futures):
                deliver(future.result())
        finally:
            client.cancel(futures)
    finally:
        client.close()


def grade_assignment(
    root: Path,
    assignment: str,
    submissions: list[Path],
    out: Path,
    jobs: int = 1,
    data: DataSource | None = None,
    *,
    options: GradingOptions | None = None,
    force: bool = False,
    scheduler: str | None = None,
    progress: bool = False,
    gradebook: str | None = None,
    hidden_visibility: str = "visible",
) -> AssignmentReport:
    """Grade ``submissions`` of ``assignment`` against ``release/<assignment>``; write the reports under ``out``.

    ``force`` grades again students whose result is already there; ``scheduler`` runs the tasks
    on a Dask cluster instead of ``jobs`` local threads; ``progress`` shows a bar on stderr;
    ``gradebook`` (a database URL such as ``sqlite:///<root>/gradebook.db``) also writes the
    scores into that nbgrader gradebook (:mod:`autograder.gradebook`), after the reports;
    ``hidden_visibility`` is when students see the hidden checks' results in ``results.json``
    and ``feedback.html`` (Gradescope's values: ``visible``, ``after_published``,
    ``after_due_date``, ``hidden``; see :mod:`autograder.reports`).
    """
    check_visibility(hidden_visibility)
    plan = grading_plan(root, assignment, options, data)
    folders = submission_folders(submissions, [nb.name for nb in plan.notebooks], assignment)
    sandbox = resolve_sandbox(plan.options)  # a sandbox that was required and is missing stops the run here
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
            preload_data(plan.units, load_once(plan.data))
        except DataUnavailable as exc:
            raise GradeError(str(exc)) from exc

    with _batch_log(out / "grading.log") as batch_log, _progress_bar(len(folders), len(skipped), progress) as advance:
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
    report = AssignmentReport(ordered, plan.units, out, skipped)
    if gradebook is not None:
        report.gradebook = write_nbgrader_gradebook(gradebook, assignment, ordered, {nb.name: nb.units for nb in plan.notebooks},
                                                    {student: submission_timestamp(folder) for student, folder in folders.items()})
    return report


@contextlib.contextmanager
def _batch_log(path: Path) -> Iterator[logging.Logger]:
    """The module's logger, appending to ``path`` (and not to the terminal) within the block.

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
