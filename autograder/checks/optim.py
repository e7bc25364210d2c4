"""Hidden checks of the update rules of FullyConnectedNets (SGD with momentum, RMSProp, Adam).

Every rule is checked the same way: one step with ``config=None`` (all defaults filled in),
then twice several consecutive steps from a random config, where the config the student's
rule returned is passed, inside the worker, to its next step; so state that is not stored back
into the config shows up as a wrong next step.
"""
from __future__ import annotations

import copy
from typing import Callable

import numpy as np

from autograder.checks.compare import Tally, as_float_array, describe_shapes, describe_value, mismatch
from autograder.checks.registry import CheckContext, CheckResult, register
from autograder.protocol import Handle
from autograder.student import Student, StudentError
from dl import optim

TOL = 1e-7  # float64 steps computed in another order agree to ~1e-12 of their size
STEPS = 3


def _learning_rate(rng: np.random.Generator) -> float:
    return float(10 ** rng.uniform(-3, -1))


def _momentum_config(rng: np.random.Generator, shape: tuple, with_state: bool) -> dict:
    config = {"learning_rate": _learning_rate(rng), "momentum": float(rng.uniform(0.5, 0.99))}
    if with_state:
        config["velocity"] = 0.1 * rng.standard_normal(shape)
    return config


def _rmsprop_config(rng: np.random.Generator, shape: tuple, with_state: bool) -> dict:
    config = {"learning_rate": _learning_rate(rng), "decay_rate": float(rng.uniform(0.9, 0.999))}
    if with_state:
        config["epsilon"] = float(10 ** rng.uniform(-8, -4))
        config["cache"] = rng.random(shape)
    return config


def _adam_config(rng: np.random.Generator, shape: tuple, with_state: bool) -> dict:
    config = {"learning_rate": _learning_rate(rng), "beta1": float(rng.uniform(0.8, 0.95)), "beta2": float(rng.uniform(0.99, 0.9999))}
    if with_state:
        config["epsilon"] = float(10 ** rng.uniform(-8, -4))
        config["m"] = 0.1 * rng.standard_normal(shape)
        config["v"] = 0.1 * rng.random(shape)
        config["t"] = int(rng.integers(1, 10))
    return config


def _split(got, name: str):
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        raise StudentError(f"{name} returned {describe_value(got)}; expected a tuple (next_w, config)")
    return got


def _step_mismatch(next_w, expected_w: np.ndarray, w: np.ndarray, where: str) -> str | None:
    """Compare the steps ``next_w - w``: an error in a small step would hide in next_w's rounding."""
    try:
        next_w = as_float_array(next_w, "next_w", w.shape)
    except StudentError as exc:
        return f"{exc} ({where})"
    return mismatch("the step next_w - w", next_w - w, expected_w - w, TOL, where)


def _config_mismatch(got, expected: dict, when: str) -> str | None:
    """The first key of the reference config that the student's config lacks or holds a different value for."""
    if not isinstance(got, dict):
        return f"the returned config is {describe_value(got)}, not a dict ({when})"
    for key, value in expected.items():
        if key not in got:
            return f"the returned config has no key {key!r} ({when})"
        failure = mismatch(f"config[{key!r}]", got[key], value, TOL, when)
        if failure:
            return failure
    return None


def _check_rule(name: str, reference: Callable, random_config: Callable, student: Student, rng: np.random.Generator) -> CheckResult:
    tally = Tally()
    shape = (int(rng.integers(2, 6)), int(rng.integers(2, 6)))
    w, dw = rng.standard_normal(shape), rng.standard_normal(shape)
    inputs = describe_shapes(w=w)
    with tally.case(2, f"{name}(w, dw, config=None) on {inputs}"):
        next_w, config = _split(student.call(name, w, dw, None), name)
        expected_w, expected_config = reference(w.copy(), dw.copy(), None)
        tally.add(_step_mismatch(next_w, expected_w, w, f"{inputs} with config=None"))
        tally.add(_config_mismatch(config, expected_config, f"one step with config=None on {inputs}"))
    for with_state in (False, True):
        config = random_config(rng, shape, with_state)
        expected_config = copy.deepcopy(config)
        about = f"{STEPS} consecutive steps from a config with keys {sorted(config)}, {inputs}"
        with tally.case(2, f"{name}, {about}"):
            w, argument, first_failure = rng.standard_normal(shape), config, None
            for step in range(1, STEPS + 1):
                dw = rng.standard_normal(shape)
                next_w, student_config = _split(student.call(name, w, dw, argument, store={"config": 1}), name)
                expected_w, expected_config = reference(w.copy(), dw.copy(), expected_config)
                first_failure = first_failure or _step_mismatch(next_w, expected_w, w, f"step {step} of {about}")
                argument, w = Handle("config"), expected_w  # the student's own returned config goes into the next step
            tally.add(first_failure)
            tally.add(_config_mismatch(student_config, expected_config, f"after {about}"))
    return tally.result()


@register("sgd_momentum")
def sgd_momentum(student: Student, rng: np.random.Generator, context: CheckContext) -> CheckResult:
    """SGD with momentum: defaults, and consecutive steps keeping the velocity in the config."""
    return _check_rule("sgd_momentum", optim.sgd_momentum, _momentum_config, student, rng)


@register("rmsprop")
def rmsprop(student: Student, rng: np.random.Generator, context: CheckContext) -> CheckResult:
    """RMSProp: defaults, and consecutive steps keeping the squared-gradient cache in the config."""
    return _check_rule("rmsprop", optim.rmsprop, _rmsprop_config, student, rng)


@register("adam")
def adam(student: Student, rng: np.random.Generator, context: CheckContext) -> CheckResult:
    """Adam: defaults (bias correction shows from the first step), and consecutive steps keeping m, v and t."""
    return _check_rule("adam", optim.adam, _adam_config, student, rng)
