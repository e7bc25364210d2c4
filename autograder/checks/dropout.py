"""Hidden checks of the dropout layer of Dropout (inverted dropout, ``p`` the probability of keeping a unit).

- ``dropout_forward``: for three keep probabilities on a large input, the seeded output equals
  the reference's with the same seed (the reference is computed here: both reseed numpy's
  global RNG), the fraction of zeros is about 1 - p and the mean is preserved; calls without a
  seed draw fresh masks; test mode is the identity; float32 stays float32.
- ``dropout_backward``: dx in train mode (seeded) against the reference and the numerical
  gradient of the student's seeded forward; dx against the mask the student's own forward applied
  (without a seed, so a backward that draws a new mask fails); test mode.
"""
from __future__ import annotations

import numpy as np

from autograder.checks.backward import check_backward
from autograder.checks.compare import Tally, as_float_array, describe_shapes, describe_value, keep_global_rng, mismatch
from autograder.checks.registry import CheckContext, CheckResult, register
from autograder.protocol import Handle
from autograder.student import Student
from dl import layers

TOL = 1e-7
ZERO_FRACTION_TOL = 0.01  # over 7 standard errors of the fraction of zeros of 150,000 units
MEAN_TOL = 0.05  # relative; the output mean of a correct layer is within about 1% of the input mean here


def reference_dropout(x: np.ndarray, dropout_param: dict):
    """``dl.layers.dropout_forward`` on a copy of the dict, leaving this process's global RNG as it was."""
    with keep_global_rng():
        return layers.dropout_forward(x, dict(dropout_param))


def _describe_param(param: dict) -> str:
    return "dropout_param {" + ", ".join(f"{k!r}: {v:.3g}" if isinstance(v, float) else f"{k!r}: {v!r}" for k, v in param.items()) + "}"


def _statistics(out: np.ndarray, x: np.ndarray, p: float, about: str) -> tuple[str | None, str | None]:
    """Failures of the fraction of zeros (about 1 - p) and of the mean (about x's mean) of a train-mode output."""
    if not np.isfinite(out).all():
        failure = f"out contains nan or inf ({about})"
        return failure, failure
    zeros = float(np.mean(out == 0))
    zero_failure = None
    if abs(zeros - (1 - p)) > ZERO_FRACTION_TOL:
        hint = " (p is the probability of keeping a unit, not of dropping it)" if abs(zeros - p) <= ZERO_FRACTION_TOL else ""
        zero_failure = f"the fraction of zeros in out is {zeros:.3f} with p = {p:.3g}; expected about 1 - p = {1 - p:.3f}{hint} ({about})"
    mean, expected = float(out.mean()), float(x.mean())
    mean_failure = None
    if abs(mean - expected) > MEAN_TOL * abs(expected):
        hint = " (divide the kept units by p)" if abs(mean - p * expected) <= MEAN_TOL * abs(expected) else ""
        mean_failure = f"the mean of out is {mean:.3g} while the mean of x is {expected:.3g}; expected about the same{hint} ({about})"
    return zero_failure, mean_failure


@register("dropout_forward")
def dropout_forward(student: Student, rng: np.random.Generator, context: CheckContext) -> CheckResult:
    """Seeded output, zero fraction, preserved mean, fresh masks without a seed, test-mode identity, float32."""
    tally = Tally()
    shape = (int(rng.integers(300, 400)), 500)
    for low, high in ((0.15, 0.35), (0.4, 0.6), (0.65, 0.9)):
        p = float(rng.uniform(low, high))
        x = 10 + rng.standard_normal(shape)
        param = {"mode": "train", "p": p, "seed": int(rng.integers(0, 2**31 - 1))}
        inputs = f"{describe_shapes(x=x)}, {_describe_param(param)}"
        with tally.case(3, f"dropout_forward on {inputs}"):
            out = as_float_array(student.call("dropout_forward", x, param, reply=0), "out", shape)
            failure = mismatch("out", out, reference_dropout(x, param)[0], TOL, inputs)
            if failure:
                failure += ("; with a seed the mask must be the reference's: call np.random.seed(seed) first, "
                            "then draw np.random.rand(*x.shape) < p")
            tally.add(failure)
            for failure in _statistics(out, x, p, inputs):
                tally.add(failure)

    # Without a seed the global stream goes on: two calls draw different masks.
    p = float(rng.uniform(0.3, 0.7))
    x = 10 + rng.standard_normal(shape)
    param = {"mode": "train", "p": p}
    inputs = f"{describe_shapes(x=x)}, {_describe_param(param)}"
    with tally.case(1, f"dropout_forward on {inputs}"):
        first = as_float_array(student.call("dropout_forward", x, param, reply=0, repeatable=False), "out", shape)
        second = as_float_array(student.call("dropout_forward", x, param, reply=0, repeatable=False), "out", shape)
        failure = next((f for f in _statistics(second, x, p, inputs) if f), None)
        if failure is None and np.array_equal(first, second):
            failure = f"two calls without a 'seed' key gave the same output ({inputs}); reseed only when dropout_param has a 'seed'"
        tally.add(failure)

    # Test mode is the identity, seed or not.
    x = rng.standard_normal((int(rng.integers(5, 20)), int(rng.integers(5, 20))))
    for param in ({"mode": "test", "p": float(rng.uniform(0.2, 0.8))},
                  {"mode": "test", "p": float(rng.uniform(0.2, 0.8)), "seed": int(rng.integers(0, 2**31 - 1))}):
        inputs = f"{describe_shapes(x=x)}, {_describe_param(param)}"
        with tally.case(1, f"dropout_forward on {inputs}"):
            out = student.call("dropout_forward", x, param, reply=0)
            tally.add(mismatch("out in test mode", out, reference_dropout(x, param)[0], 0.0, f"{inputs}; test mode returns x unchanged"))

    # float32 stays float32 in both modes.
    x = rng.standard_normal((int(rng.integers(20, 40)), int(rng.integers(20, 40)))).astype(np.float32)
    for param in ({"mode": "train", "p": float(rng.uniform(0.3, 0.7)), "seed": int(rng.integers(0, 2**31 - 1))},
                  {"mode": "test", "p": float(rng.uniform(0.3, 0.7))}):
        inputs = f"float32 {describe_shapes(x=x)}, {_describe_param(param)}"
        with tally.case(1, f"dropout_forward on {inputs}"):
            out = student.call("dropout_forward", x, param, reply=0)
            if not isinstance(out, np.ndarray):
                tally.add(f"out is {describe_value(out)} ({inputs}); expected an array")
            elif out.dtype != np.float32:
                tally.add(f"out has dtype {out.dtype} ({inputs}); expected float32, x's dtype "
                          f"(a float64 mask, such as (rand < p) / p, promotes x * mask: cast it to x.dtype)")
            else:
                tally.add(None)
    return tally.result()


@register("dropout_backward")
def dropout_backward(student: Student, rng: np.random.Generator, context: CheckContext) -> CheckResult:
    """dx in train mode (seeded: reference and numerical; unseeded: the forward's own mask) and in test mode."""
    tally = Tally()
    shape = (int(rng.integers(6, 15)), int(rng.integers(6, 15)))
    for param in ({"mode": "train", "p": float(rng.uniform(0.2, 0.8)), "seed": int(rng.integers(0, 2**31 - 1))},
                  {"mode": "test", "p": float(rng.uniform(0.2, 0.8))}):
        x, dout = rng.standard_normal(shape), rng.standard_normal(shape)
        check_backward(tally, student, "dropout_forward", "dropout_backward", (x, param), dout, ("dx",),
                       f"{describe_shapes(x=x)}, {_describe_param(param)}", reference=layers, tol=TOL)

    # Without a seed: dx must use the mask of the forward call that made the cache (out / x).
    x, dout = rng.standard_normal(shape), rng.standard_normal(shape)
    param = {"mode": "train", "p": float(rng.uniform(0.2, 0.8))}
    inputs = f"{describe_shapes(x=x)}, {_describe_param(param)}"
    with tally.case(1, f"dropout_backward on {inputs}"):
        out = as_float_array(student.call("dropout_forward", x, param, store={"cache": 1}, reply=0), "out of dropout_forward", shape)
        dx = student.call("dropout_backward", dout, Handle("cache"))
        tally.add(mismatch("dx", dx, dout * out / x, TOL,
                           f"{inputs}, against dout times the mask your dropout_forward applied in the call that made the cache"))
    return tally.result()
