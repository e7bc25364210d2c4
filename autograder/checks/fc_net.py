"""Hidden checks of ``FullyConnectedNet`` and of the saved best model of FullyConnectedNets.

- ``fc_net_params``: the student's constructor for 0, 2 and 4 hidden layers of random sizes:
  parameter names and shapes, biases exactly zero, weight standard deviation near weight_scale.
- ``fc_net_loss``: the student's model with parameters chosen here (set through its handle),
  compared with the reference model holding the same parameters: scores, loss and every
  gradient, with reg != 0.
- ``fc_best_model_accuracy``: the saved artifact (``dl.models.fc_net.save_fc_net``) rebuilt as a
  reference model; its accuracy on held-out data gives the score (full credit from 0.50, linear
  partial credit from 0.40).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from autograder.checks.compare import Tally, as_float_array, describe_value, mismatch
from autograder.checks.registry import CheckContext, CheckResult, register
from autograder.protocol import Handle
from autograder.student import Student, StudentError
from dl.models.fc_net import FullyConnectedNet, load_fc_net

TOL = 1e-7  # float64 forward and backward passes in another order agree to ~1e-12
FULL_CREDIT_ACCURACY = 0.50
ZERO_CREDIT_ACCURACY = 0.40
MAX_ARTIFACT_MB = 400
MAX_PARAMETERS = 50_000_000
EVAL_BATCH = 500


def _reference_model(hidden_dims: list[int], input_dim: int, num_classes: int, reg: float = 0.0) -> FullyConnectedNet:
    """The reference in float64 (its initial weights come from numpy's global RNG and are replaced or unused)."""
    return FullyConnectedNet(hidden_dims, input_dim=input_dim, num_classes=num_classes, reg=reg, dtype=np.float64)


def _describe(hidden_dims, input_dim, num_classes, **extra) -> str:
    options = "".join(f", {k}={v:.3g}" if isinstance(v, float) else f", {k}={v}" for k, v in extra.items())
    return f"FullyConnectedNet({hidden_dims}, input_dim={input_dim}, num_classes={num_classes}{options})"


@register("fc_net_params")
def fc_net_params(student: Student, rng: np.random.Generator, context: CheckContext) -> CheckResult:
    """Names and shapes of ``params``, zero biases and the weights' spread, for 0, 2 and 4 hidden layers."""
    tally = Tally()
    for depth in (0, 2, 4):
        hidden = [int(h) for h in rng.integers(10, 40, size=depth)]
        input_dim, num_classes = int(rng.integers(50, 100)), int(rng.integers(5, 11))
        weight_scale = float(10 ** rng.uniform(-3, -1))
        about = _describe(hidden, input_dim, num_classes, weight_scale=weight_scale)
        with tally.case(4, about):
            student.call("FullyConnectedNet", kwargs={"hidden_dims": hidden, "input_dim": input_dim, "num_classes": num_classes,
                                                      "weight_scale": weight_scale, "dtype": np.float64},
                         store={"model": "all"}, reply="none")
            params = student.get_attr(Handle("model"), "params")
            if not isinstance(params, dict):
                raise StudentError(f"model.params is {describe_value(params)}; expected a dict")
            expected = {name: value.shape for name, value in _reference_model(hidden, input_dim, num_classes).params.items()}
            missing, extra = sorted(set(expected) - set(params)), sorted(set(params) - set(expected), key=str)
            tally.add(None if not missing and not extra else f"{about}: params lacks {missing} and has unexpected {extra}")
            present = {name: as_float_array(params[name], f"params[{name!r}]") for name in expected if name in params}
            wrong = [f"{name} is {value.shape}, expected {expected[name]}"
                     for name, value in present.items() if value.shape != expected[name]]
            tally.add(None if not wrong else f"{about}: " + "; ".join(wrong))
            nonzero = [name for name, value in present.items() if name.startswith("b") and np.any(value != 0)]
            tally.add(None if not nonzero else f"{about}: biases {nonzero} are not all exactly zero")
            tally.add(_weight_statistics(present, weight_scale, about))
    return tally.result()


def _weight_statistics(params: dict[str, np.ndarray], weight_scale: float, about: str) -> str | None:
    """Pooled weights: standard deviation within sampling error of weight_scale, mean near zero."""
    weights = np.concatenate([value.ravel() for name, value in params.items() if name.startswith("W")] or [np.zeros(0)])
    if weights.size < 2:
        return f"{about}: no weights to check"
    std, mean = float(weights.std()), float(weights.mean())
    tolerance = max(0.1, 5 / np.sqrt(2 * weights.size))  # 5 standard errors of a sample std, at least 10%
    if abs(std / weight_scale - 1) > tolerance:
        return f"{about}: the weights have standard deviation {std:.3g}; expected about weight_scale = {weight_scale:.3g}"
    if abs(mean) > 5 * weight_scale / np.sqrt(weights.size):
        return f"{about}: the weights have mean {mean:.3g}; expected about 0"
    return None


@register("fc_net_loss")
def fc_net_loss(student: Student, rng: np.random.Generator, context: CheckContext) -> CheckResult:
    """Scores, loss and every gradient of the student's model holding parameters chosen here, reg != 0."""
    tally = Tally()
    for depth, input_shape in ((0, (12,)), (1, (3, 5)), (3, (20,))):
        hidden = [int(h) for h in rng.integers(5, 15, size=depth)]
        input_dim, num_classes = int(np.prod(input_shape)), int(rng.integers(3, 8))
        reg = float(rng.uniform(0.1, 2.0))
        n = int(rng.integers(3, 8))
        X = rng.standard_normal((n, *input_shape))
        y = rng.integers(0, num_classes, size=n)
        reference = _reference_model(hidden, input_dim, num_classes, reg)
        params = {}
        for name, value in reference.params.items():
            scale = 1 / np.sqrt(value.shape[0]) if name.startswith("W") else 0.5
            params[name] = scale * rng.standard_normal(value.shape)
        reference.params = {name: value.copy() for name, value in params.items()}
        about = f"{_describe(hidden, input_dim, num_classes, reg=reg)} with parameters set by the grader, X of shape {X.shape}"
        with tally.case(2 + len(params), about):
            student.call("FullyConnectedNet", kwargs={"hidden_dims": hidden, "input_dim": input_dim, "num_classes": num_classes,
                                                      "reg": reg, "dtype": np.float64},
                         store={"model": "all"}, reply="none")
            for name, value in params.items():
                student.set_item(Handle("model"), "params", name, value)
            tally.add(mismatch("the scores of loss(X)", student.call_method(Handle("model"), "loss", X), reference.loss(X), TOL, about))
            got = student.call_method(Handle("model"), "loss", X, y)
            if not isinstance(got, (tuple, list)) or len(got) != 2 or not isinstance(got[1], dict):
                raise StudentError(f"loss(X, y) returned {describe_value(got)}; expected a tuple (loss, grads dict)")
            loss, grads = reference.loss(X, y)
            tally.add(mismatch("the loss of loss(X, y)", got[0], loss, TOL, about))
            for name in params:
                if name not in got[1]:
                    tally.add(f"grads has no {name!r} ({about})")
                else:
                    tally.add(mismatch(f"grads[{name!r}]", got[1][name], grads[name], TOL, about))
    return tally.result()


# --------------------------------------------------------------------------------------------
# The saved best model


def _too_large(json_path: Path) -> str | None:
    """A message if the saved architecture is too large to rebuild here (checked before building it)."""
    try:
        meta = json.loads(json_path.read_text(encoding="utf-8")).get("meta", {})
        dims = [meta.get("input_dim"), *meta.get("hidden_dims", []), meta.get("num_classes")]
    except (ValueError, OSError, AttributeError, TypeError):
        return None  # malformed: load_fc_net reports it
    if all(isinstance(d, int) for d in dims) and sum(a * b for a, b in zip(dims, dims[1:])) > MAX_PARAMETERS:
        return f"the saved model has more than {MAX_PARAMETERS} weights"
    return None


def _accuracy(model: FullyConnectedNet, X: np.ndarray, y: np.ndarray) -> float:
    predictions = [np.argmax(model.loss(X[i : i + EVAL_BATCH]), axis=1) for i in range(0, len(X), EVAL_BATCH)]
    return float(np.mean(np.concatenate(predictions) == y))


def default_data() -> dict:
    """The CIFAR-10 split the notebooks use (``dl.data.get_cifar10_data()``; smoke mode shrinks it)."""
    from dl.data import get_cifar10_data

    return get_cifar10_data()


@register("fc_best_model_accuracy")
def fc_best_model_accuracy(student: Student | None, rng: np.random.Generator, context: CheckContext) -> CheckResult:
    """Test-mode accuracy on the validation split of the saved model, rebuilt as a reference model.

    The artifact is read by ``dl.models.fc_net.load_fc_net`` (pickle-free, validated); no student
    code runs.
    """
    name = context.unit.artifact
    directory = Path(context.artifacts_dir) if context.artifacts_dir is not None else Path("artifacts")
    for suffix in (".npz", ".json"):
        path = directory / f"{name}{suffix}"
        if not path.is_file():
            return CheckResult("failed", 0.0, f"artifacts/{name}{suffix} is missing from your submission; "
                                              f"run the cell that trains and saves your best model")
        if path.stat().st_size > MAX_ARTIFACT_MB * 2**20:
            return CheckResult("failed", 0.0, f"artifacts/{name}{suffix} is over {MAX_ARTIFACT_MB} MiB")
    problem = _too_large(directory / f"{name}.json")
    if problem:
        return CheckResult("failed", 0.0, problem)
    try:
        model = load_fc_net(name, directory)
    except (ValueError, FileNotFoundError) as exc:
        return CheckResult("failed", 0.0, f"artifacts/{name} cannot be used: {str(exc).replace(str(directory), 'artifacts')}")
    except NotImplementedError as exc:
        return CheckResult("failed", 0.0, f"artifacts/{name} cannot be graded yet: {exc}")
    data = (context.data or default_data)()
    X_val, y_val = data["X_val"], data["y_val"]
    input_dim, image_size = model.params["W1"].shape[0], int(np.prod(X_val.shape[1:]))
    if image_size != input_dim:
        return CheckResult("failed", 0.0, f"the saved model takes inputs of size {input_dim}; the images have {image_size} values")
    accuracy = _accuracy(model, X_val, y_val)
    score = (accuracy - ZERO_CREDIT_ACCURACY) / (FULL_CREDIT_ACCURACY - ZERO_CREDIT_ACCURACY)
    message = (f"validation accuracy {accuracy:.3f} on {len(y_val)} held-out images "
               f"(full credit from {FULL_CREDIT_ACCURACY:.2f}, partial credit from {ZERO_CREDIT_ACCURACY:.2f})")
    if data.get("X_test") is not None and len(data["X_test"]):
        message += f"; test accuracy {_accuracy(model, data['X_test'], data['y_test']):.3f}"
    return CheckResult.from_score(score, message)
