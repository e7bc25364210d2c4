"""The backward sub-check that every layer check repeats.

A layer is a pair ``<f>_forward(*args) -> (out, cache)`` and ``<f>_backward(dout, cache)``
returning one gradient per leading argument of the forward (gradient i belongs to ``args[i]``),
or the gradient itself when there is only one. Its backward is checked the same way everywhere:
the parent chooses the inputs and an upstream gradient ``dout``; the worker runs the student's
forward, keeps its cache there and returns what the student's backward makes of ``dout``; the
parent compares each gradient with the reference's and with the numerical gradient of the
student's own forward, computed here from that forward's outputs (DESIGN.md, outputs only).
"""
from __future__ import annotations

import copy
from types import ModuleType

import numpy as np

from autograder.checks.compare import Tally, describe_value, dtype_problem, keep_global_rng, mismatch, student_numerical_gradient
from autograder.protocol import Handle
from autograder.student import Student, StudentError


def reference_gradients(reference: ModuleType, forward: str, backward: str, args: tuple, dout: np.ndarray) -> tuple[np.ndarray, ...]:
    """The gradients of ``reference.<backward>`` for ``dout`` at ``args``, as a tuple.

    Float arrays are widened to float64 copies (the reference of a float32 check is exact), other
    arguments are deep-copied (a param dict the reference writes into stays the caller's), and
    numpy's global RNG is left as it was.
    """
    def prepared(value):
        if isinstance(value, np.ndarray) and value.dtype.kind == "f":
            return value.astype(np.float64)
        return copy.deepcopy(value)

    with keep_global_rng():
        cache = getattr(reference, forward)(*map(prepared, args))[1]
        gradients = getattr(reference, backward)(prepared(dout), cache)
    return gradients if isinstance(gradients, tuple) else (gradients,)


def _argument(gradient: str) -> str | None:
    """The argument a gradient belongs to by the course's naming (``"dx"`` -> ``"x"``), for messages."""
    return gradient[1:] if gradient.startswith("d") and len(gradient) > 1 else None


def check_backward(
    tally: Tally,
    student: Student,
    forward: str,
    backward: str,
    args: tuple,
    dout: np.ndarray,
    gradients: tuple[str, ...],
    inputs: str,
    *,
    reference: ModuleType,
    tol: float | None,
    grad_tol: float | None,
    banned: list[str] | None = None,
) -> tuple[tuple, tuple[np.ndarray, ...]] | None:
    """Record in ``tally`` the sub-checks of the student's ``backward`` on one input, as one case.

    The sub-checks, in this order:
    - each gradient against the reference's, within ``tol`` (skipped when ``tol`` is None);
    - each gradient against the numerical gradient of the student's ``forward`` with respect
      to its argument, within ``grad_tol`` (skipped when ``grad_tol`` is None);
    - when x (``args[0]``) is float32, that the first gradient is float32 too.
    If the student's code fails, every sub-check of the case fails with its message.

    Inputs:
    - tally: where the sub-checks are recorded.
    - student: the worker running the student's functions.
    - forward, backward: names of the student's functions, and of the reference's in ``reference``.
    - args: the forward's arguments; gradient i is with respect to ``args[i]``.
    - dout: upstream gradient, shaped like the forward's ``out``.
    - gradients: names of what backward returns, in order (``("dx", "dw", "db")``); with one
      name, backward returns that array itself rather than a tuple.
    - inputs: description of the inputs for messages (``describe_shapes(...)`` and settings).
    - reference: the module holding the reference pair (``dl.layers``).
    - tol, grad_tol: relative-error tolerances against the reference and the numerical gradient.
    - banned: modules the student's calls may not use.

    Returns:
    - ``(student's gradients, reference's gradients)``, both tuples in the order of
      ``gradients``, or None when the student's code failed.
    """
    expected = reference_gradients(reference, forward, backward, args, dout)
    float32 = isinstance(args[0], np.ndarray) and args[0].dtype == np.float32
    size = len(gradients) * ((tol is not None) + (grad_tol is not None)) + float32
    with tally.case(size, f"{backward} on {inputs}"):
        student.call(forward, *args, store={"cache": 1}, reply="none", banned=banned)
        got = student.call(backward, dout, Handle("cache"), banned=banned)
        if len(gradients) == 1:
            got = (got,)
        elif not isinstance(got, (tuple, list)) or len(got) != len(gradients):
            raise StudentError(f"{backward} returned {describe_value(got)}; expected a tuple ({', '.join(gradients)})")
        if tol is not None:
            for name, value, ref in zip(gradients, got, expected):
                tally.add(mismatch(name, value, ref, tol, inputs, like=_argument(name)))
        if grad_tol is not None:
            for position, (name, value) in enumerate(zip(gradients, got)):
                numerical = student_numerical_gradient(
                    lambda stacked, p=position: student.map(forward, args, over=p, values=stacked, reply=0, banned=banned),
                    args[position], dout, what=f"out of {forward}")
                tally.add(mismatch(name, value, numerical, grad_tol, f"{inputs}, against the numerical gradient of your {forward}",
                                   like=_argument(name)))
        if float32:
            tally.add(dtype_problem(got[0], np.float32, gradients[0], inputs))
        return tuple(got), expected
    return None
