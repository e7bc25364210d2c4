"""Sub-checks shared by all checks: tallies, comparisons of outputs, batched numerical gradients, a guard of the global RNG.

Relative error here is :func:`dl.gradcheck.rel_error_scaled`,
``max |got - expected| / max(1e-8, max |expected|)``: the largest difference measured against the
size of the expected array. Unlike the element-wise ``dl.gradcheck.rel_error`` it does not fail a
correct implementation whose summation order differs on an element that happens to be almost zero.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable

import numpy as np

from autograder.checks.registry import CheckResult
from autograder.student import StudentError
from dl.checking import shape_mismatch
from dl.gradcheck import eval_numerical_gradient, eval_numerical_gradient_array
from dl.gradcheck import rel_error_scaled

MAX_FAILURES_SHOWN = 3


class Tally:
    """Counts sub-checks; the check's score is the fraction that passed."""

    def __init__(self):
        self.passed = 0
        self.total = 0
        self.failures: list[str] = []

    def add(self, failure: str | None) -> bool:
        """Record one sub-check: ``None`` means it passed, else the message why it failed."""
        self.total += 1
        if failure is None:
            self.passed += 1
            return True
        self.failures.append(failure)
        return False

    @contextmanager
    def case(self, size: int, description: str):
        """A group of ``size`` sub-checks; if the student's code fails inside, the rest fail with its message."""
        start = self.total
        try:
            yield
        except StudentError as exc:
            left = size - (self.total - start)
            self.total += left
            self.failures.append(f"{description}: {exc}")
            return
        assert self.total - start == size, f"case {description!r} recorded {self.total - start} of {size} sub-checks"

    def result(self) -> CheckResult:
        if self.total == 0:
            return CheckResult("failed", 0.0, "no sub-check ran")
        summary = f"passed {self.passed} of {self.total} hidden sub-checks"
        if self.failures:
            shown = self.failures[:MAX_FAILURES_SHOWN]
            more = len(self.failures) - len(shown)
            summary += ". " + "; ".join(shown) + (f" (and {more} more)" if more else "")
        return CheckResult.from_score(self.passed / self.total, summary)


@contextmanager
def keep_global_rng():
    """Restore numpy's global RNG after reference code that reseeds it (a seeded dropout does)."""
    state = np.random.get_state()
    try:
        yield
    finally:
        np.random.set_state(state)


def describe_shapes(**arrays) -> str:
    """``"x of shape (3, 4), w (4, 5)"`` for a message."""
    parts = [f"{name} {np.shape(value)}" for name, value in arrays.items()]
    return (parts[0].replace(" ", " of shape ", 1) + "".join(", " + p for p in parts[1:])) if parts else ""


def describe_value(value) -> str:
    """``"a tuple of 2 items"``, ``"a ndarray of shape (3, 4)"``: what a student's function returned."""
    if isinstance(value, (tuple, list, dict)):
        return f"a {type(value).__name__} of {len(value)} items"
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}"
    name = type(value).__name__
    return f"{'an' if name[:1] in 'aeiou' else 'a'} {name}"


def as_float_array(value, what: str, shape: tuple | None = None, like: str | None = None) -> np.ndarray:
    """``value`` as a float64 array; raises StudentError if it is not numeric or has the wrong shape.

    The shape message is :func:`dl.checking.shape_mismatch`'s, the one the notebooks' visible
    checks print; ``like`` names what ``shape`` is the shape of (``"x"`` for dx).
    """
    if isinstance(value, (bool, np.bool_)) or value is None or isinstance(value, (str, dict, list, tuple)):
        raise StudentError(f"{what} is a {type(value).__name__}; expected a numeric array{f' of shape {shape}' if shape else ''}")
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise StudentError(f"{what} has dtype {array.dtype}; expected a real numeric array")
    problem = None if shape is None else shape_mismatch(what, array.shape, shape, like)
    if problem:
        raise StudentError(problem)
    return array.astype(np.float64)


def dtype_problem(value, dtype, what: str, inputs: str) -> str | None:
    """None when ``value`` has ``dtype``; else a message asking to keep the dtype of x."""
    got = np.asarray(value).dtype
    return None if got == dtype else f"{what} has dtype {got} for {np.dtype(dtype).name} inputs ({inputs}); keep the dtype of x"


def mismatch(what: str, got, expected, tol: float, inputs: str = "", like: str | None = None) -> str | None:
    """None when ``got`` matches ``expected`` (array or number) within ``tol``; else a message for the student.

    Shapes are compared before values; ``like`` names what ``expected`` has the shape of (``"x"``
    when ``what`` is ``"dx"``), for the shape message.
    """
    on = f" on {inputs}" if inputs else ""
    expected = np.asarray(expected, dtype=np.float64)
    try:
        array = as_float_array(got, what, expected.shape, like)
    except StudentError as exc:
        return f"{exc},{on}" if on else str(exc)
    finite = np.isfinite(expected)
    if not np.isfinite(array[finite]).all():
        return f"{what} contains nan or inf{on}, where finite values were expected (overflow?)"
    error = rel_error_scaled(np.where(finite, array, 0.0), np.where(finite, expected, 0.0))
    if error <= tol:
        return None
    where = ""
    if expected.ndim:
        index = np.unravel_index(int(np.argmax(np.abs(array - expected))), expected.shape)
        where = f", largest difference at index {tuple(int(i) for i in index)}"
    return f"{what} differs from the expected value{on}: relative error {error:.1e} > tolerance {tol:.0e}{where}"


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
