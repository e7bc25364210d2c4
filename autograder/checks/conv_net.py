"""Hidden checks of ``ThreeLayerConvNet`` and of the one-epoch ConvNet saved in ConvolutionalNetworks.

- ``conv_net_params``: the student's constructor with small non-default sizes: parameter names
  and shapes (W2 is (F * H/2 * W/2, hidden_dim): the pool halves the image), biases exactly
  zero, weight spread near weight_scale, every parameter of the requested dtype.
- ``conv_net_loss``: the student's model with parameters chosen here (set through its handle),
  compared with the reference model holding the same parameters: scores, loss and every
  gradient, with reg != 0. The student's model may use the fast layers, as the reference does.
- ``conv_net_one_epoch_accuracy``: the saved artifact (``dl.models.cnn.save_conv_net``) rebuilt
  as a reference model; its accuracy on held-out data gives the score (full credit from 0.40,
  linear partial credit from 0.30).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from autograder.checks.compare import Tally
from autograder.checks.models import (MAX_ARTIFACT_MB, MAX_PARAMETERS, MODEL, accuracy_result, build_student_model, compare_scores,
                                      compare_train_step, ReferenceModels, param_failures, saved_model_problem, weight_statistics)
from autograder.checks.fc_net import FC_LAYERS
from autograder.checks.registry import CheckContext, CheckResult, register
from autograder.student import Student
from dl.models.cnn import ThreeLayerConvNet, load_conv_net

TOL = 1e-6  # float64 passes through naive or fast convolutions agree to ~1e-12
FULL_CREDIT_ACCURACY = 0.40
ZERO_CREDIT_ACCURACY = 0.30
EVAL_BATCH = 100  # the im2col matrix of a batch of 100 CIFAR images with 7x7 filters is ~60 MB in float32
MAX_MACS_PER_IMAGE = 200_000_000  # the curriculum's net needs ~9e6 multiply-adds per 3x32x32 image


def _describe(arch: dict, **extra) -> str:
    options = {**arch, **extra}
    return "ThreeLayerConvNet(" + ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in options.items()) + ")"


def _architecture(rng: np.random.Generator, filter_size: int) -> dict:
    """Small non-default sizes: a non-square even image, few filters, a small hidden layer."""
    h = 2 * int(rng.integers(2, 4))
    return {"input_dim": (int(rng.integers(1, 4)), h, h + 2 * int(rng.integers(1, 3))), "num_filters": int(rng.integers(2, 5)),
            "filter_size": filter_size, "hidden_dim": int(rng.integers(4, 10)), "num_classes": int(rng.integers(3, 7))}


def _reference_model(arch: dict, reg: float = 0.0) -> ThreeLayerConvNet:
    """The reference in float64 (its initial weights come from numpy's global RNG and are replaced or unused)."""
    return ThreeLayerConvNet(**arch, reg=reg, dtype=np.float64)


@register("conv_net_params")
def conv_net_params(student: Student, rng: np.random.Generator, context: CheckContext) -> CheckResult:
    """Names and shapes of ``params``, zero biases, the weights' spread and dtype, for two small architectures."""
    tally = Tally()
    for filter_size, dtype in ((3, np.float64), (5, np.float32)):
        arch = _architecture(rng, filter_size)
        weight_scale = float(10 ** rng.uniform(-3, -1))
        about = _describe(arch, weight_scale=weight_scale, dtype=f"np.{np.dtype(dtype).name}")
        with tally.case(5, about):
            build_student_model(student, "ThreeLayerConvNet", {**arch, "weight_scale": weight_scale, "dtype": dtype})
            params = student.get_attr(MODEL, "params")
            expected = {name: value.shape for name, value in _reference_model(arch).params.items()}
            names, shapes, present = param_failures(params, expected, about)
            if "W2" in present and present["W2"].shape != expected["W2"]:
                shapes += "; W2 has one row per value of the pooled conv output: num_filters * H/2 * W/2"
            tally.add(names)
            tally.add(shapes)
            nonzero = [name for name, value in present.items() if name.startswith("b") and np.any(value != 0)]
            tally.add(None if not nonzero else f"{about}: biases {nonzero} are not all exactly zero")
            tally.add(weight_statistics(present, weight_scale, about))
            raw = {name: params[name] for name in present}
            dtypes = [f"{name} is {np.asarray(value).dtype}" for name, value in raw.items() if np.asarray(value).dtype != dtype]
            tally.add(None if not dtypes else f"{about}: " + "; ".join(dtypes) + f"; every parameter must be {np.dtype(dtype).name}")
    return tally.result()


@register("conv_net_loss")
def conv_net_loss(student: Student, rng: np.random.Generator, context: CheckContext) -> CheckResult:
    """Scores, loss and every gradient of the student's model holding parameters chosen here, reg != 0."""
    tally = Tally()
    for filter_size in (3, 5):
        arch = _architecture(rng, filter_size)
        reg = float(rng.uniform(0.1, 2.0))
        n = int(rng.integers(2, 5))
        X = rng.standard_normal((n, *arch["input_dim"]))
        y = rng.integers(0, arch["num_classes"], size=n)
        reference = _reference_model(arch, reg)
        params = {}
        for name, value in reference.params.items():
            fan_in = np.prod(value.shape[1:]) if name == "W1" else value.shape[0]  # W1 is (F, C, fs, fs)
            scale = 1 / np.sqrt(fan_in) if name.startswith("W") else 0.5
            params[name] = scale * rng.standard_normal(value.shape)
        reference.params = {name: value.copy() for name, value in params.items()}
        about = f"{_describe(arch, reg=reg, dtype='np.float64')} with parameters set by the grader, X of shape {X.shape}"
        with tally.case(2 + len(params), about):
            build_student_model(student, "ThreeLayerConvNet", {**arch, "reg": reg, "dtype": np.float64}, params)
            models = ReferenceModels(reference, student, FC_LAYERS)
            tally.add(compare_scores(student, models, X, TOL, "the scores of loss(X)", about))
            compare_train_step(tally, student, models, X, y, params, TOL, about)
    return tally.result()


# --------------------------------------------------------------------------------------------
# The saved one-epoch model


def _fit_problem(model: ThreeLayerConvNet, image_shape: tuple[int, ...]) -> str | None:
    """A message if the saved model cannot classify images of ``image_shape`` or would take too long to."""
    W1, W2, W3 = (model.params[k] for k in ("W1", "W2", "W3"))
    F, C, fs, _ = W1.shape
    if len(image_shape) != 3 or image_shape[0] != C or image_shape[1] % 2 or image_shape[2] % 2 \
            or W2.shape[0] != F * (image_shape[1] // 2) * (image_shape[2] // 2):
        return (f"the saved model does not fit the {tuple(image_shape)} images: its W1 is {W1.shape} and its W2 {W2.shape}; "
                f"train it with input_dim={tuple(image_shape)}")
    macs = F * C * fs * fs * image_shape[1] * image_shape[2] + W2.size + W3.size
    if macs > MAX_MACS_PER_IMAGE:
        return f"the saved model needs {macs:.2g} multiply-adds per image, more than the grader allows ({MAX_MACS_PER_IMAGE:.0e})"
    return None


@register("conv_net_one_epoch_accuracy", datasets=("cifar10",))
def conv_net_one_epoch_accuracy(student: Student | None, rng: np.random.Generator, context: CheckContext) -> CheckResult:
    """Accuracy on the validation split of the saved model, rebuilt as a reference ``ThreeLayerConvNet``.

    The artifact is read by ``dl.models.cnn.load_conv_net`` (pickle-free, validated, sizes bounded
    before anything is built); no student code runs.
    """
    name = context.unit.artifact
    directory = Path(context.artifacts_dir) if context.artifacts_dir is not None else Path("artifacts")
    problem = saved_model_problem(directory, name, "run the cell that trains your ConvNet for one epoch and saves it")
    if problem:
        return problem
    try:
        model = load_conv_net(name, directory, max_parameters=MAX_PARAMETERS, max_bytes=MAX_ARTIFACT_MB * 2**20)
    except (ValueError, FileNotFoundError) as exc:
        return CheckResult("failed", 0.0, f"artifacts/{name} cannot be used: {str(exc).replace(str(directory), 'artifacts')}")
    data = context.dataset("cifar10")
    problem = _fit_problem(model, data["X_val"].shape[1:])
    if problem:
        return CheckResult("failed", 0.0, problem)
    return accuracy_result(model, data, FULL_CREDIT_ACCURACY, ZERO_CREDIT_ACCURACY, EVAL_BATCH)
