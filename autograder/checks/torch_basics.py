"""Hidden checks of the PyTorch notebook (a2, CURRICULUM §4.1), in the notebook's words.

- ``pt_three_layer_convnet``: scores and their gradients against :func:`dl.nn.basics.three_layer_convnet`
  on random channel counts, image sizes and batch sizes, with the notebook's 5x5/3x3 kernels and
  with other odd kernels (padding ``kernel // 2``); float32 stays float32.
- ``pt_init_three_layer_convnet_params``: shapes, leaf tensors with ``requires_grad``, Kaiming
  standard deviations, zero biases, the requested dtype.
- ``pt_three_layer_convnet_module``: parameter names and shapes, count, Kaiming init and zero
  biases of a fresh module, and scores and gradients with weights chosen here.
- ``pt_convnet_and_optimizer``: the model is the student's own ``ThreeLayerConvNet(3, 32, 16, 10)``
  and the optimizer plain SGD with the given learning rate over all its parameters.
- ``pt_sequential_convnet``: layer types, order and configuration, the optimizer's type and
  hyper-parameters, the output shape.
- ``pt_challenge_accuracy``: the saved challenge model on held-back test images
  (:func:`autograder.checks.torch_modules.torch_artifact_accuracy`).
"""
from __future__ import annotations

import numpy as np
import torch

from autograder.checks import torch_modules as tm
from autograder.checks.compare import Tally, as_float_array, dtype_problem, mismatch
from autograder.checks.registry import CheckContext, CheckResult, Part, register
from autograder.protocol import Handle
from autograder.student import Student
from dl.nn import basics

TOL = 1e-8  # float64 scores and gradients
OPTIMIZER = Handle("optimizer")
PARAMS = Handle("params")
SGD = "torch.optim.sgd.SGD"


def _random_convnet_params(rng: np.random.Generator, c1: int, c2: int, k1: int, k2: int, size: int, classes: int):
    shapes = [(c1, 3, k1, k1), (c1,), (c2, c1, k2, k2), (c2,), (c2 * size * size, classes), (classes,)]
    return [torch.from_numpy(0.5 * rng.standard_normal(shape)) for shape in shapes]


CONVNET_PARTS = {
    "notebook": Part(2.0, "scores and gradients with the notebook's 5x5 and 3x3 kernels (padding 2 and 1)"),
    "kernels": Part(1.0, "other odd kernel sizes, padded by kernel // 2 to keep the image size"),
    "dtype": Part(0.5, "float32 inputs give float32 scores"),
}


@register("pt_three_layer_convnet", parts=CONVNET_PARTS)
def three_layer_convnet(student: Student, rng: np.random.Generator, context: CheckContext) -> CheckResult:
    """Scores and input gradients against the reference for random shapes and kernels."""
    tally = Tally(CONVNET_PARTS)
    cases = [("notebook", 5, 3), ("notebook", 5, 3), ("kernels", 3, 5), ("kernels", 7, 1)]
    for part, k1, k2 in cases:
        c1, c2, size, n, classes = (int(v) for v in (rng.integers(2, 7), rng.integers(2, 7), rng.integers(5, 9), rng.integers(2, 4), rng.integers(3, 8)))
        params = _random_convnet_params(rng, c1, c2, k1, k2, size, classes)
        x = torch.from_numpy(rng.standard_normal((n, 3, size, size)))
        inputs = (f"x of shape {tuple(x.shape)}, conv_w1 {tuple(params[0].shape)}, conv_w2 {tuple(params[2].shape)}, "
                  f"fc_w {tuple(params[4].shape)}")
        upstream = torch.from_numpy(rng.standard_normal((n, classes)))
        x_ref = x.clone().requires_grad_()
        p_ref = [p.clone().requires_grad_() for p in params]
        out_ref = basics.three_layer_convnet(x_ref, p_ref)
        grads = torch.autograd.grad(out_ref, [x_ref, *p_ref], grad_outputs=upstream)
        with tally.case(3, f"three_layer_convnet on {inputs}", part):
            vjp = tm.module_vjp(student, "three_layer_convnet", x, params, upstream=upstream)
            tally.add(mismatch("scores", vjp.output, out_ref.detach(), TOL, inputs), part)
            tally.add(mismatch("the gradient of x", vjp.inputs[0], grads[0], TOL, inputs, like="x"), part)
            got = vjp.inputs[1] if len(vjp.inputs) > 1 else None
            failure = None if got is not None and len(got) == 6 else "the gradients of params could not be computed"
            for name, g, e in zip(("conv_w1", "conv_b1", "conv_w2", "conv_b2", "fc_w", "fc_b"), got or [], grads[1:]):
                failure = failure or mismatch(f"the gradient of {name}", g, e, TOL, inputs, like=name)
            tally.add(failure, part)
    params = [p.float() for p in _random_convnet_params(rng, 3, 4, 5, 3, 6, 5)]
    x = torch.from_numpy(rng.standard_normal((2, 3, 6, 6))).float()
    inputs = "float32 x of shape (2, 3, 6, 6) and float32 params"
    with tally.case(1, f"three_layer_convnet on {inputs}", "dtype"):
        tally.add(dtype_problem(student.call("three_layer_convnet", x, params), torch.float32, "scores", inputs), "dtype")
    return tally.result()


INIT_PARTS = {
    "shapes": Part(1.0, "six tensors of the documented shapes and of the requested dtype", strict=True),
    "leaves": Part(1.0, "leaf tensors with requires_grad=True (autograd and the update need them)", strict=True),
    "init": Part(1.0, "weights drawn with standard deviation sqrt(2 / fan_in), mean 0"),
    "biases": Part(1.0, "biases exactly zero", strict=True),
}
PARAM_NAMES = ("conv_w1", "conv_b1", "conv_w2", "conv_b2", "fc_w", "fc_b")


@register("pt_init_three_layer_convnet_params", parts=INIT_PARTS)
def init_three_layer_convnet_params(student: Student, rng: np.random.Generator, context: CheckContext) -> CheckResult:
    """Shapes, leaves, Kaiming statistics, zero biases and dtype for two random configurations."""
    tally = Tally(INIT_PARTS)
    for dtype in (torch.float64, torch.float32):
        kwargs = {"channel_1": int(rng.integers(20, 40)), "channel_2": int(rng.integers(8, 20)), "num_classes": int(rng.integers(5, 12)),
                  "dtype": dtype}
        about = "init_three_layer_convnet_params(" + ", ".join(f"{k}={v}" for k, v in kwargs.items()) + ")"
        c1, c2, classes = kwargs["channel_1"], kwargs["channel_2"], kwargs["num_classes"]
        shapes = [(c1, 3, 5, 5), (c1,), (c2, c1, 3, 3), (c2,), (c2 * 32 * 32, classes), (classes,)]
        with tally.case(5, about, "shapes"):
            params = student.call("init_three_layer_convnet_params", kwargs=kwargs, store={PARAMS.name: "all"}, repeatable=False)
            info = student.tensor_info(PARAMS)
            got = [tuple(i.get("shape", ())) for i in info] if isinstance(info, (list, tuple)) else None
            ok = got is not None and got == shapes
            tally.add(None if ok else f"{about} returned tensors of shapes {got}; expected {shapes}", "shapes")
            not_leaves = [n for n, i in zip(PARAM_NAMES, info or []) if not (i.get("requires_grad") and i.get("is_leaf"))] if ok else list(PARAM_NAMES)
            tally.add(None if not not_leaves else f"{about}: {not_leaves} are not leaf tensors with requires_grad=True "
                      f"(create each with requires_grad=True, or call .requires_grad_() last)", "leaves")
            if ok:
                weights = {n: params[i] for i, n in enumerate(PARAM_NAMES) if i % 2 == 0}
                fan_in = {"conv_w1": 3 * 25, "conv_w2": c1 * 9, "fc_w": c2 * 32 * 32}
                tally.add(tm.init_statistics(weights, fan_in, about), "init")
                tally.add(tm.nonzero_biases({n: params[i] for i, n in enumerate(PARAM_NAMES) if i % 2}, about), "biases")
                wrong = [n for n, i in zip(PARAM_NAMES, info) if i.get("dtype") != str(dtype).removeprefix("torch.")]
                tally.add(f"{about}: {wrong} are not {dtype}" if wrong else None, "shapes")
            else:
                for part in ("init", "biases", "shapes"):
                    tally.add("not checked: the shapes are wrong", part)
    return tally.result()


MODULE_PARTS = {
    "parameters": Part(1.0, "parameter names (conv1, conv2, fc) and shapes, and their number"),
    "init": Part(1.0, "Kaiming-normal weights and zero biases", strict=True),
    "forward": Part(2.0, "scores and gradients with weights loaded here, in eval and train mode"),
}


def reference_convnet(kwargs: dict, seed: int) -> torch.nn.Module:
    """The reference ThreeLayerConvNet(**kwargs) in float64, initialised as after ``torch.manual_seed(seed)``."""
    with tm.seeded_torch(seed):
        return basics.ThreeLayerConvNet(**kwargs).double()


@register("pt_three_layer_convnet_module", parts=MODULE_PARTS)
def three_layer_convnet_module(student: Student, rng: np.random.Generator, context: CheckContext) -> CheckResult:
    """Parameters, init statistics, and forward/gradients with the reference's weights."""
    tally = Tally(MODULE_PARTS)
    kwargs = {"in_channel": int(rng.integers(2, 5)), "channel_1": int(rng.integers(16, 33)), "channel_2": int(rng.integers(8, 17)),
              "num_classes": int(rng.integers(5, 12))}
    about = tm.describe_call("ThreeLayerConvNet", kwargs)
    reference = reference_convnet(kwargs, int(rng.integers(2**31)))
    expected_shapes = {name: tuple(p.shape) for name, p in reference.named_parameters()}
    with tally.case(5, about, "parameters"):
        handle = tm.build_student_module(student, "ThreeLayerConvNet", kwargs)
        info = tm.module_info(student, handle)
        got = {name: tuple(i["shape"]) for name, i in info.items() if i.get("kind") == "parameter"}
        names, shapes = tm.parameter_failures(got, expected_shapes, about)
        tally.add(names, "parameters")
        tally.add(shapes, "parameters")
        count, expected_count = tm.parameter_count(got), tm.parameter_count(expected_shapes)
        tally.add(None if count == expected_count else f"{about} has {count:,} parameters; expected {expected_count:,}", "parameters")
        state = tm.module_state(student, handle) if not names and not shapes else {}
        weights = {n: state[n] for n in expected_shapes if n.endswith("weight") and n in state}
        tally.add(tm.init_statistics(weights, {n: tm.torch_fan_in(expected_shapes[n]) for n in weights}, about)
                  if weights else f"{about}: init not checked, the parameters are wrong", "init")
        biases = {n: state[n] for n in expected_shapes if n.endswith("bias") and n in state}
        tally.add(tm.nonzero_biases(biases, about) if biases else f"{about}: biases not checked, the parameters are wrong", "init")
    state = {name: value.detach() for name, value in reference.state_dict().items()}
    for train in (False, True):
        x = torch.from_numpy(rng.standard_normal((2, kwargs["in_channel"], 32, 32)))
        inputs = f"x of shape {tuple(x.shape)} with weights loaded from a state dict, {'train' if train else 'eval'} mode"
        with tally.case(2, f"{about} on {inputs}", "forward"):
            handle = tm.build_student_module(student, "ThreeLayerConvNet", kwargs, state=state, dtype=torch.float64)
            upstream = torch.from_numpy(rng.standard_normal((2, kwargs["num_classes"])))
            student.seed_torch(int(rng.integers(2**31)))  # a dropout the student added draws the same masks every run
            vjp = tm.module_vjp(student, handle, x, upstream=upstream, train=train)
            x_ref = x.clone().requires_grad_()
            out = reference(x_ref)
            grads = torch.autograd.grad(out, [x_ref, *reference.parameters()], grad_outputs=upstream)
            tally.add(mismatch("scores", vjp.output, out.detach(), TOL, inputs), "forward")
            failure = mismatch("the gradient of x", vjp.inputs[0], grads[0], TOL, inputs, like="x")
            for (name, _), g in zip(reference.named_parameters(), grads[1:]):
                failure = failure or (f"no gradient reached {name}" if name not in vjp.params else
                                      mismatch(f"the gradient of {name}", vjp.params[name], g, TOL, inputs, like=name))
            tally.add(failure, "forward")
    return tally.result()


OPTIMIZER_PARTS = {
    "model": Part(1.0, "the model is ThreeLayerConvNet(3, 32, 16, 10) (compared with the student's own class)"),
    "optimizer": Part(2.0, "plain SGD (no momentum) with the given learning rate over every parameter", strict=True),
}


def _sgd_failures(info: dict, names: list[str], about: str, lr: float, momentum: float, nesterov: bool) -> str | None:
    """What differs between a stored optimizer and SGD(lr, momentum, nesterov) over ``names``."""
    if info.get("type") != SGD:
        return f"{about}: the optimizer is {info.get('type', '?').rsplit('.', 1)[-1]}; expected optim.SGD"
    groups = info.get("groups", [])
    covered = sorted(n for g in groups for n in g.get("params", []))
    problems = []
    if covered != sorted(names):
        problems.append("it does not update every parameter of the model exactly once (pass model.parameters())")
    for group in groups:
        for key, want in (("lr", lr), ("momentum", momentum), ("nesterov", nesterov)):
            got = group.get(key)
            if not (got == want if isinstance(want, bool) else isinstance(got, (int, float)) and abs(got - want) <= 1e-12 * max(1, abs(want))):
                problems.append(f"{key} is {got}; expected {want:g}" if not isinstance(want, bool) else f"{key} is {got}; expected {want}")
        if group.get("weight_decay", 0):
            problems.append(f"weight_decay is {group.get('weight_decay')}; expected 0")
    return f"{about}: the optimizer's " + "; ".join(dict.fromkeys(problems)) if problems else None


@register("pt_convnet_and_optimizer", parts=OPTIMIZER_PARTS)
def convnet_and_optimizer(student: Student, rng: np.random.Generator, context: CheckContext) -> CheckResult:
    """The model's parameters match the student's ThreeLayerConvNet(3, 32, 16, 10); SGD with the given lr."""
    tally = Tally(OPTIMIZER_PARTS)
    lr = float(10 ** rng.uniform(-4, -2))
    about = "make_convnet_and_optimizer(learning_rate=...)"
    with tally.case(2, about, "model"):
        own = tm.build_student_module(student, "ThreeLayerConvNet", {"in_channel": 3, "channel_1": 32, "channel_2": 16, "num_classes": 10},
                                      handle=Handle("own"))
        expected = {n: tuple(i["shape"]) for n, i in tm.module_info(student, own).items() if i.get("kind") == "parameter"}
        student.call("make_convnet_and_optimizer", kwargs={"learning_rate": lr}, store={tm.MODULE.name: 0, OPTIMIZER.name: 1},
                     reply="none", repeatable=False)
        got = {n: tuple(i["shape"]) for n, i in tm.module_info(student, tm.MODULE).items() if i.get("kind") == "parameter"}
        names, shapes = tm.parameter_failures(got, expected, f"{about}: the model (compared with your ThreeLayerConvNet(3, 32, 16, 10))")
        tally.add(names or shapes, "model")
        tally.add(_sgd_failures(student.optimizer_info(OPTIMIZER, module=tm.MODULE), list(got), about, lr, 0.0, False), "optimizer")
    return tally.result()


SEQUENTIAL_PARTS = {
    "layers": Part(2.0, "Conv2d(3, 32, 5, padding=2), ReLU, Conv2d(32, 16, 3, padding=1), ReLU, Flatten, Linear(16*32*32, 10) in order"),
    "optimizer": Part(2.0, "SGD with lr 1e-2, momentum 0.9, Nesterov, over every parameter", strict=True),
    "forward": Part(1.0, "scores of shape (N, 10)"),
}
SEQUENTIAL_LAYERS = [
    ("Conv2d", {"in_channels": 3, "out_channels": 32, "kernel_size": (5, 5), "padding": (2, 2), "stride": (1, 1)}),
    ("ReLU", {}),
    ("Conv2d", {"in_channels": 32, "out_channels": 16, "kernel_size": (3, 3), "padding": (1, 1), "stride": (1, 1)}),
    ("ReLU", {}),
    ("Flatten", {}),
    ("Linear", {"in_features": 16 * 32 * 32, "out_features": 10}),
]


def _layer_failure(layers: list[dict]) -> str | None:
    """How the Sequential's layers differ from the expected ones, or None."""
    kinds = [layer["type"].rsplit(".", 1)[-1] for layer in layers[1:] if not layer["name"].count(".")]
    expected = [kind for kind, _ in SEQUENTIAL_LAYERS]
    if kinds != expected:
        return f"the layers are {kinds}; expected {expected}"
    children = [layer for layer in layers[1:] if not layer["name"].count(".")]
    for i, (layer, (kind, config)) in enumerate(zip(children, SEQUENTIAL_LAYERS)):
        wrong = {k: layer["config"].get(k) for k, v in config.items() if tuple(np.atleast_1d(layer["config"].get(k))) != tuple(np.atleast_1d(v))}
        if wrong:
            want = {k: config[k] for k in wrong}
            return f"layer {i} ({kind}) has {wrong}; expected {want}"
        if kind in ("Conv2d", "Linear") and "bias" not in layer["parameters"]:
            return f"layer {i} ({kind}) has no bias; keep the default bias=True"
    return None


@register("pt_sequential_convnet", parts=SEQUENTIAL_PARTS)
def sequential_convnet(student: Student, rng: np.random.Generator, context: CheckContext) -> CheckResult:
    """Layer types, order and configuration; optimizer type and hyper-parameters; output shape."""
    tally = Tally(SEQUENTIAL_PARTS)
    about = "build_sequential_convnet()"
    with tally.case(3, about, "layers"):
        student.call("build_sequential_convnet", store={tm.MODULE.name: 0, OPTIMIZER.name: 1}, reply="none", repeatable=False)
        structure = tm.module_structure(student, tm.MODULE)
        failure = _layer_failure(structure)
        tally.add(f"{about}: {failure}" if failure else None, "layers")
        names = [n for n, i in tm.module_info(student, tm.MODULE).items() if i.get("kind") == "parameter"]
        tally.add(_sgd_failures(student.optimizer_info(OPTIMIZER, module=tm.MODULE), names, about, 1e-2, 0.9, True), "optimizer")
        x = torch.from_numpy(rng.standard_normal((3, 3, 32, 32))).float()
        scores = tm.module_forward(student, tm.MODULE, x, label="the model of build_sequential_convnet()")
        tally.add(None if tuple(as_float_array(scores, "scores").shape) == (3, 10) else
                  f"{about}: the model's scores have shape {tuple(np.shape(scores))} for x of shape (3, 3, 32, 32); expected (3, 10)", "forward")
    return tally.result()


@register("pt_challenge_accuracy", datasets=("cifar10_test",))
def challenge_accuracy(student: Student | None, rng: np.random.Generator, context: CheckContext) -> CheckResult:
    """The saved challenge model, rebuilt by build_challenge_model(), on held-back CIFAR-10 test images."""
    return tm.torch_artifact_accuracy(student, context, "build_challenge_model", dataset="cifar10_test",
                                      full_credit=0.70, zero_credit=0.60, max_epochs=10)
