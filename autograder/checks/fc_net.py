"""Hidden checks of ``FullyConnectedNet`` and of the saved best model of FullyConnectedNets.

- ``fc_net_params``: the student's constructor for 0, 1, 2 and 4 hidden layers of random sizes,
  after seeding numpy's global RNG in the student's program: parameter names, shapes and dtype,
  and the documented initialisation (``W_i = weight_scale * np.random.randn(in_i, out_i)`` in
  the order W1, W2, ..., biases zero), compared value by value with the reference seeded alike.
- ``fc_net_loss``: the student's model with parameters chosen here (set through its handle),
  compared with the reference model holding the same parameters, and with the same reference run
  on the student's own layer functions (:class:`autograder.checks.models.ReferenceModels`: a bug
  in a layer costs only the layer's unit): test-mode scores, then the loss and every gradient
  without and with regularisation.
- ``fc_best_model_accuracy``: the saved artifact (``dl.models.fc_net.save_fc_net``) rebuilt as a
  reference model; its accuracy on held-out data gives the score (full credit from 0.50, linear
  partial credit from 0.40).

The weights of each check's parts are written beside it (``*_PARTS``) and shown in docs/grading.md.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from autograder.checks.compare import Tally, keep_global_rng, mismatch
from autograder.checks.models import (MAX_ARTIFACT_MB, MAX_PARAMETERS, MODEL, accuracy_result, build_student_model, compare_scores,
                                      compare_train_step, ReferenceModels, param_failures, saved_model_problem, weight_statistics)
from autograder.checks.registry import CheckContext, CheckResult, Part, register, single_part
from autograder.student import Student
from dl.models.fc_net import FullyConnectedNet, load_fc_net

TOL = 1e-7  # float64 forward and backward passes in another order agree to ~1e-12
FULL_CREDIT_ACCURACY = 0.50
ZERO_CREDIT_ACCURACY = 0.40
EVAL_BATCH = 500
FC_LAYERS = ("affine_forward", "affine_backward", "relu_forward", "relu_backward", "softmax_loss")  # the student's, in FullyConnectedNets


def _reference_model(hidden_dims: list[int], input_dim: int, num_classes: int, **options) -> FullyConnectedNet:
    """The reference model; its initial weights come from numpy's global RNG, which is left as it was."""
    with keep_global_rng():
        return FullyConnectedNet(hidden_dims, input_dim=input_dim, num_classes=num_classes, **options)


def _describe(hidden_dims, input_dim, num_classes, **options) -> str:
    """The constructor call for a message, with ``options`` (a dtype as ``np.float32``); pass no hidden scalar (reg, weight_scale)."""
    def shown(value) -> str:
        if isinstance(value, type) and issubclass(value, np.generic):
            return f"np.{np.dtype(value).name}"
        return f"{value:.3g}" if isinstance(value, float) else f"{value}"
    return (f"FullyConnectedNet({hidden_dims}, input_dim={input_dim}, num_classes={num_classes}"
            + "".join(f", {key}={shown(value)}" for key, value in options.items()) + ")")


FC_NET_PARAMS_PARTS = {
    "shapes": Part(1, "params holds W1..WL and b1..bL, each of its layer's shape and of the model's dtype"),
    "init": Part(1.5, "numpy's global RNG seeded: W_i = weight_scale * np.random.randn(in_i, out_i), drawn in the order "
                      "W1, W2, ..., WL without reseeding, and biases zero (the notebook's printed losses rely on it)", strict=True),
}


def _init_failure(got: dict[str, np.ndarray], expected: dict[str, np.ndarray], weight_scale: float, about: str) -> str | None:
    """The first weight that differs from the reference's seeded draw, with what its spread says, or None."""
    for name, value in expected.items():
        if not name.startswith("W") or mismatch(name, got[name], value, TOL) is None:
            continue
        spread = weight_statistics({name: got[name]}, weight_scale, f"{about}: {name}")
        if spread:
            return spread
        return (f"{about}: {name} has the spread of weight_scale * np.random.randn but other values than the seeded draw; "
                f"draw W1, W2, ..., WL in this order from numpy's global RNG (np.random.randn), biases without random "
                f"numbers, and do not reseed")
    return None


@register("fc_net_params", parts=FC_NET_PARAMS_PARTS)
def fc_net_params(student: Student, rng: np.random.Generator, context: CheckContext) -> CheckResult:
    """Names, shapes, dtype and seeded initial values of ``params``, for 0, 1, 2 and 4 hidden layers."""
    tally = Tally(FC_NET_PARAMS_PARTS)
    for depth, dtype in ((0, np.float64), (2, np.float64), (4, np.float64), (1, np.float32)):
        hidden = [int(h) for h in rng.integers(10, 40, size=depth)]
        input_dim, num_classes = int(rng.integers(50, 100)), int(rng.integers(5, 11))
        weight_scale, seed = float(10 ** rng.uniform(-3, -1)), int(rng.integers(2**31))
        about = f"{_describe(hidden, input_dim, num_classes, dtype=dtype)} with a weight_scale of the grader's after np.random.seed"
        with tally.case({"shapes": 3, "init": 2}, about):
            student.seed_numpy(seed)
            build_student_model(student, "FullyConnectedNet", {"hidden_dims": hidden, "input_dim": input_dim,
                                                               "num_classes": num_classes, "weight_scale": weight_scale, "dtype": dtype})
            with keep_global_rng():
                np.random.seed(seed)
                expected = FullyConnectedNet(hidden, input_dim=input_dim, num_classes=num_classes, weight_scale=weight_scale,
                                             dtype=dtype).params
            params = student.get_attr(MODEL, "params")
            names, shapes, present = param_failures(params, {name: value.shape for name, value in expected.items()}, about)
            tally.add(names, "shapes")
            tally.add(shapes, "shapes")
            wrong = sorted(name for name in expected if name in params and getattr(params[name], "dtype", None) != dtype)
            tally.add(f"{about}: {wrong} are not of the model's dtype {np.dtype(dtype).name}" if wrong else None, "shapes")
            nonzero = [name for name, value in present.items() if name.startswith("b") and np.any(value != 0)]
            tally.add(f"{about}: biases {nonzero} are not all exactly zero" if nonzero else None, "init")
            if names or shapes:
                tally.add(f"{about}: the initial values cannot be compared while params lacks names or has wrong shapes", "init")
            else:
                tally.add(_init_failure(present, expected, weight_scale, about), "init")
    return tally.result()


FC_NET_LOSS_PARTS = {
    "scores": Part(1, "test-mode scores loss(X): {affine - relu} x (L - 1), then a last affine"),
    "train": Part(1, "loss(X, y) with reg = 0: the softmax loss and the gradient of every parameter"),
    "reg": Part(1.5, "with reg > 0: 0.5 * reg * sum_i ||W_i||^2 added to the loss and reg * W_i to each weight's gradient, "
                     "the biases not regularised", strict=True),
}


def _regularisation_bugs(params: dict[str, np.ndarray], reg: float):
    """Known regularisation bugs: what loss and grads they give, from the expected ones."""
    weights = {name: value for name, value in params.items() if name.startswith("W")}
    biases = {name: value for name, value in params.items() if name.startswith("b")}
    penalty = 0.5 * reg * sum(float(np.sum(w * w)) for w in weights.values())
    bias_penalty = 0.5 * reg * sum(float(np.sum(b * b)) for b in biases.values())

    def bugs(loss, grads) -> dict:
        found = {"loss": {"your loss adds reg * sum_i ||W_i||^2 without the factor 0.5": loss + penalty,
                          "your loss lacks the regularisation term 0.5 * reg * sum_i ||W_i||^2": loss - penalty,
                          "your loss also regularises the biases": loss + bias_penalty}}
        for name, w in weights.items():
            found[name] = {f"your grads[{name!r}] lacks the regularisation term reg * {name}": grads[name] - reg * w,
                           f"your grads[{name!r}] adds 2 * reg * {name} instead of reg * {name}": grads[name] + reg * w}
        for name, b in biases.items():
            found[name] = {f"your grads[{name!r}] regularises the bias (only weights are)": grads[name] + reg * b}
        return found
    return bugs


@register("fc_net_loss", parts=FC_NET_LOSS_PARTS)
def fc_net_loss(student: Student, rng: np.random.Generator, context: CheckContext) -> CheckResult:
    """Scores, loss and every gradient of the student's model holding parameters chosen here, with reg = 0 and reg > 0."""
    tally = Tally(FC_NET_LOSS_PARTS)
    for depth, input_shape, regularised in ((0, (12,), False), (2, (3, 5), False), (1, (3, 5), True), (3, (20,), True)):
        hidden = [int(h) for h in rng.integers(5, 15, size=depth)]
        input_dim, num_classes = int(np.prod(input_shape)), int(rng.integers(3, 8))
        reg = float(rng.uniform(0.1, 2.0)) if regularised else 0.0
        n = int(rng.integers(3, 8))
        X = rng.standard_normal((n, *input_shape))
        y = rng.integers(0, num_classes, size=n)
        reference = _reference_model(hidden, input_dim, num_classes, reg=reg, dtype=np.float64)
        params = {}
        for name, value in reference.params.items():
            scale = 1 / np.sqrt(value.shape[0]) if name.startswith("W") else 0.5
            params[name] = scale * rng.standard_normal(value.shape)
        reference.params = {name: value.copy() for name, value in params.items()}
        about = (f"{_describe(hidden, input_dim, num_classes, dtype=np.float64)} with {'reg > 0' if regularised else 'reg = 0'} and parameters "
                 f"set by the grader, X of shape {X.shape}")
        part = "reg" if regularised else "train"
        with tally.case({"scores": 1, part: 1 + len(params)}, about):
            build_student_model(student, "FullyConnectedNet", {"hidden_dims": hidden, "input_dim": input_dim,
                                                               "num_classes": num_classes, "reg": reg, "dtype": np.float64},
                                params)
            models = ReferenceModels(reference, student, FC_LAYERS)
            tally.add(compare_scores(student, models, X, TOL, "scores = loss(X)", about), "scores")
            compare_train_step(tally, student, models, X, y, params, TOL, about, part=part,
                               bugs=_regularisation_bugs(params, reg) if regularised else None)
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


@register("fc_best_model_accuracy", datasets=("cifar10",),
          parts=single_part("validation accuracy of the saved model: full credit from 0.50, linear from 0.40"))
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
