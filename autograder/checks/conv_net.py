"""Hidden checks of ``ThreeLayerConvNet`` and of the one-epoch ConvNet saved in ConvolutionalNetworks.

- ``conv_net_params``: the student's constructor with small non-default sizes, built right after
  the grader seeds numpy's global RNG in the student's process: parameter names and shapes (W2 is
  (F * H/2 * W/2, hidden_dim): the pool halves the image), and the initial values against the
  reference built after the same seed (W1, W2, W3 drawn in this order, biases exactly zero), every
  parameter of the requested dtype. The notebook's printed losses and training runs depend on
  that order.
- ``conv_net_loss``: the student's model with parameters chosen here (set through its handle),
  compared with the reference model holding the same parameters, or with the reference model run
  on the student's own FullyConnectedNets layers (:class:`ReferenceModels`; a layer's bug costs
  that layer's unit only): scores, loss and every gradient, with reg != 0. The student's model may
  use the fast layers, as the reference does.
- ``conv_net_one_epoch_accuracy``: the saved artifact (``dl.models.cnn.save_conv_net``) rebuilt
  as a reference model; its accuracy on held-out data gives the score (full credit from 0.40,
  linear partial credit from 0.30).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from autograder.checks.compare import Tally, keep_global_rng, mismatch
from autograder.checks.models import (MAX_ARTIFACT_MB, MAX_PARAMETERS, MODEL, accuracy_result, build_student_model, compare_scores,
                                      compare_train_step, ReferenceModels, param_failures, saved_model_problem)
from autograder.checks.fc_net import FC_LAYERS
from autograder.checks.registry import CheckContext, CheckResult, Part, register
from autograder.student import Student
from dl.models.cnn import ThreeLayerConvNet, load_conv_net

TOL = 1e-6  # float64 passes through naive or fast convolutions agree to ~1e-12
F32_TOL = 1e-5  # float32 weights against the float64 reference's draws: rounding only
FULL_CREDIT_ACCURACY = 0.40
ZERO_CREDIT_ACCURACY = 0.30
EVAL_BATCH = 100  # the im2col matrix of a batch of 100 CIFAR images with 7x7 filters is ~60 MB in float32
MAX_MACS_PER_IMAGE = 200_000_000  # the curriculum's net needs ~9e6 multiply-adds per 3x32x32 image
WEIGHTS = ("W1", "W2", "W3")


def _describe(arch: dict, dtype, extra: str = "") -> str:
    """The constructor call of a message: sizes and dtype; hidden scalars (weight_scale, reg) only named."""
    options = ", ".join(f"{k}={v}" for k, v in arch.items())
    return f"ThreeLayerConvNet({options}, dtype=np.{np.dtype(dtype).name}){extra}"


def _architecture(rng: np.random.Generator, filter_size: int) -> dict:
    """Small non-default sizes: a non-square even image, few filters, a small hidden layer."""
    h = 2 * int(rng.integers(2, 4))
    return {"input_dim": (int(rng.integers(1, 4)), h, h + 2 * int(rng.integers(1, 3))), "num_filters": int(rng.integers(2, 5)),
            "filter_size": filter_size, "hidden_dim": int(rng.integers(4, 10)), "num_classes": int(rng.integers(3, 7))}


def _reference_model(arch: dict, reg: float = 0.0) -> ThreeLayerConvNet:
    """The reference in float64 (its initial weights come from numpy's global RNG and are replaced or unused)."""
    with keep_global_rng():
        return ThreeLayerConvNet(**arch, reg=reg, dtype=np.float64)


def _seeded_params(arch: dict, weight_scale: float, dtype, seed: int) -> dict[str, np.ndarray]:
    """The reference's initial params, built right after ``np.random.seed(seed)`` (numpy's global RNG kept)."""
    with keep_global_rng():
        np.random.seed(seed)
        return ThreeLayerConvNet(**arch, weight_scale=weight_scale, dtype=dtype).params


def _drawn_in_order(shapes: dict[str, tuple], weight_scale: float, seed: int, order: tuple[str, ...]) -> dict[str, np.ndarray]:
    """What a constructor gives that draws the weights ``weight_scale * randn`` in ``order`` after the seed (a known bug's output)."""
    draws = np.random.RandomState(seed)  # the stream np.random.seed(seed) starts
    return {name: weight_scale * draws.randn(*shapes[name]) for name in order}


CONV_NET_PARAMS_PARTS = {
    "structure": Part(1, "names and shapes of params (W2 sized for the pooled output)"),
    "init": Part(1, "after np.random.seed: W1, W2, W3 = weight_scale * randn drawn in this order, zero biases, every parameter "
                    "of the requested dtype (the notebook's printed losses and training runs)", strict=True),
}


@register("conv_net_params", parts=CONV_NET_PARAMS_PARTS)
def conv_net_params(student: Student, rng: np.random.Generator, context: CheckContext) -> CheckResult:
    """Names and shapes of ``params``; the initial values after a seed, zero biases and the dtype, for two small architectures."""
    tally = Tally(CONV_NET_PARAMS_PARTS)
    for filter_size, dtype in ((3, np.float64), (5, np.float32)):
        arch = _architecture(rng, filter_size)
        weight_scale = float(10 ** rng.uniform(-3, -1))
        seed = int(rng.integers(0, 2**31 - 1))
        about = _describe(arch, dtype, " with its own weight_scale, built right after seeding numpy's global RNG")
        with tally.case(3, about, "structure"):
            with keep_global_rng():  # in-process, the student's RNG is the grader's
                student.seed_numpy(seed)
                build_student_model(student, "ThreeLayerConvNet", {**arch, "weight_scale": weight_scale, "dtype": dtype})
            params = student.get_attr(MODEL, "params")
            expected = {name: value.shape for name, value in _reference_model(arch).params.items()}
            names, shapes, present = param_failures(params, expected, about)
            if "W2" in present and present["W2"].shape != expected["W2"]:
                shapes += "; W2 has one row per value of the pooled conv output: num_filters * H/2 * W/2"
            tally.add(names, "structure")
            tally.add(shapes, "structure")
            tally.add(_init_problem(params, arch, weight_scale, seed, dtype, about), "init")
    return tally.result()


def _init_problem(params: dict, arch: dict, weight_scale: float, seed: int, dtype, about: str) -> str | None:
    """None when ``params`` hold the reference's initial values after ``seed`` (zero biases), all of ``dtype``."""
    expected = _seeded_params(arch, weight_scale, dtype, seed)
    swapped = _drawn_in_order({name: value.shape for name, value in expected.items()}, weight_scale, seed, ("W1", "W3", "W2"))
    tol = F32_TOL if dtype == np.float32 else TOL
    for name in WEIGHTS:
        if name not in params:
            return f"params has no {name!r} ({about})"
        bugs = {"your weights are not drawn in the order W1, W2, W3 (the biases draw nothing in between)": swapped[name],
                "your weights are not multiplied by weight_scale": expected[name] / weight_scale}
        problem = mismatch(f"params[{name!r}]", params[name], expected[name], tol, about, bugs=bugs)
        if problem:
            return problem + ("; W1, W2, W3 are weight_scale * np.random.randn(...) drawn in this order, with nothing else "
                              "drawn and no reseeding in the constructor")
    nonzero = [name for name in ("b1", "b2", "b3") if name in params and np.any(np.asarray(params[name]) != 0)]
    if nonzero:
        return f"{about}: biases {nonzero} are not all exactly zero"
    wrong = [f"{name} is {np.asarray(value).dtype}" for name, value in params.items() if np.asarray(value).dtype != dtype]
    return (f"{about}: " + "; ".join(wrong) + f"; every parameter must be {np.dtype(dtype).name}") if wrong else None


CONV_NET_LOSS_PARTS = {
    "scores": Part(1, "loss(X): the class scores, what the model predicts", strict=True),
    "training": Part(1, "loss(X, y): the softmax loss plus 0.5 * reg * the squared weights, and every gradient", strict=True),
}


@register("conv_net_loss", parts=CONV_NET_LOSS_PARTS)
def conv_net_loss(student: Student, rng: np.random.Generator, context: CheckContext) -> CheckResult:
    """Scores, loss and every gradient of the student's model holding parameters chosen here, reg != 0."""
    tally = Tally(CONV_NET_LOSS_PARTS)
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
        about = _describe(arch, np.float64, f" with reg > 0 and parameters set by the grader, X of shape {X.shape}")
        models = ReferenceModels(reference, student, FC_LAYERS)
        with tally.case(1, about, "scores"):
            build_student_model(student, "ThreeLayerConvNet", {**arch, "reg": reg, "dtype": np.float64}, params)
            tally.add(compare_scores(student, models, X, TOL, "the scores of loss(X)", about), "scores")
        with tally.case(1 + len(params), about, "training"):
            build_student_model(student, "ThreeLayerConvNet", {**arch, "reg": reg, "dtype": np.float64}, params)
            compare_train_step(tally, student, models, X, y, params, TOL, about, part="training")
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
