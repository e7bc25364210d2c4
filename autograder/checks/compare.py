"""Sub-checks shared by all checks: weighted tallies, comparisons of outputs, batched numerical gradients, a guard of the global RNG.

The grading rules every check follows (docs/authoring.md, "Writing a unit's checks"):

- A check's sub-checks are grouped into named **parts** (:class:`Part`), each with a weight that
  reflects what it protects; a check's score is the weighted mean of its parts' scores, and a
  part's score is the fraction of its sub-checks that passed (0 or 1 for a ``strict`` part; 0
  for a ``provided`` part while no other part has a sub-check passed).
  The weights are written once, beside the check, in the ``parts=`` of its ``@register``.
- Whether an output is right is decided by :func:`dl.gradcheck.rel_error_scaled`,
  ``max |got - expected| / max(1e-8, max |expected|)``, which does not fail a correct
  implementation whose summation order differs on an element that happens to be almost zero.
  Messages, though, report the notebook's own measure, :func:`dl.gradcheck.rel_error` (never above
  1), so that a student reads the number their visible checks print.
- Messages give shapes, dtypes, modes and which property failed; never a hidden seed, a hidden
  scalar input (eps, momentum, keep probability, reg, weight scale) or a reference value.
- Where the student's output equals what a known bug produces, the message names the bug
  (``bugs=`` of :func:`mismatch`); a candidate that equals the right answer is never named.
- torch tensors (from a torch unit's outputs, or a reference module's) are compared like arrays:
  :func:`to_numpy` turns them into numpy arrays, floating dtypes as float64, here in the parent.
"""
from __future__ import annotations

import sys
import threading
from contextlib import contextmanager
from typing import Callable, Mapping, Sequence

import numpy as np

from autograder.checks.registry import CheckResult, Part, single_part
from autograder.student import Student, StudentError
from dl.checking import shape_mismatch
from dl.gradcheck import eval_numerical_gradient, eval_numerical_gradient_array
from dl.gradcheck import rel_error, rel_error_scaled

MAX_FAILURES_SHOWN = 3


class Tally:
    """Counts sub-checks by part; the check's score is the weighted mean of the parts' scores.

    ``Tally(PARTS)`` with the mapping given to ``@register(..., parts=PARTS)``; ``Tally()`` is a
    check of one part. Every sub-check names its part (unless there is only one). A part with no
    sub-check recorded does not count (e.g. a float32 part of a check that found no float32 case).
    """

    def __init__(self, parts: Mapping[str, Part] | None = None):
        self.parts = dict(parts) if parts else single_part()
        self.passed_by_part = {name: 0 for name in self.parts}
        self.recorded = {name: 0 for name in self.parts}
        self.failures: list[str] = []

    @property
    def passed(self) -> int:
        return sum(self.passed_by_part.values())

    @property
    def total(self) -> int:
        return sum(self.recorded.values())

    def _part(self, part: str | None) -> str:
        if part is None:
            if len(self.parts) != 1:
                raise ValueError(f"name the part of this sub-check: one of {', '.join(self.parts)}")
            return next(iter(self.parts))
        if part not in self.parts:
            raise ValueError(f"unknown part {part!r}; this check's parts are {', '.join(self.parts)}")
        return part

    def add(self, failure: str | None, part: str | None = None) -> bool:
        """Record one sub-check of ``part``: ``None`` means it passed, else the message why it failed."""
        part = self._part(part)
        self.recorded[part] += 1
        if failure is None:
            self.passed_by_part[part] += 1
            return True
        self.failures.append(failure)
        return False

    @contextmanager
    def case(self, size: int | Mapping[str, int], description: str, part: str | None = None,
             parts: Sequence[str] | None = None):
        """A group of ``size`` sub-checks of ``part``; if the student's code fails inside, the rest fail with its message.

        Sub-checks added inside may name other parts; the ones left when the student's code fails
        are charged to ``part``. Two ways to charge each part its own: ``size`` may map parts to
        their numbers of sub-checks in the case (``{"out": 1, "cache": 1}``), or ``parts`` give the
        part of each of the ``size`` sub-checks in the order they are added.
        """
        if parts is not None:
            if len(parts) != size:
                raise ValueError(f"case {description!r}: {len(parts)} parts for {size} sub-checks")
            sizes: dict[str, int] | None = {}
            for name in parts:
                sizes[self._part(name)] = sizes.get(self._part(name), 0) + 1
        elif isinstance(size, Mapping):
            sizes = {}
            for name, count in size.items():
                sizes[self._part(name)] = sizes.get(self._part(name), 0) + count
        else:
            sizes = None
        part = None if sizes is not None else self._part(part)
        start, start_total = dict(self.recorded), self.total
        try:
            yield
        except StudentError as exc:
            if sizes is None:
                self.recorded[part] += size - (self.total - start_total)
            else:
                for name, count in sizes.items():
                    self.recorded[name] += count - (self.recorded[name] - start[name])
            self.failures.append(f"{description}: {exc}")
            return
        if sizes is None:
            assert self.total - start_total == size, f"case {description!r} recorded {self.total - start_total} of {size} sub-checks"
        else:
            recorded = {name: self.recorded[name] - start[name] for name in sizes}
            assert recorded == sizes, f"case {description!r} recorded {recorded} sub-checks by part, declared {sizes}"

    def score(self) -> tuple[float, float]:
        """``(score in [0, 1], total weight of the parts that recorded sub-checks)``."""
        weights = scores = 0.0
        students_own = any(self.passed_by_part[name] for name, part in self.parts.items() if not part.provided)
        for name, part in self.parts.items():
            if self.recorded[name]:
                fraction = self.passed_by_part[name] / self.recorded[name] if students_own or not part.provided else 0.0
                scores += part.weight * (float(fraction == 1.0) if part.strict else fraction)
                weights += part.weight
        return (scores / weights if weights else 0.0), weights

    def result(self) -> CheckResult:
        if self.total == 0:
            return CheckResult("failed", 0.0, "no sub-check ran")
        score, _ = self.score()
        summary = f"passed {self.passed} of {self.total} hidden sub-checks"
        if self.failures:
            shown = self.failures[:MAX_FAILURES_SHOWN]
            more = len(self.failures) - len(shown)
            summary += ". " + "; ".join(shown) + (f" (and {more} more)" if more else "")
        return CheckResult.from_score(score, summary)


_GLOBAL_RNG = threading.RLock()


@contextmanager
def keep_global_rng():
    """Restore numpy's global RNG after reference code that reseeds it (a seeded dropout does).

    One thread at a time: numpy's global RNG is the process's, and a grader whose threads grade
    submissions side by side (a Dask worker with several threads) would otherwise interleave one
    check's seed and draws with another's.
    """
    with _GLOBAL_RNG:
        state = np.random.get_state()
        try:
            yield
        finally:
            np.random.set_state(state)


def describe_shapes(**arrays) -> str:
    """``"x of shape (3, 4), w (4, 5)"`` for a message."""
    parts = [f"{name} {np.shape(value)}" for name, value in arrays.items()]
    return (parts[0].replace(" ", " of shape ", 1) + "".join(", " + p for p in parts[1:])) if parts else ""


def describe_param(name: str, param: Mapping) -> str:
    """``"bn_param in train mode with running_mean (4,), running_var (4,), its own momentum and eps"``, for a message.

    A parameter dict as a student needs to know it: its mode, its arrays by shape, its other keys
    by name only, so that a hidden scalar input (eps, momentum, keep probability, seed) is never
    shown. An empty dict is ``"ln_param {}"``.
    """
    if not param:
        return f"{name} {{}}"
    mode = param.get("mode")
    head = f"{name} in {mode} mode" if isinstance(mode, str) else name
    arrays = [f"{key} {np.shape(value)}" for key, value in param.items() if isinstance(value, np.ndarray)]
    scalars = [str(key) for key, value in param.items() if key != "mode" and not isinstance(value, np.ndarray)]
    if scalars:
        arrays.append("its own " + (scalars[0] if len(scalars) == 1 else ", ".join(scalars[:-1]) + " and " + scalars[-1]))
    return f"{head} with {', '.join(arrays)}" if arrays else head


def error_failure(student: Student, name: str, args: tuple, error: str, inputs: str, why: str) -> str | None:
    """None when the student's ``name(*args)`` raises ``error`` (a documented error, e.g. ``"ValueError"``); else a message.

    ``why`` says what the docstring promises (``"an unknown mode raises ValueError"``).
    """
    try:
        student.call(name, *args, reply="none")
    except StudentError as exc:
        raised = str(exc).partition(" raised ")[2]
        if raised == error or raised.startswith(f"{error}:"):
            return None
        return f"{exc}, on {inputs}; expected {error} ({why})"
    return f"{name} returned without raising on {inputs}; expected {error} ({why})"


def is_tensor(value) -> bool:
    """Whether ``value`` is a torch tensor (without importing torch where nothing has)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.Tensor)


def to_numpy(value):
    """A torch tensor as a numpy array (floating dtypes, bfloat16 included, as float64); anything else unchanged."""
    if not is_tensor(value):
        return value
    import torch

    tensor = torch.Tensor.cpu(torch.Tensor.detach(value))
    if torch.Tensor.is_floating_point(tensor):
        tensor = torch.Tensor.to(tensor, torch.float64)
    return np.array(torch.Tensor.numpy(tensor.as_subclass(torch.Tensor)), copy=True)


def describe_value(value) -> str:
    """``"a tuple of 2 items"``, ``"a ndarray of shape (3, 4)"``: what a student's function returned."""
    if isinstance(value, (tuple, list, dict)):
        return f"a {type(value).__name__} of {len(value)} items"
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}"
    if is_tensor(value):
        return f"a tensor of shape {tuple(value.shape)}"
    name = type(value).__name__
    return f"{'an' if name[:1] in 'aeiou' else 'a'} {name}"


def as_float_array(value, what: str, shape: tuple | None = None, like: str | None = None) -> np.ndarray:
    """``value`` as a float64 array; raises StudentError if it is not numeric or has the wrong shape.

    The shape message is :func:`dl.checking.shape_mismatch`'s, the one the notebooks' visible
    checks print; ``like`` names what ``shape`` is the shape of (``"x"`` for dx).
    """
    if isinstance(value, (bool, np.bool_)) or value is None or isinstance(value, (str, dict, list, tuple)):
        raise StudentError(f"{what} is a {type(value).__name__}; expected a numeric array{f' of shape {shape}' if shape else ''}")
    if is_tensor(value) and value.is_complex():
        raise StudentError(f"{what} has dtype {value.dtype}; expected a real numeric tensor")
    array = np.asarray(to_numpy(value))
    if array.dtype.kind not in "biuf":
        raise StudentError(f"{what} has dtype {array.dtype}; expected a real numeric array")
    problem = None if shape is None else shape_mismatch(what, array.shape, shape, like)
    if problem:
        raise StudentError(problem)
    return array.astype(np.float64)


def dtype_problem(value, dtype, what: str, inputs: str) -> str | None:
    """None when ``value`` has ``dtype``; else a message asking to keep the dtype of x."""
    if is_tensor(value) or is_tensor(dtype) or type(dtype).__module__ == "torch":
        got, wanted = (str(getattr(v, "dtype", v)).removeprefix("torch.") for v in (value, dtype))
        return None if got == wanted else f"{what} has dtype {got} for {wanted} inputs ({inputs}); keep the dtype of x"
    got = np.asarray(value).dtype
    return None if got == dtype else f"{what} has dtype {got} for {np.dtype(dtype).name} inputs ({inputs}); keep the dtype of x"


def mismatch(what: str, got, expected, tol: float, inputs: str = "", like: str | None = None,
             bugs: Mapping[str, object] | None = None) -> str | None:
    """None when ``got`` matches ``expected`` (array or number) within ``tol``; else a message for the student.

    Shapes are compared before values; ``like`` names what ``expected`` has the shape of (``"x"``
    when ``what`` is ``"dx"``), for the shape message. The decision uses
    :func:`dl.gradcheck.rel_error_scaled`; the message gives the notebook's
    :func:`dl.gradcheck.rel_error` and the index of the largest difference.

    ``bugs`` maps a description of a known bug (``"your dx equals the right answer without the
    reshape to x's shape"``) to the output that bug produces on these inputs; when the check fails
    and ``got`` equals one of them (same shape, within ``tol``), the message names it. Candidates
    equal to ``expected`` are ignored, so a correct output is never diagnosed.
    """
    on = f" on {inputs}" if inputs else ""
    expected = np.asarray(to_numpy(expected), dtype=np.float64)
    try:
        array = as_float_array(got, what, expected.shape, like)
    except StudentError as exc:
        return (f"{exc},{on}" if on else str(exc)) + _diagnosis(got, expected, tol, bugs)
    finite = np.isfinite(expected)
    if not np.isfinite(array[finite]).all():
        return f"{what} contains nan or inf{on}, where finite values were expected (overflow?)"
    error = rel_error_scaled(np.where(finite, array, 0.0), np.where(finite, expected, 0.0))
    if error <= tol:
        return None
    where = ""
    if expected.ndim:
        index = np.unravel_index(int(np.argmax(np.abs(np.where(finite, array - expected, 0.0)))), expected.shape)
        where = f", largest difference at index {tuple(int(i) for i in index)}"
    notebook_error = rel_error(np.where(finite, array, 0.0), np.where(finite, expected, 0.0))
    if notebook_error > tol:
        size = f"rel_error {notebook_error:.1e}, expected below {tol:.0e}"
    else:  # a difference small element by element but large against the array's scale
        size = f"largest difference {error:.1e} of the largest expected magnitude, expected below {tol:.0e}"
    return f"{what} differs from the expected value{on}: {size}{where}" + _diagnosis(got, expected, tol, bugs)


def _diagnosis(got, expected: np.ndarray, tol: float, bugs: Mapping[str, object] | None) -> str:
    """``"; <description>"`` of the first known bug whose output ``got`` equals, or ``""``."""
    try:
        array = np.asarray(to_numpy(got), dtype=np.float64)
    except (TypeError, ValueError):
        return ""
    for description, candidate in (bugs or {}).items():
        candidate = np.asarray(to_numpy(candidate), dtype=np.float64)
        if candidate.shape == expected.shape and rel_error_scaled(candidate, expected) <= tol:
            continue  # this "bug" gives the right answer on these inputs
        if candidate.shape == array.shape and np.isfinite(candidate).all() and rel_error_scaled(array, candidate) <= tol:
            return f"; {description}"
    return ""


def student_numerical_gradient(
    evaluate: Callable[[np.ndarray], list], x: np.ndarray, df: np.ndarray | None = None, h: float = 1e-5, what: str = "the output"
) -> np.ndarray:
    """Numerical gradient at ``x`` of a student's function, computed here from its outputs.

    ``evaluate(stacked)`` must return the student's outputs for every row of ``stacked`` (one
    request to the worker). The perturbed inputs are exactly those of ``dl.gradcheck``: its
    functions run twice, first recording the inputs they would evaluate, then replaying the
    student's outputs. ``df=None`` means a scalar function (``eval_numerical_gradient``),
    otherwise ``df`` is the upstream gradient of an array-valued one
    (``eval_numerical_gradient_array``).
    """
    x = np.array(x, dtype=np.float64)  # perturbed in place by dl.gradcheck
    inputs: list[np.ndarray] = []

    def record(xx):
        inputs.append(xx.copy())
        return 0.0 if df is None else np.zeros_like(df)

    def numerical(f):
        if df is None:
            return eval_numerical_gradient(f, x, verbose=False, h=h)
        return eval_numerical_gradient_array(f, x, df, h=h)

    numerical(record)
    outputs = evaluate(np.stack(inputs))
    if not isinstance(outputs, list) or len(outputs) != len(inputs):
        raise StudentError(f"expected {len(inputs)} results for the perturbed inputs")
    if df is None:
        values = [as_float_array(v, what, ()).item() for v in outputs]
    else:
        values = [as_float_array(v, what, df.shape) for v in outputs]
    replay = iter(values)
    return numerical(lambda _: next(replay))
