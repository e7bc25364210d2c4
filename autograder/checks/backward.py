"""The backward sub-check that every layer check repeats.

A layer is a pair ``<f>_forward(*args) -> (out, cache)`` and ``<f>_backward(dout, cache)``
returning one gradient per leading argument of the forward (gradient i belongs to ``args[i]``),
or the gradient itself when there is only one. Its backward is checked the same way everywhere:
the parent chooses the inputs and an upstream gradient ``dout``, builds the cache with the
reference forward (every forward's docstring specifies its cache, so a student's backward can
rely on it), sends it with ``dout`` and compares what the student's backward returns with the
reference's gradients (DESIGN.md, outputs only). The student's forward is never run: a bug in it
costs the forward's unit, not the backward's (one bug, one charge), and the forward's own check
holds its cache to the documented contract (:func:`cache_mismatch`). The cache travels by value,
so the call can be asked again (:func:`autograder.checks.registry.ask_again`); it is also stored
in the worker under the handle ``cache``, for a check that calls another function on it.
"""
from __future__ import annotations

import copy
from collections import Counter
from types import ModuleType
from typing import Callable, Mapping, Sequence

import numpy as np

from autograder.checks.compare import Tally, describe_value, dtype_problem, keep_global_rng, mismatch, to_numpy
from autograder.student import Student, StudentError


def reference_cache(reference: ModuleType, forward: str, args: tuple, global_seed: int | None = None):
    """The cache of ``reference.<forward>(*args)``, in the dtype of ``args`` (deep copies; numpy's global RNG kept).

    ``global_seed``: numpy's global RNG is seeded with it before the call, for a forward that draws
    from it without a seed of its own (an unseeded dropout), so that its cache is reproducible.
    """
    with keep_global_rng():
        if global_seed is not None:
            np.random.seed(global_seed)
        return getattr(reference, forward)(*copy.deepcopy(args))[1]


def reference_gradients(reference: ModuleType, forward: str, backward: str, args: tuple, dout: np.ndarray,
                        global_seed: int | None = None) -> tuple[np.ndarray, ...]:
    """The gradients of ``reference.<backward>`` for ``dout`` at ``args``, as a tuple.

    Float arrays are widened to float64 copies (the reference of a float32 check is exact), other
    arguments are deep-copied (a param dict the reference writes into stays the caller's), and
    numpy's global RNG is left as it was (seeded with ``global_seed`` for the forward if given,
    as in :func:`reference_cache`).
    """
    def prepared(value):
        if isinstance(value, np.ndarray) and value.dtype.kind == "f":
            return value.astype(np.float64)
        return copy.deepcopy(value)

    with keep_global_rng():
        if global_seed is not None:
            np.random.seed(global_seed)
        cache = getattr(reference, forward)(*map(prepared, args))[1]
        gradients = getattr(reference, backward)(prepared(dout), cache)
    return gradients if isinstance(gradients, tuple) else (gradients,)


def cache_mismatch(forward: str, got, expected, items: Sequence[str] | str, inputs: str, tol: float) -> str | None:
    """None when ``got``, the cache the student's ``forward`` returned, is the one its docstring specifies; else why not.

    ``expected`` is the reference forward's cache on the same inputs, or None (a cache the backward
    never reads, e.g. batchnorm in test mode). ``items`` names what the docstring says it holds: the
    items of a tuple, in order (``("x_centered", "std", "x_hat", "gamma")``), or, for a cache that
    is not a tuple, what it is (``"x, the input unchanged"``). The backward units are graded on the
    reference's cache, so the student's backward relies on exactly this, and the message names the
    item that differs.
    Items are compared by position (a list counts as a tuple), each recursively: arrays by shape,
    value within ``tol`` (:func:`autograder.checks.compare.mismatch`) and dtype; a dict must have at
    least the reference's keys, with the same values; None as None; strings and numbers by value.
    """
    on = f" on {inputs}" if inputs else ""
    if expected is None:
        return None if got is None else f"the cache of {forward} is {describe_value(got)}{on}; its docstring specifies None here"
    if isinstance(items, str):
        contract = f"{items}, as the docstring of {forward} says"
        difference = _cache_difference(got, expected, "cache", tol)
    else:
        contract = f"({', '.join(items)}), in this order"
        if not isinstance(got, (tuple, list)) or len(got) != len(expected):
            return f"the cache of {forward} is {describe_value(got)}{on}; its docstring specifies the tuple ({', '.join(items)})"
        found = (_cache_difference(g, e, f"cache[{i}] ({name})", tol) for i, (name, g, e) in enumerate(zip(items, got, expected)))
        difference = next((f for f in found if f), None)
    if difference is None:
        return None
    return f"{difference}{on} (the cache must be {contract}: the backward pass reads it)"


def _cache_difference(got, expected, where: str, tol: float) -> str | None:
    """None when ``got`` equals the reference cache item ``expected`` (see :func:`cache_mismatch`); else what differs."""
    if expected is None:
        return None if got is None else f"{where} is {describe_value(got)}; its docstring specifies None here"
    if isinstance(expected, (tuple, list)):
        if not isinstance(got, (tuple, list)) or len(got) != len(expected):
            return f"{where} is {describe_value(got)}; expected a {type(expected).__name__} of {len(expected)} items"
        found = (_cache_difference(g, e, f"{where}[{i}]", tol) for i, (g, e) in enumerate(zip(got, expected)))
        return next((f for f in found if f), None)
    if isinstance(expected, dict):
        if not isinstance(got, dict):
            return f"{where} is {describe_value(got)}; expected a dict"
        missing = [key for key in expected if key not in got]
        if missing:
            return f"{where} lacks the keys {missing}"
        found = (_cache_difference(got[key], value, f"{where}[{key!r}]", tol) for key, value in expected.items())
        return next((f for f in found if f), None)
    if isinstance(expected, str):
        return None if got == expected else f"{where} is {got!r}; expected {expected!r}"
    if isinstance(expected, np.ndarray):
        if got is None:
            return f"{where} is None; its docstring specifies an array of shape {expected.shape}"
        failure = mismatch(where, got, expected, tol)
        precision = np.asarray(to_numpy(got)).dtype
        if failure is None and precision != expected.dtype:
            return f"{where} has dtype {precision}; its docstring specifies {expected.dtype}"
        return failure
    return mismatch(where, got, expected, tol)


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
    tol: float,
    banned: list[str] | None = None,
    part: str | None = None,
    bugs: Callable[[tuple[np.ndarray, ...]], dict[str, dict[str, np.ndarray]]] | None = None,
    parts: Mapping[str, str] | None = None,
    also: Callable[[np.ndarray, object], tuple[np.ndarray, ...] | None] | None = None,
    global_seed: int | None = None,
) -> tuple[tuple, tuple[np.ndarray, ...]] | None:
    """Record in ``tally`` the sub-checks of the student's ``backward`` on one input, as one case of ``part``.

    The sub-checks: each gradient against the reference's within ``tol``, and, when x
    (``args[0]``) is float32, that the first gradient is float32 too. The cache given to the
    student's backward is the reference forward's (see the module docstring). If the student's
    code fails, every sub-check of the case fails with its message.

    Inputs:
    - tally: where the sub-checks are recorded.
    - student: the worker running the student's functions.
    - forward, backward: names of the reference pair in ``reference`` (and of the student's backward).
    - args: the forward's arguments; gradient i is with respect to ``args[i]``.
    - dout: upstream gradient, shaped like the forward's ``out``.
    - gradients: names of what backward returns, in order (``("dx", "dw", "db")``); with one
      name, backward returns that array itself rather than a tuple.
    - inputs: description of the inputs for messages (shapes and modes, never hidden scalars).
    - reference: the module holding the reference pair (``dl.layers``).
    - tol: the tolerance of :func:`autograder.checks.compare.mismatch`.
    - banned: modules the student's calls may not use.
    - part: the part of ``tally`` the sub-checks count in.
    - global_seed: seeds numpy's global RNG before each reference forward call
      (:func:`reference_cache`), for a forward that draws from it without a seed of its own.
    - bugs: ``bugs(expected) -> {gradient name: {description: what that bug gives}}``, the known
      bugs to name in a failure message (:func:`mismatch`'s ``bugs``).
    - parts: gradient name (or ``"dtype"``, the float32 sub-check) -> the part of ``tally`` its
      sub-check counts in, for checks that weigh the gradients separately; gradients not given
      count in ``part``, the float32 sub-check with the first gradient.
    - also: ``also(dout, cache) -> gradients or None``, other gradients that count as right,
      asked for only when the student's differ from the reference's: the reference backward run
      on the student's own building blocks (a spatial batchnorm on the student's batchnorm), so
      that a bug in those is charged to their unit only.

    Returns:
    - ``(student's gradients, reference's gradients)``, both tuples in the order of
      ``gradients``, or None when the student's code failed.
    """
    expected = reference_gradients(reference, forward, backward, args, dout, global_seed)
    float32 = isinstance(args[0], np.ndarray) and args[0].dtype == np.float32
    part_of = {name: (parts or {}).get(name, part) for name in gradients}
    part_of["dtype"] = (parts or {}).get("dtype", part_of[gradients[0]])  # float32 counts with the first gradient
    sizes = Counter(part_of[name] for name in (*gradients, *["dtype"] * float32))
    with tally.case(sizes, f"{backward} on {inputs}"):
        cache = reference_cache(reference, forward, args, global_seed)
        student.put("cache", cache)  # for a check that calls another function on the same cache
        got = student.call(backward, dout, cache, banned=banned)
        if len(gradients) == 1:
            got = (got,)
        elif not isinstance(got, (tuple, list)) or len(got) != len(gradients):
            raise StudentError(f"{backward} returned {describe_value(got)}; expected a tuple ({', '.join(gradients)})")
        known = bugs(expected) if bugs else {}
        failures = [mismatch(name, value, ref, tol, inputs, like=_argument(name), bugs=known.get(name))
                    for name, value, ref in zip(gradients, got, expected)]
        dtype = np.float32  # of the first gradient, for float32 inputs
        if also is not None and (any(failures) or (float32 and np.asarray(got[0]).dtype != dtype)):
            other = also(dout, cache)
            if other is not None and not any(mismatch(name, value, ref, tol) for name, value, ref in zip(gradients, got, other)):
                failures, dtype = [None] * len(gradients), np.asarray(other[0]).dtype
        for name, failure in zip(gradients, failures):
            tally.add(failure, part_of[name])
        if float32:
            tally.add(dtype_problem(got[0], dtype, gradients[0], inputs), part_of["dtype"])
        return tuple(got), expected
    return None
