"""Running the tasks of a run: ``jobs`` local threads, or a Dask cluster; each result is delivered here."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Callable

from autograder.reports import SubmissionResult
from course.grading.plan import GradeError, GradingPlan
from course.grading.task import grade_student

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
