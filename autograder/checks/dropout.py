"""Hidden checks of the dropout layer of Dropout (inverted dropout, ``p`` the probability of keeping a unit).

- ``dropout_forward``: for three keep probabilities on a large input, the seeded output equals
  the reference's with the same seed (the reference is computed here: both reseed numpy's
  global RNG), the fraction of zeros is about 1 - p and the mean is preserved; test mode is the
  identity, seed or not; a seed reseeds numpy's global RNG at the start of every call, in both
  modes, and calls without one draw fresh masks; the documented cache ``(dropout_param, mask)``;
  float32 stays float32; ValueError for an unknown mode. Train and test mode weigh the same.
- ``dropout_backward``: dx on the reference forward's cache
  (:func:`autograder.checks.backward.check_backward`) in train mode, seeded and not (a backward
  that draws its own mask fails), float32, and in test mode.
"""
from __future__ import annotations

import numpy as np

from autograder.checks.backward import cache_mismatch, check_backward, reference_cache
from autograder.checks.compare import Tally, as_float_array, describe_param, describe_shapes, describe_value, error_failure
from autograder.checks.compare import keep_global_rng, mismatch
from autograder.checks.registry import CheckContext, CheckResult, Part, register
from autograder.student import Student
from dl import layers

TOL = 1e-7
ZERO_FRACTION_TOL = 0.01  # over 7 standard errors of the fraction of zeros of 150,000 units
MEAN_TOL = 0.05  # relative; the output mean of a correct layer is within about 1% of the input mean here
CACHE = ("dropout_param", "mask")

FORWARD_PARTS = {
    "train": Part(3, "train mode: the mask np.random.rand(*x.shape) < p drawn after the seed, about 1 - p of the units "
                     "zeroed, the kept ones divided by p (the mean preserved)"),
    "test": Part(3, "test mode returns x unchanged, with a seed or without"),
    "cache": Part(3, "the train-mode cache is (dropout_param, mask), the mask 0 or 1 / p where the output is, "
                     "as the docstring specifies: dropout_backward reads it", strict=True),
    "seeding": Part(1, "a 'seed' reseeds numpy's global RNG at the start of every call, in both modes; "
                       "without one, every call draws a fresh mask", strict=True),
    "float32": Part(1, "out keeps x's dtype (float32 stays float32) in both modes"),
    "mode": Part(0.5, "a mode other than 'train' or 'test' raises ValueError", provided=True),
}
BACKWARD_PARTS = {
    "train": Part(2, "train mode: dx = dout * the mask of the cache, seeded or not (float32 stays float32)"),
    "test": Part(1, "test mode: dx = dout", provided=True),
}


def reference_dropout(x: np.ndarray, dropout_param: dict):
    """``dl.layers.dropout_forward`` on a copy of the dict, leaving this process's global RNG as it was."""
    with keep_global_rng():
        return layers.dropout_forward(x, dict(dropout_param))


def _seed(rng: np.random.Generator) -> int:
    return int(rng.integers(0, 2**31 - 1))


def _about(x, param: dict) -> str:
    return f"{describe_shapes(x=x)}, {describe_param('dropout_param', param)}"


def _statistics(out: np.ndarray, x: np.ndarray, p: float, about: str) -> tuple[str | None, str | None]:
    """Failures of the fraction of zeros (about 1 - p) and of the mean (about x's mean) of a train-mode output.

    The messages name the likely bug without giving p or the means.
    """
    if not np.isfinite(out).all():
        failure = f"out contains nan or inf ({about})"
        return failure, failure
    zeros = float(np.mean(out == 0))
    zero_failure = None
    if abs(zeros - (1 - p)) > ZERO_FRACTION_TOL:
        hint = (": p is the probability of keeping a unit, not of dropping it" if abs(zeros - p) <= ZERO_FRACTION_TOL
                else "; keep a unit where np.random.rand(*x.shape) < p")
        zero_failure = f"the fraction of zeros in out is not about 1 - p ({about}){hint}"
    mean, expected = float(out.mean()), float(x.mean())
    mean_failure = None
    if abs(mean - expected) > MEAN_TOL * abs(expected):
        hint = ": divide the kept units by p" if abs(mean - p * expected) <= MEAN_TOL * abs(expected) else ""
        mean_failure = f"the mean of out is not about the mean of x ({about}){hint}"
    return zero_failure, mean_failure


def _seeded_train_case(tally: Tally, student: Student, x: np.ndarray, param: dict) -> None:
    """The seeded output against the reference's, the fraction of zeros and the mean (3 sub-checks of "train")."""
    inputs = _about(x, param)
    with tally.case(3, f"dropout_forward on {inputs}", "train"):
        out = as_float_array(student.call("dropout_forward", x, param, reply=0), "out", x.shape)
        failure = mismatch("out", out, reference_dropout(x, param)[0], TOL, inputs)
        if failure:
            failure += ("; with a seed the mask must be the reference's: call np.random.seed(seed) first, "
                        "then draw np.random.rand(*x.shape) < p")
        tally.add(failure, "train")
        for failure in _statistics(out, x, param["p"], inputs):
            tally.add(failure, "train")


def _seeding_cases(tally: Tally, student: Student, rng: np.random.Generator, shape: tuple[int, int]) -> None:
    """Two unseeded calls draw different masks; a seeded test-mode call reseeds (2 sub-checks of "seeding").

    The calls whose answer depends on numpy's global RNG as other calls left it are not repeatable.
    """
    x = 10 + rng.standard_normal(shape)
    param = {"mode": "train", "p": float(rng.uniform(0.3, 0.7))}
    inputs = _about(x, param)
    with tally.case(1, f"dropout_forward on {inputs}", "seeding"):
        first = as_float_array(student.call("dropout_forward", x, param, reply=0, repeatable=False), "out", shape)
        second = as_float_array(student.call("dropout_forward", x, param, reply=0, repeatable=False), "out", shape)
        tally.add(None if not np.array_equal(first, second) else
                  f"two calls without a 'seed' key gave the same output ({inputs}); reseed only when dropout_param has a 'seed'", "seeding")

    seed = _seed(rng)
    test = {"mode": "test", "p": float(rng.uniform(0.3, 0.7)), "seed": seed}
    train = {"mode": "train", "p": float(rng.uniform(0.3, 0.7))}
    x = 10 + rng.standard_normal(shape)
    expected = reference_dropout(x, {**train, "seed": seed})[0]  # the mask drawn right after np.random.seed(seed)
    about = (f"a call with {describe_param('dropout_param', test)}, then one with {describe_param('dropout_param', train)}, "
             f"{describe_shapes(x=x)}")
    with tally.case(1, f"dropout_forward: {about}", "seeding"):
        student.call("dropout_forward", x, test, reply="none")
        out = student.call("dropout_forward", x, train, reply=0, repeatable=False)
        failure = mismatch("out of the second call", out, expected, TOL, about)
        tally.add(None if failure is None else
                  f"{failure}; the docstring: with a 'seed', np.random.seed(seed) is called at the start of every call, "
                  f"in both modes, so the second call's mask is the first one drawn after that seed", "seeding")


def _cache_case(tally: Tally, student: Student, x: np.ndarray, param: dict) -> None:
    """The seeded train-mode cache against the reference's (1 sub-check of "cache")."""
    inputs = _about(x, param)
    with tally.case(1, f"dropout_forward on {inputs}", "cache"):
        got = student.call("dropout_forward", x, param)
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            tally.add(f"dropout_forward returned {describe_value(got)} on {inputs}; expected a tuple (out, cache)", "cache")
            return
        tally.add(cache_mismatch("dropout_forward", got[1], reference_cache(layers, "dropout_forward", (x, param)), CACHE, inputs, TOL),
                  "cache")


@register("dropout_forward", parts=FORWARD_PARTS)
def dropout_forward(student: Student, rng: np.random.Generator, context: CheckContext) -> CheckResult:
    """Seeded output, zero fraction, preserved mean; test-mode identity; seeding in both modes; the cache; float32; ValueError."""
    tally = Tally(FORWARD_PARTS)
    shape = (int(rng.integers(300, 400)), 500)
    for low, high in ((0.15, 0.35), (0.4, 0.6), (0.65, 0.9)):
        _seeded_train_case(tally, student, 10 + rng.standard_normal(shape),
                           {"mode": "train", "p": float(rng.uniform(low, high)), "seed": _seed(rng)})

    # Test mode is the identity, seed or not.
    x = rng.standard_normal((int(rng.integers(5, 20)), int(rng.integers(5, 20))))
    for param in ({"mode": "test", "p": float(rng.uniform(0.2, 0.8))},
                  {"mode": "test", "p": float(rng.uniform(0.2, 0.8)), "seed": _seed(rng)}):
        inputs = _about(x, param)
        with tally.case(1, f"dropout_forward on {inputs}", "test"):
            out = student.call("dropout_forward", x, param, reply=0)
            tally.add(mismatch("out in test mode", out, x, 0.0, f"{inputs}; test mode returns x unchanged",
                               bugs={"your test mode scales x by p: inverted dropout divides by p in train mode instead": x * param["p"]}),
                      "test")

    _seeding_cases(tally, student, rng, shape)
    for p in (float(rng.uniform(0.2, 0.5)), float(rng.uniform(0.5, 0.9))):
        _cache_case(tally, student, rng.standard_normal((int(rng.integers(5, 20)), int(rng.integers(5, 20)))),
                    {"mode": "train", "p": p, "seed": _seed(rng)})

    # float32 stays float32 in both modes.
    x = rng.standard_normal((int(rng.integers(20, 40)), int(rng.integers(20, 40)))).astype(np.float32)
    for param in ({"mode": "train", "p": float(rng.uniform(0.3, 0.7)), "seed": _seed(rng)},
                  {"mode": "test", "p": float(rng.uniform(0.3, 0.7))}):
        inputs = f"float32 {_about(x, param)}"
        with tally.case(1, f"dropout_forward on {inputs}", "float32"):
            out = student.call("dropout_forward", x, param, reply=0)
            if not isinstance(out, np.ndarray):
                tally.add(f"out is {describe_value(out)} ({inputs}); expected an array", "float32")
            elif out.dtype != np.float32:
                tally.add(f"out has dtype {out.dtype} ({inputs}); expected float32, x's dtype "
                          f"(a float64 mask, such as (rand < p) / p, promotes x * mask: cast it to x.dtype)", "float32")
            else:
                tally.add(None, "float32")

    x = rng.standard_normal((4, 5))
    param = {"mode": "eval", "p": float(rng.uniform(0.3, 0.7))}
    tally.add(error_failure(student, "dropout_forward", (x, param), "ValueError", _about(x, param),
                            "the docstring: a mode other than 'train' or 'test' raises ValueError"), "mode")
    return tally.result()


@register("dropout_backward", parts=BACKWARD_PARTS)
def dropout_backward(student: Student, rng: np.random.Generator, context: CheckContext) -> CheckResult:
    """dx on the reference forward's cache: train mode seeded, unseeded (its mask is not redrawn) and float32; test mode."""
    tally = Tally(BACKWARD_PARTS)
    shape = (int(rng.integers(6, 15)), int(rng.integers(6, 15)))
    cases = [({"mode": "train", "p": float(rng.uniform(0.2, 0.8)), "seed": _seed(rng)}, np.float64, "train"),
             ({"mode": "train", "p": float(rng.uniform(0.2, 0.8))}, np.float64, "train"),
             ({"mode": "train", "p": float(rng.uniform(0.2, 0.8))}, np.float32, "train"),
             ({"mode": "test", "p": float(rng.uniform(0.2, 0.8))}, np.float64, "test")]
    for param, dtype, part in cases:
        x, dout = rng.standard_normal(shape).astype(dtype), rng.standard_normal(shape).astype(dtype)
        inputs = f"{'float32 ' if dtype == np.float32 else ''}{_about(x, param)}"
        if "seed" not in param and param["mode"] == "train":
            inputs += " (no seed: the mask exists only in the cache)"
        global_seed = _seed(rng)  # makes the reference's unseeded mask reproducible
        mask = reference_cache(layers, "dropout_forward", (x, param), global_seed)[1]
        bugs = {} if mask is None else {
            "your dx is dout times the mask without the division by p": dout * (mask > 0),
            "your dx divides by p twice": dout * mask / param["p"]}
        check_backward(tally, student, "dropout_forward", "dropout_backward", (x, param), dout, ("dx",), inputs,
                       reference=layers, tol=1e-5 if dtype == np.float32 else TOL, part=part, global_seed=global_seed,
                       bugs=lambda expected, bugs=bugs: {"dx": bugs})
    return tally.result()
