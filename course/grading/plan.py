"""What a grading run grades: the notebooks of an assignment, their units, the release, the options."""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Mapping

from autograder.datasets import DataSource
from autograder.options import GradingOptions
from autograder.units import Unit
from course.manifest import load_manifest


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

    ``data`` maps data set names to sources of the held-out data that checks read (see
    :mod:`autograder.datasets`); without it they are the real data sets, or with ``fixture_data``
    the generated stand-ins smoke mode uses (never a real grade).
    Either is loaded at most once per process.
    """

    assignment: str
    release_dir: Path
    notebooks: tuple[NotebookPlan, ...]
    options: GradingOptions
    data: Mapping[str, DataSource] | None = None
    fixture_data: bool = False

    def __post_init__(self) -> None:
        if self.data is not None and self.fixture_data:
            raise GradeError("pass either held-out data or fixture_data, not both")

    @property
    def units(self) -> list[Unit]:
        return [unit for nb in self.notebooks for unit in nb.units]


def grading_plan(root: Path, assignment: str, options: GradingOptions | None = None, data: Mapping[str, DataSource] | None = None,
                 fixture_data: bool = False) -> GradingPlan:
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
    return GradingPlan(assignment, release_dir, plans, options, data, fixture_data)
