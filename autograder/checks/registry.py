"""The check registry: named check functions, imported on demand, and running a unit's checks.

A check is ``check(student, rng, context) -> CheckResult``. It chooses every input with ``rng``
(a generator seeded per unit and check), computes the expected outputs with the reference in
``dl`` in this process, asks the student's program for its outputs, and compares. Its score is
the weighted mean of its parts' scores (``parts=`` of :func:`register`, see
:mod:`autograder.checks.compare`); a unit's score is the mean of its checks' scores weighted by
each check's total weight.

A check is deterministic unless registered with ``deterministic=False``: after it ran, the grader
asks some of its questions again, in the opposite order (:func:`ask_again`), and a changed answer
scores the check 0 with a message saying so: a function that is right on its first call and
wrong afterwards (state kept between calls) must not keep most of its points.

Topic modules (``autograder/checks/<topic>.py``) register their checks with ``@register("name")``.
:data:`REGISTRY` knows which module registers each name by reading those decorator lines (no
import), and imports a module only when one of its checks is looked up: grading a1 never imports
torch, which later assignments' checks need.
"""
from __future__ import annotations

import ast
import importlib
import sys
import zlib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Callable, Iterator, Mapping, Sequence

import numpy as np

from autograder.datasets import DATASETS, DataSource, default_sources
from autograder.student import Student, StudentError
from autograder.units import Unit
from dl.program import parse

CHECKS_DIR = Path(__file__).resolve().parent


ALL = "all"  # the one part of a check that declares none


@dataclass(frozen=True)
class Part:
    """A group of a check's sub-checks: its weight in the check's score and what it protects.

    - weight: relative weight (the check's score is the weighted mean of its parts' scores).
    - protects: one line for the instructor's docs (docs/grading.md), e.g. ``"test mode uses the
      running statistics"``.
    - strict: any failed sub-check costs the whole part (a property that is right or wrong as a
      whole, e.g. "the model behaves the same at test time").
    - provided: the part checks code that the release provides around the student's (a test-mode
      branch or a ValueError of the skeleton), so it earns only when a part that is not
      provided earns something: an unfinished unit scores 0.
    """

    weight: float
    protects: str
    strict: bool = False
    provided: bool = False

    def __post_init__(self):
        if not self.weight > 0:
            raise ValueError(f"a part's weight must be positive, got {self.weight}")


def single_part(protects: str = "every sub-check") -> dict[str, Part]:
    """The parts of a check whose sub-checks all weigh the same."""
    return {ALL: Part(1.0, protects)}


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
    - data: data set name -> its source (:mod:`autograder.datasets`); None: the real loaders.
      Injectable so that tests use generated fixtures. Checks read it with :meth:`dataset`.
    """

    unit: Unit
    artifacts_dir: Path | None = None
    data: Mapping[str, DataSource] | None = None

    def dataset(self, name: str) -> Mapping[str, np.ndarray]:
        """The arrays of data set ``name`` (e.g. ``X_val``, ``y_val`` of ``"cifar10"``); loads it if needed."""
        sources = self.data if self.data is not None else default_sources()
        if name not in sources:
            raise KeyError(f"no source for the data set {name!r} that unit {self.unit.grade_id} is graded on; "
                           f"known data sets: {', '.join(sorted(sources))}")
        return sources[name]()


Check = Callable[["Student | None", np.random.Generator, CheckContext], CheckResult]


class CheckRegistry(Mapping[str, Check]):
    """Check name -> check function; a topic module is imported the first time one of its checks is looked up.

    Names are those of the ``@register("...")`` lines of ``autograder/checks/*.py`` plus any check
    registered at run time (tests register their own).
    """

    def __init__(self) -> None:
        self._checks: dict[str, Check] = {}
        self.datasets: dict[str, tuple[str, ...]] = {}  # name -> data sets of the checks registered so far
        self.parts: dict[str, dict[str, Part]] = {}  # name -> its parts and their weights
        self.deterministic: dict[str, bool] = {}

    def add(self, name: str, check: Check, datasets: tuple[str, ...], parts: Mapping[str, Part] | None = None,
            deterministic: bool = True) -> None:
        if name in self._checks:
            raise ValueError(f"check {name!r} is registered twice")
        self._checks[name] = check
        self.datasets[name] = datasets
        self.parts[name] = dict(parts) if parts else single_part()
        self.deterministic[name] = deterministic

    def weight(self, name: str) -> float:
        """The total weight of check ``name``'s parts (imports its module)."""
        self[name]
        return sum(part.weight for part in self.parts[name].values())

    def module_of(self, name: str) -> str | None:
        """The module whose decorators register ``name`` (``"autograder.checks.layers"``), or None."""
        return _declared_modules().get(name)

    def __getitem__(self, name: str) -> Check:
        if name not in self._checks and self.module_of(name):
            importlib.import_module(self.module_of(name))
        return self._checks[name]

    def __iter__(self) -> Iterator[str]:
        return iter({**dict.fromkeys(_declared_modules()), **dict.fromkeys(self._checks)})

    def __len__(self) -> int:
        return len(set(_declared_modules()) | set(self._checks))

    def datasets_of(self, name: str) -> tuple[str, ...]:
        """The data sets check ``name`` reads (imports its module). Raises KeyError for an unknown check."""
        self[name]
        return self.datasets[name]


@cache
def _declared_modules() -> dict[str, str]:
    """Check name -> module, from the ``@register("name", ...)`` decorators of ``autograder/checks/*.py``."""
    modules: dict[str, str] = {}
    for path in sorted(CHECKS_DIR.glob("*.py")):
        for node in ast.walk(parse(path.read_text(encoding="utf-8"), str(path))):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for decorator in node.decorator_list:
                if (isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Name) and decorator.func.id == "register"
                        and decorator.args and isinstance(decorator.args[0], ast.Constant)):
                    modules[decorator.args[0].value] = f"autograder.checks.{path.stem}"
    return modules


REGISTRY = CheckRegistry()


def register(name: str, *, datasets: Sequence[str] = (), parts: Mapping[str, Part] | None = None,
             deterministic: bool = True) -> Callable[[Check], Check]:
    """Decorator adding a check to :data:`REGISTRY` under ``name`` (the name the manifest uses).

    ``parts`` gives the check's parts and their weights (:class:`autograder.checks.compare.Part`),
    the one place they are written: the check passes the same mapping to its ``Tally``, and
    docs/grading.md shows them. ``deterministic=False`` exempts the check from being asked again
    (:func:`ask_again`); its calls that must be repeatable can still say so.

    ``datasets`` names the data sets the check reads with ``context.dataset(name)`` (keys of
    :data:`autograder.datasets.DATASETS`), so that a batch loads exactly those before it starts
    (:func:`datasets_needed`). Write the name as a string literal: the registry finds the check's
    module by reading the decorator.
    """
    unknown = [d for d in datasets if d not in DATASETS]
    if unknown:
        raise ValueError(f"check {name!r} reads {unknown}, which autograder/datasets.py does not know; "
                         f"known: {', '.join(sorted(DATASETS))}")

    def add(check: Check) -> Check:
        REGISTRY.add(name, check, tuple(datasets), parts, deterministic)
        return check
    return add


def datasets_needed(units: Sequence[Unit]) -> dict[str, list[str]]:
    """Data set name -> the grade ids of ``units`` with a check that reads it (imports those checks' modules)."""
    needed: dict[str, list[str]] = {}
    for unit in units:
        for dataset in dict.fromkeys(d for name in unit.checks if name in REGISTRY for d in REGISTRY.datasets_of(name)):
            needed.setdefault(dataset, []).append(unit.grade_id)
    return needed


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

    ``student`` is None for artifact units, whose checks do not run student code. The unit's score
    is the mean of its checks' scores weighted by their parts' total weights.

    Raises KeyError naming the check when the manifest names one the registry lacks.
    """
    results: dict[str, CheckResult] = {}
    for name in unit.checks:
        if name not in REGISTRY:
            raise KeyError(f"unit {unit.grade_id} names the check {name!r}, which the registry lacks")
        check = REGISTRY[name]
        if student is None:
            results[name] = check(None, check_rng(seed, unit.grade_id, name), context)
            continue
        student.forget_all()  # each check starts without stored objects
        student.record_calls()
        try:
            result = check(student, check_rng(seed, unit.grade_id, name), context)
        finally:
            recorded = student.stop_recording()
        if REGISTRY.deterministic[name]:
            changed = ask_again(student, recorded)
            if changed:
                found = f"; before that, {result.message}" if result.score < 1 else ""
                result = CheckResult("failed", 0.0, changed + found)
        results[name] = result
    if not results:
        return UnitOutcome(0.0, "failed", f"unit {unit.grade_id} has no checks", results)
    weights = {name: REGISTRY.weight(name) for name in results}
    score = sum(r.score * weights[name] for name, r in results.items()) / sum(weights.values())
    status = CheckResult.from_score(score, "").status
    if len(results) == 1:
        message = next(iter(results.values())).message
    else:
        message = "; ".join(f"{name}: {r.message}" for name, r in results.items())
    return UnitOutcome(score, status, message, results)


ASKED_AGAIN = 3  # questions of a check asked a second time


def ask_again(student: Student, recorded: list[tuple[dict, object]]) -> str | None:
    """Ask some recorded questions again, in the opposite order; a message if an answer changed, else None.

    The questions are the first, the middle and the last repeatable call of the check, asked after
    all its other calls and last one first, so that an answer depending on earlier calls (a global
    counter, a cache kept between calls, a mutable default argument) shows. An answer that raises
    now counts as changed.
    """
    if not recorded:
        return None
    picks = sorted({0, len(recorded) // 2, len(recorded) - 1})[:ASKED_AGAIN]
    for index in reversed(picks):
        request, first = recorded[index]
        name = request["target"]["name"]
        try:
            again = student.ask_again(request)
        except StudentError as exc:
            return (f"{name} answered a question of this check, then raised when asked the same question again "
                    f"later ({exc}); a function's answer must depend only on its inputs: look for state kept "
                    f"between calls (a global, a mutable default argument, an attribute of the function)")
        if not same_answer(first, again):
            return (f"{name} gave a different answer when asked the same question again later, after other calls; "
                    f"a function's answer must depend only on its inputs: look for state kept between calls "
                    f"(a global, a mutable default argument, an attribute of the function, or numpy's random state "
                    f"read without the seed the inputs give)")
    return None


def same_answer(first, again) -> bool:
    """Whether two answers agree: the same structure, shapes and dtypes, numbers equal to 1e-12 (nan equals nan).

    torch tensors compare as arrays of their dtype (a tensor never equals an array).
    """
    torch = sys.modules.get("torch")
    if torch is not None and (isinstance(first, torch.Tensor) or isinstance(again, torch.Tensor)):
        if not (isinstance(first, torch.Tensor) and isinstance(again, torch.Tensor)) or first.dtype != again.dtype:
            return False
        first, again = (t.detach().cpu().to(torch.float64 if t.is_floating_point() else t.dtype).numpy() for t in (first, again))
    if isinstance(first, np.ndarray) or isinstance(again, np.ndarray):
        if not (isinstance(first, np.ndarray) and isinstance(again, np.ndarray)):
            return False
        if first.shape != again.shape or first.dtype != again.dtype:
            return False
        if first.dtype.kind in "fc":
            return bool(np.allclose(first, again, rtol=1e-12, atol=0.0, equal_nan=True))
        return bool(np.array_equal(first, again))
    if isinstance(first, (tuple, list)):
        return (type(first) is type(again) and len(first) == len(again)
                and all(same_answer(a, b) for a, b in zip(first, again)))
    if isinstance(first, dict):
        return (isinstance(again, dict) and first.keys() == again.keys()
                and all(same_answer(first[k], again[k]) for k in first))
    if isinstance(first, float) and isinstance(again, float):
        return first == again or (np.isnan(first) and np.isnan(again)) or abs(first - again) <= 1e-12 * abs(first)
    return type(first) is type(again) and first == again
