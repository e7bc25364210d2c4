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

from autograder.checks.compare import Tally, as_float_array, describe_value, mismatch
from autograder.checks.fc_net import MAX_ARTIFACT_MB, MAX_PARAMETERS, _weight_statistics, default_data
from autograder.checks.registry import CheckContext, CheckResult, register
from autograder.protocol import Handle
from autograder.student import Student, StudentError
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
            student.call("ThreeLayerConvNet", kwargs={**arch, "weight_scale": weight_scale, "dtype": dtype},
                         store={"model": "all"}, reply="none")
            params = student.get_attr(Handle("model"), "params")
            if not isinstance(params, dict):
                raise StudentError(f"model.params is {describe_value(params)}; expected a dict")
            expected = {name: value.shape for name, value in _reference_model(arch).params.items()}
            missing, extra = sorted(set(expected) - set(params)), sorted(set(params) - set(expected), key=str)
            tally.add(None if not missing and not extra else f"{about}: params lacks {missing} and has unexpected {extra}")
            raw = {name: params[name] for name in expected if name in params}
            present = {name: as_float_array(value, f"params[{name!r}]") for name, value in raw.items()}
            wrong = [f"{name} is {value.shape}, expected {expected[name]}" for name, value in present.items() if value.shape != expected[name]]
            if "W2" in present and present["W2"].shape != expected["W2"]:
                wrong.append("W2 has one row per value of the pooled conv output: num_filters * H/2 * W/2")
            tally.add(None if not wrong else f"{about}: " + "; ".join(wrong))
            nonzero = [name for name, value in present.items() if name.startswith("b") and np.any(value != 0)]
            tally.add(None if not nonzero else f"{about}: biases {nonzero} are not all exactly zero")
            tally.add(_weight_statistics(present, weight_scale, about))
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
            student.call("ThreeLayerConvNet", kwargs={**arch, "reg": reg, "dtype": np.float64}, store={"model": "all"}, reply="none")
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
# The saved one-epoch model


def _accuracy(model: ThreeLayerConvNet, X: np.ndarray, y: np.ndarray) -> float:
    predictions = [np.argmax(model.loss(X[i : i + EVAL_BATCH]), axis=1) for i in range(0, len(X), EVAL_BATCH)]
    return float(np.mean(np.concatenate(predictions) == y))


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


@register("conv_net_one_epoch_accuracy")
def conv_net_one_epoch_accuracy(student: Student | None, rng: np.random.Generator, context: CheckContext) -> CheckResult:
    """Accuracy on the validation split of the saved model, rebuilt as a reference ``ThreeLayerConvNet``.

    The artifact is read by ``dl.models.cnn.load_conv_net`` (pickle-free, validated, sizes bounded
    before anything is built); no student code runs.
    """
    name = context.unit.artifact
    directory = Path(context.artifacts_dir) if context.artifacts_dir is not None else Path("artifacts")
    for suffix in (".npz", ".json"):
        path = directory / f"{name}{suffix}"
        if not path.is_file():
            return CheckResult("failed", 0.0, f"artifacts/{name}{suffix} is missing from your submission; "
                                              f"run the cell that trains your ConvNet for one epoch and saves it")
        if path.stat().st_size > MAX_ARTIFACT_MB * 2**20:
            return CheckResult("failed", 0.0, f"artifacts/{name}{suffix} is over {MAX_ARTIFACT_MB} MiB")
    try:
        model = load_conv_net(name, directory, max_parameters=MAX_PARAMETERS)
    except (ValueError, FileNotFoundError) as exc:
        return CheckResult("failed", 0.0, f"artifacts/{name} cannot be used: {str(exc).replace(str(directory), 'artifacts')}")
    data = (context.data or default_data)()
    X_val, y_val = data["X_val"], data["y_val"]
    problem = _fit_problem(model, X_val.shape[1:])
    if problem:
        return CheckResult("failed", 0.0, problem)
    accuracy = _accuracy(model, X_val, y_val)
    score = (accuracy - ZERO_CREDIT_ACCURACY) / (FULL_CREDIT_ACCURACY - ZERO_CREDIT_ACCURACY)
    message = (f"validation accuracy {accuracy:.3f} on {len(y_val)} held-out images "
               f"(full credit from {FULL_CREDIT_ACCURACY:.2f}, partial credit from {ZERO_CREDIT_ACCURACY:.2f})")
    if data.get("X_test") is not None and len(data["X_test"]):
        message += f"; test accuracy {_accuracy(model, data['X_test'], data['y_test']):.3f}"
    return CheckResult.from_score(score, message)
