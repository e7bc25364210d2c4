"""Hidden checks of the update rules of FullyConnectedNets (SGD with momentum, RMSProp, Adam).

Every rule is checked the same way: one step with ``config=None`` (the documented defaults and
zero state, where Adam's bias correction matters most), then twice several consecutive steps
from a random config, where the config the student's rule returned is passed to its next step,
as the Solver does; so state that is not stored back into the config shows up as a wrong next
step. Every config travels by value, so each call can be asked again.

Parts (``OPTIM_PARTS``): the first step, the consecutive steps, and the returned config.
"""
from __future__ import annotations

import copy
from typing import Callable

import numpy as np

from autograder.checks.compare import Tally, as_float_array, describe_shapes, describe_value, mismatch
from autograder.checks.registry import CheckContext, CheckResult, Part, register
from autograder.student import Student, StudentError
from dl import optim

TOL = 1e-7  # float64 steps computed in another order agree to ~1e-12 of their size
STEPS = 3

OPTIM_PARTS = {
    "first step": Part(1, "one step with config=None: the documented defaults, from zero state"),
    "steps": Part(2, "consecutive steps from given hyperparameters (and state), each returned config passed to the next step"),
    "config": Part(1, "the returned config holds every hyperparameter and the updated state for the next step"),
}
STATE = {  # the state each rule keeps in its config: key -> its value before the first step
    "sgd_momentum": {"velocity": np.zeros_like},
    "rmsprop": {"cache": np.zeros_like},
    "adam": {"m": np.zeros_like, "v": np.zeros_like, "t": lambda w: 0},
}


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


def _step_mismatch(next_w, expected_w: np.ndarray, w: np.ndarray, where: str, bugs: dict | None = None) -> str | None:
    """Compare the steps ``next_w - w``: an error in a small step would hide in next_w's rounding."""
    try:
        next_w = as_float_array(next_w, "next_w", w.shape)
    except StudentError as exc:
        return f"{exc} ({where})"
    known = {description: value - w for description, value in (bugs or {}).items()}
    return mismatch("the step next_w - w", next_w - w, expected_w - w, TOL, where, bugs=known)


def _config_mismatch(got, expected: dict, before: dict, when: str) -> str | None:
    """The first key of the reference config that the student's config lacks or holds a different value for.

    ``before`` holds the state the config had before the steps: a state key still holding it is
    named as not stored back.
    """
    if not isinstance(got, dict):
        return f"the returned config is {describe_value(got)}, not a dict (after {when})"
    for key, value in expected.items():
        if key not in got:
            return f"the returned config has no key {key!r} (after {when})"
        stale = f"config[{key!r}] still holds its value from before: store the updated {key} back into config"
        bugs = {stale: before[key]} if key in before else None
        failure = mismatch(f"config[{key!r}] after {when}", got[key], value, TOL, bugs=bugs)
        if failure:
            return failure
    return None


def _check_rule(name: str, reference: Callable, random_config: Callable, student: Student, rng: np.random.Generator,
                bugs: Callable | None = None) -> CheckResult:
    """The sub-checks shared by every rule; ``bugs(w, dw, config) -> {description: next_w of that bug}`` names known bugs."""
    tally = Tally(OPTIM_PARTS)
    shape = (int(rng.integers(2, 6)), int(rng.integers(2, 6)))
    w, dw = rng.standard_normal(shape), rng.standard_normal(shape)
    inputs = describe_shapes(w=w)

    def state_before(config: dict | None) -> dict:
        return {key: (config or {}).get(key, initial(w)) for key, initial in STATE[name].items()}

    with tally.case({"first step": 1, "config": 1}, f"{name}(w, dw, config=None) on {inputs}"):
        next_w, config = _split(student.call(name, w, dw, None), name)
        expected_w, expected_config = reference(w.copy(), dw.copy(), None)
        known = bugs(w, dw, None) if bugs else None
        tally.add(_step_mismatch(next_w, expected_w, w, f"{inputs} with config=None", known), "first step")
        tally.add(_config_mismatch(config, expected_config, state_before(None), f"one step with config=None, {inputs}"), "config")
    for with_state in (False, True):
        config = random_config(rng, shape, with_state)
        before, expected_config = state_before(config), copy.deepcopy(config)
        about = f"{STEPS} consecutive steps from a config with keys {sorted(config)}, {inputs}"
        with tally.case({"steps": 1, "config": 1}, f"{name}, {about}"):
            w, student_config, first_failure = rng.standard_normal(shape), config, None
            for step in range(1, STEPS + 1):
                dw = rng.standard_normal(shape)
                known = bugs(w, dw, copy.deepcopy(expected_config)) if bugs else None
                next_w, student_config = _split(student.call(name, w, dw, student_config), name)
                expected_w, expected_config = reference(w.copy(), dw.copy(), expected_config)
                first_failure = first_failure or _step_mismatch(next_w, expected_w, w, f"step {step} of {about}", known)
                w = expected_w  # the student's own returned config goes into the next step
            tally.add(first_failure, "steps")
            tally.add(_config_mismatch(student_config, expected_config, before, about), "config")
    return tally.result()


def _adam_bugs(w: np.ndarray, dw: np.ndarray, config: dict | None) -> dict[str, np.ndarray]:
    """Adam's step without bias correction, from the reference's own state update."""
    _, updated = optim.adam(w.copy(), dw.copy(), copy.deepcopy(config))
    uncorrected = w - updated["learning_rate"] * updated["m"] / (np.sqrt(updated["v"]) + updated["epsilon"])
    return {"your step lacks Adam's bias correction m / (1 - beta1**t), v / (1 - beta2**t)": uncorrected}


def _rmsprop_bugs(w: np.ndarray, dw: np.ndarray, config: dict | None) -> dict[str, np.ndarray]:
    """RMSProp's step with epsilon inside the square root."""
    _, updated = optim.rmsprop(w.copy(), dw.copy(), copy.deepcopy(config))
    inside = w - updated["learning_rate"] * dw / np.sqrt(updated["cache"] + updated["epsilon"])
    return {"your step adds epsilon inside the square root: divide by sqrt(cache) + epsilon": inside}


@register("sgd_momentum", parts=OPTIM_PARTS)
def sgd_momentum(student: Student, rng: np.random.Generator, context: CheckContext) -> CheckResult:
    """SGD with momentum: defaults, and consecutive steps keeping the velocity in the config."""
    return _check_rule("sgd_momentum", optim.sgd_momentum, _momentum_config, student, rng)


@register("rmsprop", parts=OPTIM_PARTS)
def rmsprop(student: Student, rng: np.random.Generator, context: CheckContext) -> CheckResult:
    """RMSProp: defaults, and consecutive steps keeping the squared-gradient cache in the config."""
    return _check_rule("rmsprop", optim.rmsprop, _rmsprop_config, student, rng, _rmsprop_bugs)


@register("adam", parts=OPTIM_PARTS)
def adam(student: Student, rng: np.random.Generator, context: CheckContext) -> CheckResult:
    """Adam: defaults (bias correction shows from the first step), and consecutive steps keeping m, v and t."""
    return _check_rule("adam", optim.adam, _adam_config, student, rng, _adam_bugs)
