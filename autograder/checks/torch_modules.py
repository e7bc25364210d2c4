"""What the checks of torch units share: student modules in the worker, compared here with the reference.

A check of an ``nn.Module`` unit (a2 ``ThreeLayerConvNet``, a3 attention layers, a4 GAN and
SimCLR models) sends constructor arguments, inputs and the weights to load; the worker builds
the student's module, runs it and computes its gradients with its own code
(:mod:`autograder.worker_torch`), and sends back plain tensors. Everything is compared here:

- :func:`build_student_module`: ``constructor(**kwargs)`` stored under a handle, optionally
  converted to a dtype and holding a state dict chosen here;
- :func:`module_state` (names and values of parameters and buffers), :func:`module_info`
  (names, shapes, dtypes, ``requires_grad``), :func:`module_structure` (submodules in order);
- :func:`module_forward` (train or eval mode) and :func:`module_vjp` (the output and the gradients
  of ``sum(output * upstream)`` with respect to inputs and/or parameters, float64 on the CPU for
  gradient checks), also for plain functions by name;
- :func:`parameter_failures`, :func:`init_statistics`, :func:`nonzero_biases`: the parameters'
  names and shapes, and their initialisation, in the notebook's words;
- :func:`torch_artifact_accuracy`: the accuracy of a saved model of the student's own design,
  rebuilt in the sandbox by the student's graded builder.

Outputs are compared with :func:`autograder.checks.compare.mismatch`, which accepts tensors.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np

from autograder.checks.compare import as_float_array, keep_global_rng, to_numpy
from autograder.checks.registry import CheckContext, CheckResult
from autograder.protocol import Handle
from autograder.student import Student, StudentError
from autograder.submitted import refusal
from dl.artifacts import TORCH_WEIGHT_SUFFIXES, load_torch_model, logged_epochs

MODULE = Handle("module")
MAX_TORCH_ARTIFACT_MB = 200  # a saved torch model's weights file, on disk and once loaded
MAX_PARAMETERS = 50_000_000
EVAL_BATCH = 100  # held-out images sent to the worker per request
MAX_SHOWN = 3  # mismatching shapes named in one message
SAMPLING_Z = 5.0  # how many standard errors a sample statistic may be off before it counts as wrong


@dataclass(frozen=True)
class VJP:
    """A forward pass and its vector-Jacobian product: ``output``, ``inputs`` (one gradient, or a list
    of gradients, per differentiated argument) and ``params`` (parameter name -> gradient)."""

    output: object
    inputs: list
    params: dict


@contextmanager
def seeded_torch(seed: int):
    """Run reference code that draws from torch's global RNG (a module's default initialisation) as
    right after ``torch.manual_seed(seed)``, and leave that RNG as it was. One thread at a time (the
    lock of :func:`autograder.checks.compare.keep_global_rng`): threads grading side by side (a Dask
    worker's) neither interleave nor disturb each other's draws."""
    import torch

    with keep_global_rng(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def describe_call(constructor: str, kwargs: Mapping | None = None, *args) -> str:
    """``"ThreeLayerConvNet(3, channel_1=8)"``: how messages name a constructed module."""
    shown = [repr(a) for a in args] + [f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v!r}" for k, v in (kwargs or {}).items()]
    return f"{constructor}({', '.join(shown)})"


def build_student_module(student: Student, constructor: str, kwargs: Mapping | None = None, state: Mapping | None = None, *,
                         dtype=None, handle: Handle = MODULE, pick="all", label: str | None = None) -> Handle:
    """The student's ``constructor(**kwargs)`` (or the ``pick`` of what it returns) under ``handle``.

    ``dtype`` (a torch dtype) converts the module (``nn.Module.to``); ``state`` (name -> tensor) is
    loaded strictly. Raises StudentError when the constructor raises, the object is not an
    ``nn.Module``, or the state does not fit it (the message names ``label``, default
    :func:`describe_call`).
    """
    label = label or describe_call(constructor, kwargs)
    student.call(constructor, kwargs=dict(kwargs or {}), store={handle.name: pick}, reply="none")
    try:
        student.prepare_module(handle, dtype=dtype, state=dict(state) if state is not None else None)
    except StudentError as exc:
        raise StudentError(str(exc).replace(handle.name, label, 1)) from None
    return handle


def module_state(student: Student, handle: Handle = MODULE) -> dict:
    """Names and values (plain CPU tensors) of the stored module's parameters and persistent buffers (its state dict)."""
    return student.module_state(handle)


def module_info(student: Student, handle: Handle = MODULE) -> dict[str, dict]:
    """Name -> ``{"shape", "dtype", "requires_grad", "kind": "parameter" | "buffer", ...}`` of the stored module."""
    info = student.tensor_info(handle)
    if not isinstance(info, dict):
        raise StudentError("the stored object is not a torch.nn.Module")
    return info


def module_structure(student: Student, handle: Handle = MODULE) -> list[dict]:
    """The stored module's submodules in order: ``{"name", "type", "config", "parameters"}`` (see
    :func:`autograder.worker_torch.structure`); the first is the module itself."""
    return student.structure(handle)


def module_forward(student: Student, handle: Handle, *inputs, train: bool = False, label: str | None = None):
    """The stored module's output on ``inputs`` in train or eval mode (under ``torch.no_grad()``)."""
    return student.forward(handle, *inputs, train=train, label=label)


def module_vjp(student: Student, target: Handle | str, *inputs, upstream, wrt=("inputs", "params"), train: bool | None = False,
               differentiate: list[int] | None = None, label: str | None = None) -> VJP:
    """Output and gradients of ``sum(target(*inputs) * upstream)``, computed by grader code in the worker.

    ``target``: a stored module's handle, or a function's name (then ``wrt`` is ``("inputs",)`` and
    ``train`` None). ``differentiate``: positions of the inputs to differentiate (default: every
    floating tensor or list of them). Send float64 inputs and upstream on the CPU for gradient
    checks (and build the module with ``dtype=torch.float64``).
    """
    if isinstance(target, str):
        wrt, train = tuple(w for w in wrt if w == "inputs") or ("inputs",), None
    found = student.vjp(target, inputs, upstream, wrt=wrt, inputs=differentiate, train=train, label=label)
    return VJP(found["output"], found["inputs"], found["params"])


def parameter_failures(got: Mapping[str, tuple], expected: Mapping[str, tuple], about: str) -> tuple[str | None, str | None]:
    """The student's parameter names and shapes against the expected ones: (names failure, shapes failure).

    ``got`` and ``expected`` map parameter names (``"conv1.weight"``) to shapes, e.g. from
    :func:`module_info` and the reference module's ``named_parameters()``.
    """
    got = {name: tuple(shape) for name, shape in got.items()}
    missing, extra = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
    names = None
    if missing or extra:
        parts = ([f"lacks {missing}"] if missing else []) + ([f"has unexpected {extra}"] if extra else [])
        names = f"{about}: the module's parameters {' and '.join(parts)} (names follow the attributes: conv1.weight, fc.bias, ...)"
    wrong = [f"{name} is {got[name]}, expected {tuple(shape)}" for name, shape in expected.items()
             if name in got and got[name] != tuple(shape)]
    shown = "; ".join(wrong[:MAX_SHOWN]) + (f" (and {len(wrong) - MAX_SHOWN} more)" if len(wrong) > MAX_SHOWN else "")
    return names, (f"{about}: {shown}" if wrong else None)


def parameter_count(shapes: Mapping[str, tuple]) -> int:
    """The number of scalar parameters of these shapes."""
    return sum(math.prod(shape) for shape in shapes.values())


def torch_fan_in(shape: tuple) -> int:
    """The fan-in of a weight in torch's layout: ``in`` of ``(out, in)``, ``in * kH * kW`` of ``(out, in, kH, kW)``."""
    return math.prod(shape[1:])


def init_statistics(weights: Mapping[str, object], fan_in: Mapping[str, int], about: str, gain: float = 2.0) -> str | None:
    """Whether each weight looks drawn from a normal of mean 0 and std ``sqrt(gain / fan_in)`` (Kaiming
    normal for ReLU networks, He et al. 2015, "Delving Deep into Rectifiers", arXiv:1502.01852).

    The sample standard deviation of ``n`` values must be within ``SAMPLING_Z`` standard errors
    (``std / sqrt(2n)``), and at least 10%, of the expected one; the mean within ``SAMPLING_Z``
    standard errors of 0. A weight of fewer than 2 values is not judged. Returns the failures, or None.
    """
    problems = []
    for name, value in weights.items():
        array = as_float_array(to_numpy(value), name).ravel()
        if array.size < 2:
            continue
        expected = math.sqrt(gain / fan_in[name])
        std, mean = float(array.std()), float(array.mean())
        tolerance = max(0.1, SAMPLING_Z / math.sqrt(2 * array.size))
        if abs(std / expected - 1) > tolerance:
            problems.append(f"{name} has standard deviation {std:.3g}; expected about sqrt({gain:g} / fan_in) = {expected:.3g} "
                            f"(fan_in = {fan_in[name]})")
        elif abs(mean) > SAMPLING_Z * expected / math.sqrt(array.size):
            problems.append(f"{name} has mean {mean:.3g}; expected about 0")
    return f"{about}: " + "; ".join(problems) if problems else None


def nonzero_biases(biases: Mapping[str, object], about: str) -> str | None:
    """A failure naming the biases that are not all exactly zero, or None."""
    nonzero = [name for name, value in biases.items() if np.any(as_float_array(to_numpy(value), name) != 0)]
    return f"{about}: the biases {nonzero} are not all exactly zero" if nonzero else None


# --------------------------------------------------------------------------------------------
# A saved model of the student's own design, graded on held-back images


def as_float32_tensor(images: np.ndarray):
    """A batch of a data set's images, as the model receives them, as a float32 tensor (N, C, H, W)."""
    import torch

    return torch.from_numpy(np.asarray(images, dtype=np.float32))


def _weights_file(directory: Path, name: str) -> str:
    """``artifacts/<name>.<suffix>`` of the weights file there is (following no link), default ``.safetensors``."""
    for suffix in TORCH_WEIGHT_SUFFIXES:
        if (directory / f"{name}{suffix}").is_symlink() or (directory / f"{name}{suffix}").exists():
            return f"{name}{suffix}"
    return f"{name}.safetensors"


def torch_artifact_accuracy(student: Student | None, context: CheckContext, builder_name: str, *, full_credit: float,
                            zero_credit: float, max_epochs: int, artifact: str | None = None, dataset: str = "cifar10_test",
                            split: str = "test", batch: int = EVAL_BATCH, max_mb: float = MAX_TORCH_ARTIFACT_MB,
                            max_parameters: int = MAX_PARAMETERS) -> CheckResult:
    """The score of a saved torch model whose architecture the student designed (the CIFAR-10 challenge).

    1. Here, in the parent: the files ``artifacts/<artifact>.safetensors`` (or ``.pt``) and
       ``.json`` (:func:`dl.artifacts.save_torch_model`) are refused when missing, links or over
       ``max_mb``; the weights are loaded safely and size-checked (:func:`dl.artifacts.load_torch_model`),
       at most ``max_parameters`` numbers; the training log must show 1 to ``max_epochs`` epochs.
    2. In the worker: the student's graded ``builder_name(**constructor)`` (the JSON's constructor
       arguments) builds the model; its parameter names and shapes are compared here with the
       saved ones; the state dict, sent over the channel, is loaded strictly; eval mode.
    3. The parent sends the images of ``split`` of ``dataset`` (``X_<split>``), ``batch`` at a time,
       as a float32 tensor: the data set holds them as the notebooks' models receive them; the worker
       returns the model's outputs (logits, (N, classes)); the parent takes their argmax and scores
       them against ``y_<split>``, which never leave it.

    Score: linear from ``zero_credit`` (0) to ``full_credit`` (1) in accuracy. ``artifact``
    defaults to the unit's. ``dataset`` names an entry of :data:`autograder.datasets.DATASETS`
    that holds ``X_<split>`` as the model takes it (the default ``cifar10_test``: float32
    (N, 3, 32, 32) normalised per channel, as the PyTorch notebooks' loaders give them) and
    ``y_<split>``; the check must declare it (``@register(..., datasets=(dataset,))``).
    """
    if student is None:
        return CheckResult("failed", 0.0, f"{builder_name} is needed to rebuild the saved model, and it was not found")
    name = artifact or context.unit.artifact
    directory = Path(context.artifacts_dir) if context.artifacts_dir is not None else Path("artifacts")
    how = "run the cell that trains your model and saves it with save_torch_model"
    for file in (_weights_file(directory, name), f"{name}.json"):
        refused = refusal(directory.parent, f"{directory.name}/{file}", max_mb)
        if refused:
            return CheckResult("failed", 0.0, f"{refused}; {how}")
    try:
        state, description = load_torch_model(name, directory, max_bytes=int(max_mb * 2**20))
        epochs = logged_epochs(description["log"])
    except (ValueError, FileNotFoundError) as exc:
        return CheckResult("failed", 0.0, f"{directory.name}/{name} cannot be used: {str(exc).replace(str(directory), directory.name)}")
    count = sum(int(t.numel()) for t in state.values())
    if count > max_parameters:
        return CheckResult("failed", 0.0, f"the saved model has {count:,} numbers; the grader accepts at most {max_parameters:,}")
    if epochs < 1:
        return CheckResult("failed", 0.0, f"{directory.name}/{name}.json has no training log; save the model with "
                                          f"save_torch_model(..., log={{'val_acc': [...one per epoch...]}})")
    if epochs > max_epochs:
        return CheckResult("failed", 0.0, f"your training log shows {epochs} epochs; the model must be trained for at most {max_epochs}")
    label = describe_call(builder_name, description["constructor"])
    data = context.dataset(dataset)
    images, labels = data[f"X_{split}"], np.asarray(data[f"y_{split}"])
    try:
        handle = build_student_module(student, builder_name, description["constructor"], label=label)
        built = {key: tuple(info["shape"]) for key, info in module_state_shapes(student, handle).items()}
        order = {key: i for i, key in enumerate(built)}  # messages name tensors in the model's order
        saved = {key: tuple(state[key].shape) for key in sorted(state, key=lambda k: (order.get(k, len(order)), k))}
        names, shapes = parameter_failures(built, saved, f"the saved weights do not fit the model {label} builds")
        if names or shapes:
            return CheckResult("failed", 0.0, (names or shapes) + "; save the model that this builder makes, after training it")
        student.prepare_module(handle, state=state, train=False)
        predictions = []
        for start in range(0, len(images), batch):
            logits = module_forward(student, handle, as_float32_tensor(images[start : start + batch]), train=False, label=label)
            predictions.append(_predictions(logits, len(images[start : start + batch]), label))
    except StudentError as exc:
        return CheckResult("failed", 0.0, str(exc))
    accuracy = float(np.mean(np.concatenate(predictions) == labels))
    message = (f"{split} accuracy {accuracy:.3f} on {len(labels)} held-back images (full credit from {full_credit:.2f}, "
               f"partial credit from {zero_credit:.2f}); the training log shows {epochs} epoch{'s' if epochs != 1 else ''}")
    return CheckResult.from_score((accuracy - zero_credit) / (full_credit - zero_credit), message)


def module_state_shapes(student: Student, handle: Handle = MODULE) -> dict[str, dict]:
    """Name -> info of every entry of the stored module's state dict (parameters and persistent buffers)."""
    return {name: i for name, i in module_info(student, handle).items() if i.get("kind") == "parameter" or i.get("persistent")}


def _predictions(logits, n: int, label: str) -> np.ndarray:
    """The argmax of a batch's logits (N, classes), checked: a StudentError for anything else."""
    scores = as_float_array(logits, f"the output of {label}")
    if scores.ndim != 2 or scores.shape[0] != n:
        raise StudentError(f"the output of {label} has shape {scores.shape} for {n} images; expected (N, classes) = ({n}, C)")
    if not np.isfinite(scores).all():
        raise StudentError(f"the output of {label} contains nan or inf")
    return np.argmax(scores, axis=1)
