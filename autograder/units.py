"""What is graded: units and written questions, as plain data (read from the course manifest)."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Unit:
    """A graded unit: a function or class the student writes, or an artifact they save.

    - grade_id: e.g. ``"a1-fc-affine_forward"`` (letters, digits, ``_`` and ``-``).
    - points: maximum score.
    - checks: names of checks in the autograder's registry, run in order.
    - reference: ``"module:qualname"`` of the reference object in ``dl`` (code units).
    - artifact: artifact name under ``artifacts/`` (artifact units), e.g. ``"a1_best_fc"``.
    - written_in: the grade id of another unit whose answer cell holds this unit's code, in a
      notebook this one uses (e.g. ``"a1-bn-fc_normalization"`` is the normalization branch the
      student writes in the cell of ``"a1-fc-FullyConnectedNet"``); None for the usual case.
    """

    grade_id: str
    points: float
    checks: tuple[str, ...] = field(default_factory=tuple)
    reference: str | None = None
    artifact: str | None = None
    written_in: str | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """Names the unit's notebook cell defines: the reference's object name, if any."""
        if self.reference is None:
            return ()
        return (self.reference.split(":")[1].split(".")[0],)


@dataclass(frozen=True)
class Question:
    """A written answer, graded by hand."""

    grade_id: str
    points: float
