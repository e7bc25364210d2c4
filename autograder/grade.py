"""Grade one submitted notebook: extract the student's program and run the checks of every unit.

Student code runs only in a worker process (:mod:`autograder.runner`); every expected value is
computed here, and the worker only ever sends back the outputs of the student's functions
(DESIGN.md, "Grading"). One worker serves all units of a submission; it is restarted after a
timeout or a crash, which fails only the unit that caused it. Batches (a class, one task per
student, reports and resuming) are graded by :mod:`course.grading` (``dl-course grade``).
"""
from __future__ import annotations

import os
import threading
import time
import traceback
from dataclasses import replace
from pathlib import Path
from typing import Mapping, Sequence

from autograder.checks import CheckContext, run_checks
from autograder.checks.registry import datasets_needed
from autograder.datasets import DataSource, default_sources, download_command
from autograder.feedback import artifact_public_check, code_public_check
from autograder.extraction import Program, build_program, with_used_notebooks
from autograder.options import GradingOptions
from autograder.reports import SubmissionResult, UnitResult
from autograder.runner import ProgramRunner
from autograder.sandbox import default_library_path, resolve as resolve_sandbox
from autograder.student import WorkerFailure
from autograder.submitted import refusal
from autograder.units import Unit
from dl.notebook_import import NotebookImportError, read_notebook

NOT_GRADED = "this unit could not be graded automatically; the course staff have been told and will grade it"


def grade_submission(
    submission_nb: str | os.PathLike,
    release_nb: str | os.PathLike,
    units: Sequence[Unit],
    *,
    artifacts_dir: str | os.PathLike | None = None,
    timeout: float | None = None,
    options: GradingOptions | None = None,
    data: Mapping[str, DataSource] | None = None,
    submission_id: str | None = None,
    uses: Sequence[tuple[str, Sequence[Unit]]] = (),
) -> SubmissionResult:
    """Grade one submitted notebook.

    Inputs:
    - submission_nb: the student's ``.ipynb``.
    - release_nb: the pristine release notebook (setup and provided cells are taken from it).
    - units: the notebook's graded units (e.g. from :func:`autograder.manifest.read_units`).
    - artifacts_dir: the submission's saved artifacts; default ``artifacts/`` beside the notebook.
    - timeout: seconds per request to the student's code (overrides ``options.request_timeout``).
    - options: limits and seed (:class:`~autograder.options.GradingOptions`).
    - data: data set name -> source of the held-out data checks read (:mod:`autograder.datasets`);
      default: the real loaders.
    - submission_id: the name used in reports (default: the notebook's path).
    - uses: ``(notebook name, its units)`` of the earlier notebooks whose code this one runs
      (the manifest's ``uses``); they are read from the folders of the submission and the
      release, and their graded cells run first (:func:`~autograder.extraction.with_used_notebooks`).

    A corrupt or unreadable submission gives every unit 0 with a message; problems in the
    student's code cost only the units they touch. Raises for problems of the grading setup
    (an unreadable release notebook, a worker that cannot start).
    """
    options = options or GradingOptions()
    if timeout is not None:
        options = replace(options, request_timeout=timeout)
    started = time.perf_counter()
    release_path, submission_path = Path(release_nb), Path(submission_nb)
    release = read_notebook(release_path)
    if options.library_path is None:  # the student edition of dl, never the reference
        options = replace(options, library_path=default_library_path(release_path, release))
    sandbox = resolve_sandbox(options)  # raises for a sandbox that was required and cannot be had
    result = SubmissionResult(submission_id or str(submission_path), release_path.name)
    if sandbox.warning:
        result.warnings.append(sandbox.warning)
    try:
        submission = _read_submission(submission_path)
    except NotebookImportError as exc:
        reason = str(exc).replace(str(submission_path), submission_path.name)  # no grader paths in feedback
        result.error = f"Your notebook could not be read, so no unit could be graded: {reason}"
        result.units = [UnitResult(u.grade_id, 0.0, u.points, "error", result.error) for u in units]
        result.wall_time = time.perf_counter() - started
        return result

    program = build_program(release, submission, units, release_path.name)
    if uses:
        program = with_used_notebooks(program, [(f"{name}.ipynb", _used_program(name, used_units, release_path, submission_path))
                                                for name, used_units in uses], units)
    context_dir = Path(artifacts_dir) if artifacts_dir is not None else submission_path.parent / "artifacts"
    names = [name for unit in units for name in unit.names]
    runner = ProgramRunner(program, names, options, sandbox) if names else None
    try:
        for unit in units:
            context = CheckContext(unit=unit, artifacts_dir=context_dir, data=data)
            result.units.append(_grade_unit(unit, program, runner, context, options, result.instructor_log))
    finally:
        if runner is not None:
            result.instructor_log.extend(runner.instructor_notes)
            runner.close()
    result.wall_time = time.perf_counter() - started
    return result


def not_graded(submission_id: str, notebook: str, units: Sequence[Unit]) -> SubmissionResult:
    """The result of a notebook the grader itself failed on: 0 on every unit, and the staff will grade it."""
    result = SubmissionResult(submission_id, notebook, error="this notebook could not be graded automatically; "
                                                             "the course staff have been told and will grade it")
    result.units = [UnitResult(u.grade_id, 0.0, u.points, "error", NOT_GRADED, hidden_checks=len(u.checks)) for u in units]
    return result


def _read_submission(path: Path) -> dict:
    """The student's notebook at ``path``; NotebookImportError if it is a link (:mod:`autograder.submitted`) or unreadable."""
    refused = refusal(path.parent, path.name)
    if refused:
        raise NotebookImportError(refused)
    return read_notebook(path)


def _used_program(name: str, units: Sequence[Unit], release_path: Path, submission_path: Path) -> Program | str:
    """The program of the student's copy of used notebook ``name``, or why it could not be read."""
    file = f"{name}.ipynb"
    release = read_notebook(release_path.parent / file)  # a problem of the grading setup: raise
    try:
        submission = _read_submission(submission_path.parent / file)
    except NotebookImportError as exc:
        reason = str(exc).replace(str(submission_path.parent), "your submission")
        return f"your {file}, whose code this notebook uses, could not be read ({reason})"
    return build_program(release, submission, units, file)


def _grade_unit(unit: Unit, program: Program, runner: ProgramRunner | None, context: CheckContext,
                options: GradingOptions, instructor_log: list[str]) -> UnitResult:
    """Grade one unit: its public checks (cell found, run, names defined; or artifact saved), then its hidden checks."""
    started = time.perf_counter()
    notes = [program.notes[unit.grade_id]] if unit.grade_id in program.notes else []
    public: tuple[bool | None, str] = (None, "")  # (passed, message); set below before any result

    def done(status: str, fraction: float, message: str) -> UnitResult:
        message = f"{message} (Note: {'; '.join(notes)}.)" if notes else message
        score = round(unit.points * fraction, 4)
        return UnitResult(unit.grade_id, score, unit.points, status, message, round(time.perf_counter() - started, 3),
                          public_passed=public[0], public_message=public[1], hidden_checks=len(unit.checks))

    if not unit.names:  # an artifact unit: no student code runs
        student = None
        if unit.artifact:
            public = artifact_public_check(unit.artifact_files, context.artifacts_dir)
    elif unit.grade_id in program.missing:
        public = (False, program.missing[unit.grade_id])
        return done("failed", 0.0, f"{program.missing[unit.grade_id]}, so it could not be graded")
    else:
        runner.start_unit(options.for_unit(unit))
        try:
            runner.ensure_loaded()
        except WorkerFailure as exc:
            public = (False, f"your code could not be loaded: {exc}")
            return done("error", 0.0, f"your code could not be loaded for grading: {exc}")
        cell = program.unit_cell(unit.grade_id)
        cell_error = runner.cell_errors.get(cell.label) if cell else None
        undefined = [name for name in unit.names if name not in runner.defined]
        public = code_public_check(unit.names, cell.label if cell else None, cell_error, undefined)
        if public[0] and unit.grade_id in program.as_released:
            public = (False, f"{cell.label} is still as released: write your solution there")
        if undefined:
            return done("failed", 0.0, public[1])
        if cell_error:
            notes.append(f"running {cell.label} gave {cell_error}")
        student = runner.student()
    try:
        outcome = run_checks(unit, student, context, options.seed)
    except WorkerFailure as exc:  # the worker was killed; the next unit starts a fresh one
        runner.discard()
        return done("error", 0.0, f"grading stopped: {exc}")
    except Exception:  # a grader bug or missing grading data: contained to this unit, traceback for the staff
        instructor_log.append(f"unit {unit.grade_id} could not be graded:\n{traceback.format_exc()}")
        if student is not None:
            runner.discard()  # its state is unknown after the failure
        return done("error", 0.0, NOT_GRADED)
    return done(outcome.status, outcome.score, outcome.message)


# --------------------------------------------------------------------------------------------
# Held-out data, shared by the submissions of a batch (course.grading grades the batch)


_loaded: dict[DataSource | tuple[str, bool], object] = {}
_loading = threading.Lock()


def load_once(data: Mapping[str, DataSource] | None, fixture: bool = False) -> dict[str, DataSource]:
    """``data`` (data set name -> source) as sources that load at most once per process.

    Without ``data``, the real loaders of :data:`autograder.datasets.DATASETS`, or with ``fixture``
    smoke mode's generated stand-ins; ``DL_SMOKE`` is never read here. Thread-safe; the data stay
    loaded for the process's life, so every submission of a batch (and every task a Dask worker
    runs) shares one copy of each data set.
    """
    def once(key, source: DataSource) -> DataSource:
        def load():
            with _loading:
                if key not in _loaded:
                    _loaded[key] = source()
                return _loaded[key]
        return load
    if data is not None:
        return {name: once(source, source) for name, source in data.items()}
    return {name: once((name, fixture), source) for name, source in default_sources(smoke=fixture).items()}


class DataUnavailable(RuntimeError):
    """A data set some units are graded on cannot be loaded; a batch stops before it starts."""


def preload_data(units: Sequence[Unit], data: Mapping[str, DataSource]) -> None:
    """Load now every data set that a check of ``units`` reads (``data``: :func:`load_once` sources).

    A batch calls this before grading anyone, so that a data set that was never downloaded stops
    it with the fix, instead of failing those units for every student. Raises DataUnavailable
    naming the data set, the units graded on it and the command that downloads it.
    """
    for name, users in datasets_needed(units).items():
        try:
            if name not in data:
                raise KeyError(f"no source was given for it (given: {', '.join(sorted(data)) or 'none'})")
            data[name]()
        except Exception as exc:
            fix = download_command(name)
            raise DataUnavailable(f"the held-out data set {name} for grading {', '.join(users)} cannot be loaded: {exc}"
                                  f"{'' if fix in str(exc) else f'; get it with: {fix}'}") from exc

