"""Hidden checks of the normalization layers of BatchNormalization (batch and layer normalization).

- ``batchnorm_forward``: train mode with and without running statistics in ``bn_param`` (default
  and custom momentum and eps), the running statistics written back into the student's own dict
  (stored in the worker and read back after the call); test mode with given running statistics
  (left unchanged) and after train-mode calls on one dict; the documented cache; float32 inputs
  in both modes, with running statistics the student's function creates; ValueError for an
  unknown mode. Train and test mode weigh the same.
- ``batchnorm_backward`` and ``batchnorm_backward_alt``: dx, dgamma, dbeta from the reference
  forward's cache (:func:`autograder.checks.backward.check_backward`), each unit on its own: a
  bug in the student's forward or graph version costs only its own unit.
- ``layernorm_forward`` and ``layernorm_backward``: the same with one example (N = 1) and
  ``ln_param`` ``{}``, ``{'mode': 'train'}``, ``{'mode': 'test'}`` and a custom eps.
"""
from __future__ import annotations

import copy

import numpy as np

from autograder.checks.backward import cache_mismatch, check_backward, reference_cache
from autograder.checks.compare import Tally, describe_param, describe_shapes, describe_value, error_failure, mismatch
from autograder.checks.registry import CheckContext, CheckResult, Part, register
from autograder.student import Student
from dl import layers

TOL = 1e-7  # float64 outputs computed in another order agree to ~1e-13; forgetting the default eps is ~1e-6
FLOAT32_TOL = 1e-4  # float32 rounding of a normalised output or gradient is ~1e-6 of its size
GRADIENTS = ("dx", "dgamma", "dbeta")
CACHE = ("x_centered", "std", "x_hat", "gamma")  # the cache of both forwards (dl.layers docstrings)

BN_FORWARD_PARTS = {
    "train": Part(3, "train mode: out from the batch's mean and biased variance, eps (default 1e-5), gamma and beta; "
                     "the running averages (momentum, default 0.9) written back into bn_param"),
    "test": Part(3, "test mode: out from the running statistics and eps, which it leaves as they were; "
                    "test mode after train-mode calls on the same bn_param"),
    "cache": Part(1.5, "the train-mode cache is (x_centered, std, x_hat, gamma), as the docstring specifies: "
                       "the backward passes read it", strict=True),
    "float32": Part(1, "float32 inputs: float32 out in both modes, running statistics created in x's dtype"),
    "mode": Part(0.5, "a mode other than 'train' or 'test' raises ValueError", provided=True),
}
BACKWARD_PARTS = {
    "dx": Part(2, "dx from the reference forward's cache, as the docstrings specify it (float32 stays float32)"),
    "dgamma": Part(1, "dgamma, the batch sum of dout * x_hat"),
    "dbeta": Part(1, "dbeta, the batch sum of dout"),
}
LN_FORWARD_PARTS = {
    "out": Part(3, "out: each example standardised over its own features (biased variance, eps default 1e-5), "
                   "then gamma and beta; one example alone; any mode or none"),
    "cache": Part(1.5, "the cache is (x_centered, std, x_hat, gamma), std of shape (N, 1), as the docstring specifies: "
                       "layernorm_backward reads it", strict=True),
    "float32": Part(1, "float32 inputs give a float32 out"),
}


def _inputs(rng: np.random.Generator, n: int, d: int, dtype=np.float64):
    """x (N, D) whose rows and columns have different means and spreads; gamma, beta (D,); dout (N, D)."""
    x = rng.uniform(-5, 5, size=(n, 1)) + rng.uniform(-5, 5, size=d) + rng.uniform(0.5, 4, size=d) * rng.standard_normal((n, d))
    gamma = rng.uniform(0.5, 2, size=d) * rng.choice([-1.0, 1.0], size=d)
    beta = rng.standard_normal(d)
    dout = rng.standard_normal((n, d))
    return x.astype(dtype), gamma.astype(dtype), beta.astype(dtype), dout.astype(dtype)


def _running_stats(rng: np.random.Generator, d: int, dtype=np.float64) -> tuple[np.ndarray, np.ndarray]:
    return rng.uniform(-3, 3, size=d).astype(dtype), rng.uniform(0.5, 9, size=d).astype(dtype)


def _about(x, gamma, beta, name: str, param: dict) -> str:
    """``"x of shape (4, 3), gamma (3,), beta (3,), bn_param in train mode"``: the inputs of a message."""
    return f"{describe_shapes(x=x, gamma=gamma, beta=beta)}, {describe_param(name, param)}"


def _normalized(x, gamma, beta, mean, var, eps) -> np.ndarray:
    """``gamma * (x - mean) / sqrt(var + eps) + beta``: what a known bug's statistics give."""
    return gamma * (x - mean) / np.sqrt(var + eps) + beta


# --------------------------------------------------------------------------------------------
# Batch normalization, forward


def _statistic_failure(after, key: str, expected: np.ndarray, given: np.ndarray | None, inputs: str, bugs: dict) -> str | None:
    """Whether ``bn_param[key]`` after the student's train-mode call holds the expected running statistic."""
    if not isinstance(after, dict):
        return f"bn_param is {describe_value(after)} after the call ({inputs}); it must stay a dict"
    if key not in after:
        return (f"bn_param has no {key!r} after a call in train mode ({inputs}); "
                f"batchnorm_forward must write the running statistics back into bn_param")
    if given is not None and isinstance(after[key], np.ndarray) and after[key].shape == given.shape and np.array_equal(after[key], given):
        return f"bn_param[{key!r}] was not updated by a call in train mode ({inputs}); write the new running average back into bn_param"
    return mismatch(f"bn_param[{key!r}]", after[key], expected, TOL, inputs, bugs=bugs)


def _train_bugs(x, gamma, beta, param: dict) -> tuple[dict, dict, dict]:
    """Known bugs of a train-mode call: what they give for out, running_mean and running_var."""
    eps, momentum = param.get("eps", 1e-5), param.get("momentum", 0.9)
    mean, biased, unbiased = x.mean(axis=0), x.var(axis=0), x.var(axis=0, ddof=1)
    old_mean = param.get("running_mean", np.zeros(x.shape[1]))
    old_var = param.get("running_var", np.zeros(x.shape[1]))
    out = {"your out uses the unbiased variance (divided by N - 1); batch normalization uses the biased one (divided by N)":
           _normalized(x, gamma, beta, mean, unbiased, eps),
           "your out ignores bn_param's eps (1e-5 is only the default, for a bn_param without 'eps')":
           _normalized(x, gamma, beta, mean, biased, 1e-5),
           "your out adds eps outside the square root: the docstring's std is sqrt(var + eps)":
           gamma * (x - mean) / (np.sqrt(biased) + eps) + beta}
    swapped = "your running average gives the batch statistic the weight momentum: it is momentum * running + (1 - momentum) * batch"
    running_mean = {swapped: (1 - momentum) * old_mean + momentum * mean}
    running_var = {swapped: (1 - momentum) * old_var + momentum * biased,
                   "your running_var averages the unbiased variance (divided by N - 1); use the biased one, as for out":
                   momentum * old_var + (1 - momentum) * unbiased}
    return out, running_mean, running_var


def _train_case(tally: Tally, student: Student, x, gamma, beta, bn_param: dict, about: str) -> None:
    """out and both running statistics written back into the dict, for one train-mode call (3 sub-checks of "train")."""
    inputs = f"{_about(x, gamma, beta, 'bn_param', bn_param)} ({about})"
    expected_param = copy.deepcopy(bn_param)
    expected_out, _ = layers.batchnorm_forward(x, gamma, beta, expected_param)
    out_bugs, mean_bugs, var_bugs = _train_bugs(x, gamma, beta, bn_param)
    with tally.case(3, f"batchnorm_forward on {inputs}", "train"):
        handle = student.put("bn_param", bn_param)
        out = student.call("batchnorm_forward", x, gamma, beta, handle, reply=0)
        tally.add(mismatch("out", out, expected_out, TOL, inputs, bugs=out_bugs), "train")
        after = student.get(handle)
        for key, bugs in (("running_mean", mean_bugs), ("running_var", var_bugs)):
            tally.add(_statistic_failure(after, key, expected_param[key], bn_param.get(key), inputs, bugs), "train")


BATCH_STATISTICS_IN_TEST_MODE = ("your test mode normalises with the batch's own mean and variance; "
                                 "it must use bn_param's running_mean and running_var")


def _test_case(tally: Tally, student: Student, x, gamma, beta, bn_param: dict, unchanged: bool) -> None:
    """Test mode with given running statistics: out and, if ``unchanged``, the statistics left as they were (1 or 2 sub-checks of "test")."""
    inputs = _about(x, gamma, beta, "bn_param", bn_param)
    expected = layers.batchnorm_forward(x, gamma, beta, copy.deepcopy(bn_param))[0]
    eps = bn_param.get("eps", 1e-5)
    bugs = {BATCH_STATISTICS_IN_TEST_MODE: _normalized(x, gamma, beta, x.mean(axis=0), x.var(axis=0), eps),
            "your test mode ignores bn_param's eps (1e-5 is only the default)":
            _normalized(x, gamma, beta, bn_param["running_mean"], bn_param["running_var"], 1e-5)}
    with tally.case(1 + unchanged, f"batchnorm_forward on {inputs}", "test"):
        handle = student.put("bn_param", bn_param)
        out = student.call("batchnorm_forward", x, gamma, beta, handle, reply=0)
        tally.add(mismatch("out in test mode", out, expected, TOL, inputs, bugs=bugs), "test")
        if not unchanged:
            return
        after = student.get(handle)
        changed = [key for key in ("running_mean", "running_var")
                   if not isinstance(after, dict) or mismatch(key, after.get(key), bn_param[key], 0.0) is not None]
        tally.add(None if not changed else f"test mode changed bn_param's {' and '.join(changed)} ({inputs}); only train mode updates them",
                  "test")


def _train_then_test_case(tally: Tally, student: Student, rng: np.random.Generator, d: int, start: dict) -> None:
    """Three train-mode calls on one dict starting as ``start``, then a test-mode call on it (1 sub-check of "test")."""
    calls = 3
    batches = [_inputs(rng, int(rng.integers(4, 10)), d)[0] for _ in range(calls)]
    _, gamma, beta, _ = _inputs(rng, 5, d)
    x_test = _inputs(rng, 5, d)[0]
    expected_param = copy.deepcopy(start)
    for x in batches:
        layers.batchnorm_forward(x, gamma, beta, expected_param)
    expected_param["mode"] = "test"
    expected = layers.batchnorm_forward(x_test, gamma, beta, expected_param)[0]
    about = (f"test mode after {calls} train-mode calls on the same bn_param (starting as {describe_param('bn_param', start)}), "
             f"{describe_shapes(x=x_test, gamma=gamma, beta=beta)}")
    bugs = {BATCH_STATISTICS_IN_TEST_MODE: _normalized(x_test, gamma, beta, x_test.mean(axis=0), x_test.var(axis=0), start.get("eps", 1e-5))}
    with tally.case(1, f"batchnorm_forward, {about}", "test"):
        handle = student.put("bn_param", start)
        for x in batches:
            student.call("batchnorm_forward", x, gamma, beta, handle, reply="none")
        student.set_item(handle, None, "mode", "test")
        out = student.call("batchnorm_forward", x_test, gamma, beta, handle, reply=0)
        tally.add(mismatch("out", out, expected, TOL, about, bugs=bugs), "test")


def _cache_case(tally: Tally, student: Student, name: str, x, gamma, beta, param_name: str, param: dict) -> None:
    """The cache the student's forward returns against the reference's (1 sub-check of "cache")."""
    inputs = _about(x, gamma, beta, param_name, param)
    with tally.case(1, f"{name} on {inputs}", "cache"):
        got = student.call(name, x, gamma, beta, dict(param))
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            tally.add(f"{name} returned {describe_value(got)} on {inputs}; expected a tuple (out, cache)", "cache")
            return
        tally.add(cache_mismatch(name, got[1], reference_cache(layers, name, (x, gamma, beta, param)), CACHE, inputs, TOL), "cache")


def _dtype_failure(out, what: str, inputs: str) -> str | None:
    if not isinstance(out, np.ndarray):
        return f"{what} is {describe_value(out)} ({inputs}); expected an array"
    if out.dtype != np.float32:
        return (f"{what} has dtype {out.dtype} for float32 inputs ({inputs}); expected float32 "
                f"(an intermediate or a running statistic created as float64 promotes the output)")
    return None


def _float32_case(tally: Tally, student: Student, rng: np.random.Generator, d: int) -> None:
    """Float32 x, gamma, beta: train mode on a dict without running statistics, then test mode on the same dict.

    The running statistics are those the student's function created: zeros of x's dtype, so that
    a float32 net stays float32 in test mode (4 sub-checks: out's value in train mode, out's
    dtype in both modes and the running statistics' dtype).
    """
    x, gamma, beta, _ = _inputs(rng, int(rng.integers(4, 10)), d, dtype=np.float32)
    x_test = _inputs(rng, 5, d, dtype=np.float32)[0]
    inputs = f"float32 {describe_shapes(x=x, gamma=gamma, beta=beta)}, bn_param starting as {{'mode': 'train'}}"
    with tally.case(4, f"batchnorm_forward on {inputs}", "float32"):
        handle = student.put("bn_param", {"mode": "train"})
        out = student.call("batchnorm_forward", x, gamma, beta, handle, reply=0)
        tally.add(mismatch("out", out, layers.batchnorm_forward(x, gamma, beta, {"mode": "train"})[0], FLOAT32_TOL,
                           f"{inputs}, train mode"), "train")
        tally.add(_dtype_failure(out, "out", f"{inputs}, train mode"), "float32")
        after = student.get(handle)
        stats = [f"{key} has dtype {after[key].dtype}" for key in ("running_mean", "running_var")
                 if isinstance(after, dict) and isinstance(after.get(key), np.ndarray) and after[key].dtype != np.float32]
        tally.add(None if not stats else (f"after a float32 train-mode call ({inputs}), bn_param's {' and '.join(stats)}; "
                                          f"create missing running statistics as zeros of x's dtype"), "float32")
        student.set_item(handle, None, "mode", "test")
        out = student.call("batchnorm_forward", x_test, gamma, beta, handle, reply=0)
        tally.add(_dtype_failure(out, "out", f"{inputs}, then test mode with the running statistics your function created"), "float32")


@register("batchnorm_forward", parts=BN_FORWARD_PARTS)
def batchnorm_forward(student: Student, rng: np.random.Generator, context: CheckContext) -> CheckResult:
    """Train mode (new, existing running statistics; custom momentum and eps), test mode, the cache, float32, ValueError."""
    tally = Tally(BN_FORWARD_PARTS)
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
    for eps in ({}, {"eps": float(rng.uniform(0.05, 0.5))}):
        mean, var = _running_stats(rng, d)
        x, gamma, beta, _ = _inputs(rng, int(rng.integers(3, 8)), d)
        _test_case(tally, student, x, gamma, beta, {"mode": "test", **eps, "running_mean": mean, "running_var": var}, unchanged=not eps)
    # The visible check's sequence: train-mode calls on one dict, then test mode; with custom momentum and eps too.
    _train_then_test_case(tally, student, rng, d, {"mode": "train"})
    _train_then_test_case(tally, student, rng, d, {"mode": "train", "momentum": float(rng.uniform(0.3, 0.7)),
                                                   "eps": float(rng.uniform(0.05, 0.5))})

    for param in ({"mode": "train"}, {"mode": "train", "eps": float(rng.uniform(0.05, 0.5))}):
        x, gamma, beta, _ = _inputs(rng, int(rng.integers(3, 8)), d)
        _cache_case(tally, student, "batchnorm_forward", x, gamma, beta, "bn_param", param)
    _float32_case(tally, student, rng, d)

    x, gamma, beta, _ = _inputs(rng, 4, d)
    param = {"mode": "eval"}
    tally.add(error_failure(student, "batchnorm_forward", (x, gamma, beta, param), "ValueError", _about(x, gamma, beta, "bn_param", param),
                            "the docstring: a mode other than 'train' or 'test' raises ValueError"), "mode")
    return tally.result()


# --------------------------------------------------------------------------------------------
# Backward passes (batch and layer normalization), graded on the reference forward's cache


def _backward_bugs(forward: str, args: tuple, dout: np.ndarray):
    """``bugs(expected)`` for :func:`check_backward`: known wrong gradients on the reference cache of ``args``.

    The statistics are taken over the batch (axis 0) in batch normalization, over the features
    (axis 1) in layer normalization.
    """
    _, std, x_hat, gamma = reference_cache(layers, forward, args)
    axis = 0 if forward == "batchnorm_forward" else 1
    count = dout.shape[axis]
    dx_hat = dout * gamma
    without_mean = (count * dx_hat - x_hat * (dx_hat * x_hat).sum(axis=axis, keepdims=True)) / (count * std)
    over = "the batch" if axis == 0 else "the features"

    def bugs(expected):
        dx, dgamma, dbeta = expected
        return {"dx": {"your dx treats the mean and the variance as constants (dout * gamma / std): "
                       "the gradient also flows through them": dx_hat / std,
                       f"your dx lacks the term that comes through the mean (the sum of dout * gamma over {over})": without_mean,
                       f"your dx is {'N' if axis == 0 else 'D'} times the right one": dx * count,
                       "your dx lacks the factor gamma": dx / gamma},
                "dgamma": {"your dgamma is the right dbeta: dgamma and dbeta are swapped": dbeta},
                "dbeta": {"your dbeta is the right dgamma: dgamma and dbeta are swapped": dgamma}}
    return bugs


def _backward_check(name: str, forward: str, param_name: str, cases: list[tuple[int, int, dict, type]],
                    student: Student, rng: np.random.Generator) -> CheckResult:
    """dx, dgamma, dbeta of the student's ``name`` on the reference ``forward``'s cache, one case per ``(N, D, param, dtype)``."""
    tally = Tally(BACKWARD_PARTS)
    for n, d, param, dtype in cases:
        x, gamma, beta, dout = _inputs(rng, n, d, dtype)
        args = (x, gamma, beta, param)
        inputs = f"{'float32 ' if dtype == np.float32 else ''}{_about(x, gamma, beta, param_name, param)}"
        check_backward(tally, student, forward, name, args, dout, GRADIENTS, inputs, reference=layers,
                       tol=FLOAT32_TOL if dtype == np.float32 else TOL, parts={g: g for g in GRADIENTS},
                       bugs=_backward_bugs(forward, args, dout))
    return tally.result()


def _batchnorm_cases(rng: np.random.Generator) -> list[tuple[int, int, dict, type]]:
    """N from 3 (N = 2 makes x_hat +-1 and dx ~ eps, all noise), a custom eps, and a float32 case."""
    return [(int(rng.integers(3, 5)), int(rng.integers(3, 6)), {"mode": "train"}, np.float64),
            (int(rng.integers(5, 9)), int(rng.integers(2, 5)), {"mode": "train"}, np.float64),
            (int(rng.integers(3, 7)), int(rng.integers(2, 5)), {"mode": "train", "eps": float(rng.uniform(0.05, 0.5))}, np.float64),
            (int(rng.integers(5, 9)), int(rng.integers(3, 6)), {"mode": "train"}, np.float32)]


@register("batchnorm_backward", parts=BACKWARD_PARTS)
def batchnorm_backward(student: Student, rng: np.random.Generator, context: CheckContext) -> CheckResult:
    """dx, dgamma, dbeta on the reference train-mode forward's cache (N from 3, custom eps, float32)."""
    return _backward_check("batchnorm_backward", "batchnorm_forward", "bn_param", _batchnorm_cases(rng), student, rng)


@register("batchnorm_backward_alt", parts=BACKWARD_PARTS)
def batchnorm_backward_alt(student: Student, rng: np.random.Generator, context: CheckContext) -> CheckResult:
    """As batchnorm_backward, on its own: never compared with the student's batchnorm_backward (graded in its unit)."""
    return _backward_check("batchnorm_backward_alt", "batchnorm_forward", "bn_param", _batchnorm_cases(rng), student, rng)


# --------------------------------------------------------------------------------------------
# Layer normalization


def _layernorm_cases(rng: np.random.Generator) -> list[tuple[int, int, dict]]:
    """One example with ``{}``; batches with ``{'mode': 'train'}``, ``{'mode': 'test'}`` (ignored) and a custom eps."""
    return [(1, int(rng.integers(4, 9)), {}),
            (int(rng.integers(3, 7)), int(rng.integers(3, 8)), {"mode": "train"}),
            (int(rng.integers(3, 7)), int(rng.integers(3, 8)), {"mode": "test"}),
            (int(rng.integers(2, 6)), int(rng.integers(3, 8)), {"eps": float(rng.uniform(0.05, 0.5))})]


def _layernorm_bugs(x, gamma, beta, param: dict) -> dict:
    eps = param.get("eps", 1e-5)
    return {"your out normalises each feature over the batch (axis 0), as batch normalization does; "
            "layer normalization normalises each example over its features (axis 1)":
            _normalized(x, gamma, beta, x.mean(axis=0), x.var(axis=0), eps),
            "your out ignores ln_param's eps (1e-5 is only the default)":
            _normalized(x, gamma, beta, x.mean(axis=1, keepdims=True), x.var(axis=1, keepdims=True), 1e-5),
            "your out uses the unbiased variance (divided by D - 1); layer normalization uses the biased one (divided by D)":
            _normalized(x, gamma, beta, x.mean(axis=1, keepdims=True), x.var(axis=1, keepdims=True, ddof=1), eps)}


@register("layernorm_forward", parts=LN_FORWARD_PARTS)
def layernorm_forward(student: Student, rng: np.random.Generator, context: CheckContext) -> CheckResult:
    """out for one example (N = 1) and for batches, with ln_param ``{}``, either mode and a custom eps; the cache; float32."""
    tally = Tally(LN_FORWARD_PARTS)
    for n, d, param in _layernorm_cases(rng):
        x, gamma, beta, _ = _inputs(rng, n, d)
        inputs = _about(x, gamma, beta, "ln_param", param)
        with tally.case(1, f"layernorm_forward on {inputs}", "out"):
            out = student.call("layernorm_forward", x, gamma, beta, dict(param), reply=0)
            tally.add(mismatch("out", out, layers.layernorm_forward(x, gamma, beta, dict(param))[0], TOL, inputs,
                               bugs=_layernorm_bugs(x, gamma, beta, param)), "out")
    for param in ({}, {"eps": float(rng.uniform(0.05, 0.5))}):
        x, gamma, beta, _ = _inputs(rng, int(rng.integers(3, 7)), int(rng.integers(3, 8)))
        _cache_case(tally, student, "layernorm_forward", x, gamma, beta, "ln_param", param)

    x, gamma, beta, _ = _inputs(rng, int(rng.integers(3, 7)), int(rng.integers(3, 8)), dtype=np.float32)
    inputs = f"float32 {_about(x, gamma, beta, 'ln_param', {})}"
    with tally.case(2, f"layernorm_forward on {inputs}", "float32"):
        out = student.call("layernorm_forward", x, gamma, beta, {}, reply=0)
        tally.add(mismatch("out", out, layers.layernorm_forward(x, gamma, beta, {})[0], FLOAT32_TOL, inputs), "out")
        tally.add(_dtype_failure(out, "out", inputs), "float32")
    return tally.result()


@register("layernorm_backward", parts=BACKWARD_PARTS)
def layernorm_backward(student: Student, rng: np.random.Generator, context: CheckContext) -> CheckResult:
    """dx, dgamma, dbeta on the reference forward's cache (N = 1, either mode, custom eps, float32)."""
    cases = [(n, d, param, np.float64) for n, d, param in _layernorm_cases(rng)]
    cases.append((int(rng.integers(3, 7)), int(rng.integers(4, 8)), {}, np.float32))
    return _backward_check("layernorm_backward", "layernorm_forward", "ln_param", cases, student, rng)
