"""Hidden checks of the normalization layers of BatchNormalization (batch and layer normalization).

- ``batchnorm_forward``: train mode with and without running statistics in ``bn_param``
  (default and custom momentum and eps), the running statistics written back into the student's
  own ``bn_param`` dict (stored in the worker and read back after the call), test mode, a run of
  train calls followed by a test call on one dict, and float32 inputs keeping float32 outputs.
- ``batchnorm_backward`` and ``batchnorm_backward_alt``: dx, dgamma, dbeta from the student's
  own forward cache, against the reference and against numerical gradients of the student's
  forward (train mode); ``_alt`` also against the student's ``batchnorm_backward`` where that one
  is implemented and correct.
- ``layernorm_forward`` and ``layernorm_backward``: the same with one example (N = 1),
  ``ln_param`` ``{}``, ``{'mode': 'train'}`` and a custom eps.
"""
from __future__ import annotations

import copy

import numpy as np

from autograder.checks.backward import check_backward
from autograder.checks.compare import Tally, as_float_array, describe_shapes, describe_value, mismatch
from autograder.checks.registry import CheckContext, CheckResult, register
from autograder.protocol import Handle
from autograder.student import Student, StudentError
from dl import layers

TOL = 1e-7  # float64 outputs computed in another order agree to ~1e-13; forgetting the default eps is ~1e-6
FLOAT32_TOL = 1e-4  # float32 rounding of a normalised output is ~1e-7 of its size
GRADIENTS = ("dx", "dgamma", "dbeta")


def _inputs(rng: np.random.Generator, n: int, d: int, dtype=np.float64):
    """x (N, D) whose rows and columns have different means and spreads; gamma, beta (D,); dout (N, D)."""
    x = rng.uniform(-5, 5, size=(n, 1)) + rng.uniform(-5, 5, size=d) + rng.uniform(0.5, 4, size=d) * rng.standard_normal((n, d))
    gamma = rng.uniform(0.5, 2, size=d) * rng.choice([-1.0, 1.0], size=d)
    beta = rng.standard_normal(d)
    dout = rng.standard_normal((n, d))
    return x.astype(dtype), gamma.astype(dtype), beta.astype(dtype), dout.astype(dtype)


def _describe_param(name: str, param: dict) -> str:
    """``"bn_param {'mode': 'train', 'eps': 0.1, 'running_mean': array (4,)}"``: arrays by shape only."""
    parts = []
    for key, value in param.items():
        if isinstance(value, np.ndarray):
            parts.append(f"{key!r}: array {value.shape}")
        elif isinstance(value, float):
            parts.append(f"{key!r}: {value:.3g}")
        else:
            parts.append(f"{key!r}: {value!r}")
    return f"{name} {{{', '.join(parts)}}}"


# --------------------------------------------------------------------------------------------
# Batch normalization, forward


def _statistic_failure(after, key: str, expected: np.ndarray, given: np.ndarray | None, inputs: str) -> str | None:
    """Whether ``bn_param[key]`` after the student's call holds the expected running statistic."""
    if not isinstance(after, dict):
        return f"bn_param is {describe_value(after)} after the call ({inputs}); it must stay a dict"
    if key not in after:
        return (f"bn_param has no {key!r} after a call in train mode ({inputs}); "
                f"batchnorm_forward must write the running statistics back into bn_param")
    if given is not None and isinstance(after[key], np.ndarray) and after[key].shape == given.shape and np.array_equal(after[key], given):
        return f"bn_param[{key!r}] was not updated by a call in train mode ({inputs}); write the new running average back into bn_param"
    return mismatch(f"bn_param[{key!r}]", after[key], expected, TOL, inputs)


def _train_case(tally: Tally, student: Student, x, gamma, beta, bn_param: dict, about: str) -> None:
    """out and both running statistics written back into the dict, for one train-mode call (3 sub-checks)."""
    inputs = f"{describe_shapes(x=x, gamma=gamma, beta=beta)}, {_describe_param('bn_param', bn_param)} ({about})"
    expected_param = copy.deepcopy(bn_param)
    expected_out, _ = layers.batchnorm_forward(x, gamma, beta, expected_param)
    with tally.case(3, f"batchnorm_forward on {inputs}"):
        handle = student.put("bn_param", bn_param)
        out = student.call("batchnorm_forward", x, gamma, beta, handle, reply=0)
        tally.add(mismatch("out", out, expected_out, TOL, inputs))
        after = student.get(handle)
        for key in ("running_mean", "running_var"):
            tally.add(_statistic_failure(after, key, expected_param[key], bn_param.get(key), inputs))


def _running_stats(rng: np.random.Generator, d: int, dtype=np.float64) -> tuple[np.ndarray, np.ndarray]:
    return rng.uniform(-3, 3, size=d).astype(dtype), rng.uniform(0.5, 9, size=d).astype(dtype)


def _dtype_failure(out, mode: str) -> str | None:
    if not isinstance(out, np.ndarray):
        return f"out is {describe_value(out)} for float32 inputs in {mode} mode; expected an array"
    if out.dtype != np.float32:
        return (f"out has dtype {out.dtype} for float32 inputs in {mode} mode; expected float32 "
                f"(an intermediate or running statistic created as float64 promotes the output)")
    return None


@register("batchnorm_forward")
def batchnorm_forward(student: Student, rng: np.random.Generator, context: CheckContext) -> CheckResult:
    """Train mode (running statistics new, existing, custom momentum and eps), test mode, a train-then-test run, float32."""
    tally = Tally()
    d = int(rng.integers(3, 7))
    x, gamma, beta, _ = _inputs(rng, int(rng.integers(2, 5)), d)
    _train_case(tally, student, x, gamma, beta, {"mode": "train"}, "running statistics created as zeros, momentum 0.9 by default")
    mean, var = _running_stats(rng, d)
    x, gamma, beta, _ = _inputs(rng, int(rng.integers(5, 12)), d)
    _train_case(tally, student, x, gamma, beta, {"mode": "train", "running_mean": mean, "running_var": var},
                "existing running statistics, momentum 0.9 by default")
    mean, var = _running_stats(rng, d)
    x, gamma, beta, _ = _inputs(rng, int(rng.integers(5, 12)), d)
    custom = {"mode": "train", "momentum": float(rng.uniform(0.3, 0.7)), "eps": float(rng.uniform(0.05, 0.5)),
              "running_mean": mean, "running_var": var}
    _train_case(tally, student, x, gamma, beta, custom, "custom momentum and eps")

    # Test mode: normalise with the running statistics (and eps); they stay as they were.
    mean, var = _running_stats(rng, d)
    x, gamma, beta, _ = _inputs(rng, int(rng.integers(3, 8)), d)
    bn_param = {"mode": "test", "eps": float(rng.uniform(0.05, 0.5)), "running_mean": mean, "running_var": var}
    inputs = f"{describe_shapes(x=x, gamma=gamma, beta=beta)}, {_describe_param('bn_param', bn_param)}"
    with tally.case(2, f"batchnorm_forward on {inputs}"):
        handle = student.put("bn_param", bn_param)
        out = student.call("batchnorm_forward", x, gamma, beta, handle, reply=0)
        tally.add(mismatch("out in test mode", out, layers.batchnorm_forward(x, gamma, beta, copy.deepcopy(bn_param))[0], TOL, inputs))
        after = student.get(handle)
        changed = [key for key in ("running_mean", "running_var")
                   if not isinstance(after, dict) or mismatch(key, after.get(key), bn_param[key], 0.0) is not None]
        tally.add(None if not changed else f"test mode changed bn_param's {', '.join(changed)} ({inputs}); only train mode updates them")

    # Several train-mode calls on one dict, then test mode: the visible check's sequence.
    calls = 3
    expected_param: dict = {"mode": "train"}
    batches = [_inputs(rng, int(rng.integers(4, 10)), d) for _ in range(calls)]
    x_test = _inputs(rng, 5, d)[0]
    gamma, beta = batches[0][1], batches[0][2]
    for x, *_ in batches:
        layers.batchnorm_forward(x, gamma, beta, expected_param)
    expected_param["mode"] = "test"
    expected = layers.batchnorm_forward(x_test, gamma, beta, expected_param)[0]
    about = f"test mode after {calls} train-mode calls on the same bn_param (starting from {{'mode': 'train'}}), D = {d}"
    with tally.case(1, f"batchnorm_forward, {about}"):
        handle = student.put("bn_param", {"mode": "train"})
        for x, *_ in batches:
            student.call("batchnorm_forward", x, gamma, beta, handle, reply="none")
        student.set_item(handle, None, "mode", "test")
        tally.add(mismatch("out", student.call("batchnorm_forward", x_test, gamma, beta, handle, reply=0), expected, TOL, about))

    # float32 inputs keep float32 outputs, in both modes.
    x, gamma, beta, _ = _inputs(rng, int(rng.integers(4, 10)), d, dtype=np.float32)
    mean, var = _running_stats(rng, d, dtype=np.float32)
    inputs = f"float32 {describe_shapes(x=x, gamma=gamma, beta=beta)}"
    with tally.case(3, f"batchnorm_forward on {inputs}"):
        out = student.call("batchnorm_forward", x, gamma, beta, {"mode": "train"}, reply=0)
        tally.add(mismatch("out", out, layers.batchnorm_forward(x, gamma, beta, {"mode": "train"})[0], FLOAT32_TOL, f"{inputs}, train mode"))
        tally.add(_dtype_failure(out, "train"))
        out = student.call("batchnorm_forward", x, gamma, beta, {"mode": "test", "running_mean": mean, "running_var": var}, reply=0)
        tally.add(_dtype_failure(out, "test"))
    return tally.result()


# --------------------------------------------------------------------------------------------
# Backward passes (batch and layer normalization)


def _backward_case(tally: Tally, student: Student, name: str, forward: str, param_name: str, param: dict,
                   x, gamma, beta, dout) -> tuple[tuple, tuple, str] | None:
    """dx, dgamma, dbeta against the reference and numerically (6 sub-checks).

    Returns the student's gradients, the reference's and the description of the inputs, or None
    when the student's code failed.
    """
    inputs = f"{describe_shapes(x=x, gamma=gamma, beta=beta)}, {_describe_param(param_name, param)}"
    result = check_backward(tally, student, forward, name, (x, gamma, beta, param), dout, GRADIENTS, inputs,
                            reference=layers, tol=TOL)
    return None if result is None else (*result, inputs)


def _agrees_with_graph_version(tally: Tally, student: Student, alt: tuple, expected: tuple, dout: np.ndarray, inputs: str) -> None:
    """One sub-check: batchnorm_backward_alt agrees with the student's batchnorm_backward on the stored cache.

    Counted only where batchnorm_backward is implemented and matches the reference: a missing,
    unfinished or wrong graph version is graded in its own unit, not here.
    """
    try:
        graph = student.call("batchnorm_backward", dout, Handle("cache"))
        if not isinstance(graph, (tuple, list)) or len(graph) != 3:
            return
        graph = [as_float_array(value, what, ref.shape) for value, what, ref in zip(graph, GRADIENTS, expected)]
    except StudentError:
        return
    if any(mismatch(what, value, ref, TOL) for what, value, ref in zip(GRADIENTS, graph, expected)):
        return
    failures = [mismatch(f"{what} of batchnorm_backward_alt", value, ref, TOL, f"{inputs}, against your batchnorm_backward")
                for what, value, ref in zip(GRADIENTS, alt, graph)]
    tally.add(next((f for f in failures if f), None))


def _batchnorm_backward_check(name: str, student: Student, rng: np.random.Generator) -> CheckResult:
    tally = Tally()
    cases = [(int(rng.integers(3, 5)), int(rng.integers(3, 6)), {"mode": "train"}),  # N = 2 makes x_hat +-1: dx ~ eps, all noise
             (int(rng.integers(5, 9)), int(rng.integers(2, 5)), {"mode": "train"}),
             (int(rng.integers(3, 7)), int(rng.integers(2, 5)), {"mode": "train", "eps": float(rng.uniform(0.05, 0.5))})]
    for index, (n, d, param) in enumerate(cases):
        x, gamma, beta, dout = _inputs(rng, n, d)
        result = _backward_case(tally, student, name, "batchnorm_forward", "bn_param", param, x, gamma, beta, dout)
        if name == "batchnorm_backward_alt" and index == 0 and result is not None:
            got, expected, inputs = result
            _agrees_with_graph_version(tally, student, got, expected, dout, inputs)
    return tally.result()


@register("batchnorm_backward")
def batchnorm_backward(student: Student, rng: np.random.Generator, context: CheckContext) -> CheckResult:
    """dx, dgamma, dbeta from the student's own train-mode forward: reference and numerical gradients (N = 2 up, custom eps)."""
    return _batchnorm_backward_check("batchnorm_backward", student, rng)


@register("batchnorm_backward_alt")
def batchnorm_backward_alt(student: Student, rng: np.random.Generator, context: CheckContext) -> CheckResult:
    """As batchnorm_backward, plus agreement with the student's batchnorm_backward where that one is implemented."""
    return _batchnorm_backward_check("batchnorm_backward_alt", student, rng)


# --------------------------------------------------------------------------------------------
# Layer normalization


def _layernorm_cases(rng: np.random.Generator) -> list[tuple[int, int, dict]]:
    """One example with ``{}``, a batch with ``{'mode': 'train'}``, a batch with a custom eps."""
    return [(1, int(rng.integers(4, 9)), {}),
            (int(rng.integers(3, 7)), int(rng.integers(3, 8)), {"mode": "train"}),
            (int(rng.integers(2, 6)), int(rng.integers(3, 8)), {"eps": float(rng.uniform(0.05, 0.5))})]


@register("layernorm_forward")
def layernorm_forward(student: Student, rng: np.random.Generator, context: CheckContext) -> CheckResult:
    """out for one example (N = 1) and for batches, with ln_param ``{}``, ``{'mode': 'train'}`` and a custom eps."""
    tally = Tally()
    for n, d, param in _layernorm_cases(rng):
        x, gamma, beta, _ = _inputs(rng, n, d)
        inputs = f"{describe_shapes(x=x, gamma=gamma, beta=beta)}, {_describe_param('ln_param', param)}"
        with tally.case(1, f"layernorm_forward on {inputs}"):
            out = student.call("layernorm_forward", x, gamma, beta, dict(param), reply=0)
            tally.add(mismatch("out", out, layers.layernorm_forward(x, gamma, beta, dict(param))[0], TOL, inputs))
    return tally.result()


@register("layernorm_backward")
def layernorm_backward(student: Student, rng: np.random.Generator, context: CheckContext) -> CheckResult:
    """dx, dgamma, dbeta from the student's own forward, against the reference and numerically (N = 1, custom eps)."""
    tally = Tally()
    for n, d, param in _layernorm_cases(rng):
        x, gamma, beta, dout = _inputs(rng, n, d)
        _backward_case(tally, student, "layernorm_backward", "layernorm_forward", "ln_param", param, x, gamma, beta, dout)
    return tally.result()
