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

from autograder.checks.compare import Tally
from autograder.checks.models import (MAX_ARTIFACT_MB, MAX_PARAMETERS, MODEL, accuracy_result, build_student_model, compare_scores,
                                      compare_train_step, ReferenceModels, param_failures, saved_model_problem, weight_statistics)
from autograder.checks.registry import CheckContext, CheckResult, register
from autograder.student import Student
from dl.models.fc_net import FullyConnectedNet, load_fc_net

TOL = 1e-7  # float64 forward and backward passes in another order agree to ~1e-12
FULL_CREDIT_ACCURACY = 0.50
ZERO_CREDIT_ACCURACY = 0.40
EVAL_BATCH = 500
FC_LAYERS = ("affine_forward", "affine_backward", "relu_forward", "relu_backward", "softmax_loss")  # the student's, in FullyConnectedNets


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
            build_student_model(student, "FullyConnectedNet", {"hidden_dims": hidden, "input_dim": input_dim,
                                                               "num_classes": num_classes, "weight_scale": weight_scale,
                                                               "dtype": np.float64})
            expected = {name: value.shape for name, value in _reference_model(hidden, input_dim, num_classes).params.items()}
            names, shapes, present = param_failures(student.get_attr(MODEL, "params"), expected, about)
            tally.add(names)
            tally.add(shapes)
            nonzero = [name for name, value in present.items() if name.startswith("b") and np.any(value != 0)]
            tally.add(None if not nonzero else f"{about}: biases {nonzero} are not all exactly zero")
            tally.add(weight_statistics(present, weight_scale, about))
    return tally.result()


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
            build_student_model(student, "FullyConnectedNet", {"hidden_dims": hidden, "input_dim": input_dim,
                                                               "num_classes": num_classes, "reg": reg, "dtype": np.float64},
                                params)
            models = ReferenceModels(reference, student, FC_LAYERS)
            tally.add(compare_scores(student, models, X, TOL, "the scores of loss(X)", about))
            compare_train_step(tally, student, models, X, y, params, TOL, about)
    return tally.result()


# --------------------------------------------------------------------------------------------
# The saved best model


def _too_large(json_path: Path) -> str | None:
    """A message if the saved architecture is too large to rebuild here (checked before building it)."""
    try:
        meta = json.loads(json_path.read_text(encoding="utf-8")).get("meta", {})
        dims = [meta.get("input_dim"), *meta.get("hidden_dims", []), meta.get("num_classes")]
    except (ValueError, OSError, AttributeError, TypeError, RecursionError):
        return None  # malformed: load_fc_net reports it
    if all(isinstance(d, int) for d in dims) and sum(a * b for a, b in zip(dims, dims[1:])) > MAX_PARAMETERS:
        return f"the saved model has more than {MAX_PARAMETERS} weights"
    return None


@register("fc_best_model_accuracy", datasets=("cifar10",))
def fc_best_model_accuracy(student: Student | None, rng: np.random.Generator, context: CheckContext) -> CheckResult:
    """Test-mode accuracy on the validation split of the saved model, rebuilt as a reference model.

    The artifact is read by ``dl.models.fc_net.load_fc_net`` (pickle-free, validated); no student
    code runs.
    """
    name = context.unit.artifact
    directory = Path(context.artifacts_dir) if context.artifacts_dir is not None else Path("artifacts")
    problem = saved_model_problem(directory, name, "run the cell that trains and saves your best model")
    if problem:
        return problem
    problem = _too_large(directory / f"{name}.json")
    if problem:
        return CheckResult("failed", 0.0, problem)
    try:
        model = load_fc_net(name, directory, max_bytes=MAX_ARTIFACT_MB * 2**20)
    except (ValueError, FileNotFoundError) as exc:
        return CheckResult("failed", 0.0, f"artifacts/{name} cannot be used: {str(exc).replace(str(directory), 'artifacts')}")
    except NotImplementedError as exc:
        return CheckResult("failed", 0.0, f"artifacts/{name} cannot be graded yet: {exc}")
    data = context.dataset("cifar10")
    input_dim, image_size = model.params["W1"].shape[0], int(np.prod(data["X_val"].shape[1:]))
    if image_size != input_dim:
        return CheckResult("failed", 0.0, f"the saved model takes inputs of size {input_dim}; the images have {image_size} values")
    return accuracy_result(model, data, FULL_CREDIT_ACCURACY, ZERO_CREDIT_ACCURACY, EVAL_BATCH)
