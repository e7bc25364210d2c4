"""What every build step shares: the context of the notebook being built, and the build's error.

A step is a function ``step(nb, ctx) -> nb`` (nbgrader's preprocessor contract, with the
resources dict replaced by a :class:`BuildContext`). Steps never remove cells; the one step that
adds cells (``generate_tests``, for a missing tests cell) inserts a matching entry into
``ctx.lines``, so :meth:`BuildContext.where` can always name the source line a cell came from.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from course.manifest import Course, Notebook

GENERATED_BY = "dl-course build"


class BuildError(Exception):
    """A notebook cannot be built. The message names the source file, the line and the fix."""

    def __init__(self, problems: str | list[str]):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


@dataclass
class BuildContext:
    """The notebook being built and where it comes from.

    - course, notebook: the manifest and this notebook's entry.
    - lines: the source line of each cell's ``# %%`` header (``None`` when unknown).
    - provided: names defined by the ``provide`` cells (filled by ``inline_references``).
    - files: the reference files written next to the notebook, name -> bytes (filled by
      ``compute_expected_values``).
    """

    course: Course
    notebook: Notebook
    lines: list[int | None] = field(default_factory=list)
    provided: list[str] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)

    @property
    def source(self) -> str:
        return self.notebook.source.as_posix()

    @property
    def source_path(self) -> Path:
        return self.course.root / self.notebook.source

    def where(self, index: int) -> str:
        """``course/a1/Nb.py line 12 (cell 5)``: how messages name a cell."""
        line = self.lines[index] if index < len(self.lines) else None
        return f"{self.source} line {line} (cell {index + 1})" if line else f"{self.source} cell {index + 1}"


def dl_meta(cell: Mapping) -> dict:
    """The cell's ``metadata.dl`` (its role, and the unit where one applies)."""
    return cell.get("metadata", {}).get("dl", {})


def role(cell: Mapping) -> str | None:
    return dl_meta(cell).get("role")
