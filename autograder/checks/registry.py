"""The check registry: named check functions, and running a unit's checks.

A check is ``check(student, rng, context) -> CheckResult``. It chooses every input with ``rng``
(a generator seeded per unit and check), computes the expected outputs with the reference in
``dl`` in this process, asks the student's program for its outputs, and compares. Its score is
the fraction of its sub-checks that passed. A unit's score is the mean of its checks' scores.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from autograder.student import Student
from autograder.units import Unit

DataSource = Callable[[], Mapping[str, np.ndarray]]


@dataclass(frozen=True)
class CheckResult:
    """Outcome of one check: ``status`` is ``passed``, ``partial`` or ``failed``; ``score`` in [0, 1]."""

    status: str
    score: float
    message: str

    @classmethod
    def from_score(cls, score: float, message: str) -> "CheckResult":
        score = float(min(1.0, max(0.0, score)))
        status = "passed" if score == 1.0 else "failed" if score == 0.0 else "partial"
        return cls(status, score, message)


@dataclass(frozen=True)
class CheckContext:
    """What a check may need besides the student's program.

    - unit: the unit being graded (artifact checks read ``unit.artifact``).
    - artifacts_dir: the submission's ``artifacts/`` folder.
    - data: returns the held-out data (``X_val``, ``y_val`` and optionally ``X_test``,
      ``y_test``) for accuracy checks; injectable so that tests use a generated fixture.
    """

    unit: Unit
    artifacts_dir: Path | None = None
    data: DataSource | None = None


Check = Callable[["Student | None", np.random.Generator, CheckContext], CheckResult]
REGISTRY: dict[str, Check] = {}
NEEDS_DATA: set[str] = set()  # checks that call ``context.data``


def register(name: str, *, needs_data: bool = False) -> Callable[[Check], Check]:
    """Decorator adding a check to :data:`REGISTRY` under ``name`` (the name the manifest uses).

    ``needs_data`` marks a check that reads the held-out data, so that a batch can load them
    before it starts (:func:`units_needing_data`).
    """
    def add(check: Check) -> Check:
        if name in REGISTRY:
            raise ValueError(f"check {name!r} is registered twice")
        REGISTRY[name] = check
        if needs_data:
            NEEDS_DATA.add(name)
        return check
    return add


def units_needing_data(units: Sequence[Unit]) -> list[str]:
    """The grade ids of ``units`` that have a check reading the held-out data."""
    return [unit.grade_id for unit in units if NEEDS_DATA.intersection(unit.checks)]


def check_rng(seed: int, grade_id: str, check_name: str) -> np.random.Generator:
    """The generator of one check of one unit: the same inputs on every run with the same seed."""
    return np.random.default_rng([seed, zlib.crc32(grade_id.encode()), zlib.crc32(check_name.encode())])


@dataclass
class UnitOutcome:
    """Score fraction, status and message of a unit's checks."""

    score: float
    status: str
    message: str
    results: dict[str, CheckResult] = field(default_factory=dict)


def run_checks(unit: Unit, student: Student | None, context: CheckContext, seed: int) -> UnitOutcome:
    """Run every check of ``unit`` in order; a worker failure propagates (it fails the unit).

    ``student`` is None for artifact units, whose checks do not run student code.

    Raises KeyError naming the check when the manifest names one the registry lacks.
    """
    results: dict[str, CheckResult] = {}
    for name in unit.checks:
        if name not in REGISTRY:
            raise KeyError(f"unit {unit.grade_id} names the check {name!r}, which the registry lacks")
        if student is not None:
            student.forget_all()  # each check starts without stored objects
        results[name] = REGISTRY[name](student, check_rng(seed, unit.grade_id, name), context)
    if not results:
        return UnitOutcome(0.0, "failed", f"unit {unit.grade_id} has no checks", results)
    score = float(np.mean([r.score for r in results.values()]))
    status = CheckResult.from_score(score, "").status
    if len(results) == 1:
        message = next(iter(results.values())).message
    else:
        message = "; ".join(f"{name}: {r.message}" for name, r in results.items())
    return UnitOutcome(score, status, message, results)
