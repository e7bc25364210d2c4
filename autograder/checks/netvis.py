"""Hidden checks of NetworkVisualization (CURRICULUM §4.2): saliency maps, fooling images, one class
visualisation step.

The network is :class:`dl.netvis.SmallConvNet`, a tiny classifier with batch normalisation and
dropout. The grader draws its weights here (:func:`dl.netvis.random_small_conv_net`) and sends its
constructor arguments and state dict; the worker builds it from the student's namespace, where the
notebook's setup cell imported the class (``from dl.netvis import SmallConvNet``), and leaves it in
**training mode**, so that code which forgets ``model.eval()`` computes other scores. The reference
runs here, on the same weights in eval mode.

- ``saliency_maps``: saliency of random images (float64 and float32) against the reference, and its dtype.
- ``fooling_image``: shape and dtype, success (the reference network in eval mode predicts the
  target on the student's image) and the size of the change (no more than a few times the
  reference's; the last layer's weights are scaled up so that an unnormalised step goes far too far),
  and a target whose score is flat (zero gradient) giving a finite image (no division by a zero norm).
- ``class_visualization_step``: two steps on one image against two reference steps (a gradient
  left over from the first step spoils the second), the image updated in place (the same tensor,
  still a leaf that requires grad, of its dtype) and its gradient zeroed.
"""
from __future__ import annotations

import numpy as np
import torch

from autograder.checks.compare import Tally, describe_value, mismatch
from autograder.checks.registry import CheckContext, CheckResult, Part, register
from autograder.checks.torch_modules import build_student_module
from autograder.protocol import Handle
from autograder.student import Student
from dl import netvis

SALIENCY_TOL = 1e-6  # rel_error, float64 (CURRICULUM §4.2)
STEP_TOL = 1e-5
FLOAT32_TOL = 1e-4
NORM_FACTOR = 3.0  # a fooling change may be this many times the reference's (CURRICULUM §4.2 "a few times")
SCORE_SCALE = 200.0  # score gradients far from unit length: an unnormalised step shows
NET = {"channels": 8, "num_classes": 10}
MODEL = Handle("model")
IMAGE = Handle("img")
DESCRIBED_NET = "a SmallConvNet(channels=8, num_classes=10) in training mode"


def _reference_net(rng: np.random.Generator, dtype=torch.float64) -> netvis.SmallConvNet:
    return netvis.random_small_conv_net(int(rng.integers(2**31)), score_scale=SCORE_SCALE, dtype=dtype, **NET)


def _student_net(student: Student, reference: netvis.SmallConvNet, rng: np.random.Generator, dtype=torch.float64,
                 handle: Handle = MODEL) -> Handle:
    """The student's namespace's SmallConvNet with the reference's weights, in training mode, and the
    worker's torch RNG seeded from ``rng`` (a forgotten ``model.eval()`` then meets the same dropout
    masks on every run)."""
    build_student_module(student, "SmallConvNet", NET, reference.state_dict(), dtype=dtype, handle=handle)
    student.prepare_module(handle, train=True)
    student.seed_torch(int(rng.integers(2**31)))
    return handle


def _images(rng: np.random.Generator, n: int, size: int, dtype=torch.float64) -> torch.Tensor:
    return torch.from_numpy(rng.standard_normal((n, 3, size, size))).to(dtype)


def _score_gradient(model, X: torch.Tensor, objective) -> torch.Tensor:
    X = X.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(objective(model(X), X), X)
    return g


def _dtype_failure(value, dtype: torch.dtype, what: str, inputs: str) -> str | None:
    if not isinstance(value, torch.Tensor):
        return f"{what} is {describe_value(value)} ({inputs}); expected a tensor"
    if value.dtype != dtype:
        return f"{what} has dtype {str(value.dtype).removeprefix('torch.')} for {str(dtype).removeprefix('torch.')} images ({inputs}); keep the dtype of X"
    return None


# ------------------------------------------------------------------------------------------------
# Saliency

SALIENCY_PARTS = {
    "values": Part(4.0, "saliency equals the reference (abs gradient of the correct raw score, max over channels, eval mode)"),
    "dtype": Part(1.0, "saliency has X's dtype (float64 and float32)"),
}


def _saliency_bugs(model, X: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    """Outputs of recognised saliency bugs, by the words that name them."""
    raw = _score_gradient(model, X, lambda s, _: s.gather(1, y.view(-1, 1)).sum())
    log_p = _score_gradient(model, X, lambda s, _: torch.log_softmax(s, 1).gather(1, y.view(-1, 1)).sum())
    return {
        "your saliency equals the largest signed gradient: take the absolute value before the max over channels": raw.max(1).values,
        "your saliency averages over the channels: take the max of the absolute values": raw.abs().mean(1),
        "your saliency sums over the channels: take the max of the absolute values": raw.abs().sum(1),
        "your saliency uses log-probabilities: differentiate the raw (unnormalised) score of the correct class": log_p.abs().max(1).values,
    }


@register("saliency_maps", parts=SALIENCY_PARTS)
def saliency_maps(student: Student, rng: np.random.Generator, context: CheckContext) -> CheckResult:
    """Saliency on random images of a random network given in training mode, float64 and float32."""
    tally = Tally(SALIENCY_PARTS)
    for n, dtype in ((int(rng.integers(3, 6)), torch.float64), (1, torch.float64), (int(rng.integers(2, 4)), torch.float32)):
        reference = _reference_net(rng, dtype)
        size = int(rng.integers(8, 14))
        X = _images(rng, n, size, dtype)
        y = torch.from_numpy(rng.integers(0, NET["num_classes"], n))
        inputs = f"X of shape {tuple(X.shape)} ({str(dtype).removeprefix('torch.')}), y={y.tolist()}, {DESCRIBED_NET}"
        with tally.case(2, f"compute_saliency_maps on {inputs}", "values"):
            handle = _student_net(student, reference, rng, dtype, Handle(f"model{len(tally.failures)}_{n}_{size}"))
            got = student.call("compute_saliency_maps", X, y, handle)
            expected = netvis.compute_saliency_maps(X, y, reference)
            tally.add(_dtype_failure(got, dtype, "saliency", inputs), "dtype")
            tol = FLOAT32_TOL if dtype == torch.float32 else SALIENCY_TOL
            bugs = _saliency_bugs(reference, X, y)
            tally.add(mismatch("saliency", got, expected, tol, inputs, like="X without its channel axis", bugs=bugs), "values")
    return tally.result()


# ------------------------------------------------------------------------------------------------
# Fooling images

FOOLING_PARTS = {
    "success": Part(2.0, "the network in eval mode predicts the target class on the fooling image"),
    "small_change": Part(2.0, "the change is no more than a few times the reference's (normalised steps of length 1)"),
    "shape": Part(1.0, "the fooling image has X's shape and dtype"),
    "flat": Part(2.0, "a target whose score is flat (zero gradient) gives a finite image: no division by a zero norm"),
}


def _fooling_case(rng: np.random.Generator, reference, size: int) -> tuple[torch.Tensor, int, torch.Tensor]:
    """An image, a target the reference fools the network into, and the reference's fooling image."""
    while True:
        X = _images(rng, 1, size)
        predicted = int(reference(X).argmax())
        target = int((predicted + rng.integers(1, NET["num_classes"])) % NET["num_classes"])
        fooling = netvis.make_fooling_image(X, target, reference)
        if int(reference(fooling).argmax()) == target:
            return X, target, fooling


@register("fooling_image", parts=FOOLING_PARTS)
def fooling_image(student: Student, rng: np.random.Generator, context: CheckContext) -> CheckResult:
    """Three images and targets: shape and dtype, success, the size of the change against the reference's."""
    tally = Tally(FOOLING_PARTS)
    for case in range(3):
        reference = _reference_net(rng)
        size = int(rng.integers(8, 14))
        X, target, expected = _fooling_case(rng, reference, size)
        inputs = f"X of shape {tuple(X.shape)}, target_y={target}, {DESCRIBED_NET}"
        with tally.case(3, f"make_fooling_image on {inputs}", "success"):
            got = student.call("make_fooling_image", X, target, _student_net(student, reference, rng, handle=Handle(f"model{case}")))
            shape_failure = _dtype_failure(got, X.dtype, "the fooling image", inputs)
            if shape_failure is None and tuple(got.shape) != tuple(X.shape):
                shape_failure = f"the fooling image has shape {tuple(got.shape)} ({inputs}); expected {tuple(X.shape)}, the shape of X"
            tally.add(shape_failure, "shape")
            if shape_failure is not None or not bool(torch.isfinite(got).all()):
                tally.add(shape_failure or f"the fooling image contains nan or inf ({inputs})", "success")
                tally.add(shape_failure or f"the fooling image contains nan or inf ({inputs})", "small_change")
                continue
            with torch.no_grad():
                predicted = int(reference.eval()(got.double()).argmax())
            tally.add(None if predicted == target else
                      f"the network in eval mode predicts class {predicted} on your fooling image, not target_y={target} ({inputs}); "
                      "call model.eval() first, and ascend the target class's score until the prediction is the target", "success")
            change, allowed = float((got.double() - X).norm()), NORM_FACTOR * max(float((expected - X).norm()), 1.0)
            tally.add(None if change <= allowed else
                      f"your fooling image is {change:.3g} away from X (L2 norm), more than {NORM_FACTOR:g} times the reference's "
                      f"({inputs}); take normalised steps, X += learning_rate * g / g.norm(), and stop as soon as the "
                      "prediction is the target", "small_change")
    _flat_target_case(tally, student, rng)
    return tally.result()


def _flat_target_case(tally: Tally, student: Student, rng: np.random.Generator) -> None:
    """A target whose row of the last layer is zero and whose bias is far below the others: its score
    is the same constant for every image, so its gradient is zero and g / ||g||_2 would be nan."""
    reference = _reference_net(rng)
    target = int(rng.integers(NET["num_classes"]))
    with torch.no_grad():
        reference.fc.weight[target] = 0
        reference.fc.bias[target] = -1e3
    X = _images(rng, 1, int(rng.integers(8, 14)))
    inputs = f"X of shape {tuple(X.shape)}, target_y={target}, whose score does not depend on the image"
    with tally.case(1, f"make_fooling_image on {inputs}", "flat"):
        got = student.call("make_fooling_image", X, target, _student_net(student, reference, rng, handle=Handle("model_flat")))
        if not isinstance(got, torch.Tensor) or tuple(got.shape) != tuple(X.shape):
            tally.add(f"make_fooling_image returned {describe_value(got)} ({inputs}); expected a tensor of X's shape", "flat")
        elif not bool(torch.isfinite(got).all()):
            tally.add(f"the fooling image contains nan or inf ({inputs}): the gradient is zero there, so g / g.norm() "
                      "divides by zero; stop when the gradient's norm is 0", "flat")
        else:
            tally.add(None, "flat")


# ------------------------------------------------------------------------------------------------
# One class visualisation step

STEP_PARTS = {
    "step": Part(3.0, "two steps equal the reference's: normalised ascent on the raw score less the L2 penalty, eval mode"),
    "in_place": Part(1.0, "img is updated in place (same tensor, still a leaf requiring grad, same dtype) and its grad zeroed"),
}


def _step_bugs(model, img: torch.Tensor, target: int, l2_reg: float, learning_rate: float) -> dict[str, torch.Tensor]:
    """Images after one step with a recognised bug, by the words that name them."""
    def step(objective, normalise=True):
        g = _score_gradient(model, img, objective)
        return img + learning_rate * (g / g.norm() if normalise else g)

    return {
        "your step is not normalised: divide the gradient by its L2 norm": step(lambda s, x: s[0, target] - l2_reg * x.pow(2).sum(), False),
        "your L2 term has the wrong sign: the objective is the score minus l2_reg times the squared norm":
            step(lambda s, x: s[0, target] + l2_reg * x.pow(2).sum()),
        "your objective uses the norm, not the squared norm, of the image": step(lambda s, x: s[0, target] - l2_reg * x.norm()),
        "your objective uses a log-probability: use the raw (unnormalised) score":
            step(lambda s, x: torch.log_softmax(s, 1)[0, target] - l2_reg * x.pow(2).sum()),
    }


@register("class_visualization_step", parts=STEP_PARTS)
def class_visualization_step(student: Student, rng: np.random.Generator, context: CheckContext) -> CheckResult:
    """Two steps on one image (float64 twice, float32 once) against the reference; in-place semantics."""
    tally = Tally(STEP_PARTS)
    for case, dtype in enumerate((torch.float64, torch.float64, torch.float32)):
        reference = _reference_net(rng, dtype)
        size = int(rng.integers(8, 14))
        img = _images(rng, 1, size, dtype)
        target = int(rng.integers(0, NET["num_classes"]))
        l2_reg, learning_rate = float(rng.uniform(0.5, 2.0)), float(rng.uniform(0.5, 3.0))
        inputs = f"img of shape {tuple(img.shape)} ({str(dtype).removeprefix('torch.')}), target_y={target}, {DESCRIBED_NET}"
        tol = FLOAT32_TOL if dtype == torch.float32 else STEP_TOL
        # One case: when the student's step raises, the in-place sub-checks are not recorded (nothing to credit).
        with tally.case(4, f"class_visualization_update_step on {inputs}", "step"):
            handle = _student_net(student, reference, rng, dtype, Handle(f"model{case}"))
            image = Handle(f"img{case}")
            student.put(image.name, img.clone())
            student.call_method(image, "requires_grad_", reply="none")
            expected = img.clone().requires_grad_(True)
            first_failure = None
            for step in ("first", "second"):
                bugs = _step_bugs(reference, expected.detach(), target, l2_reg, learning_rate)
                student.call("class_visualization_update_step", image, handle, target, l2_reg, learning_rate, reply="none")
                netvis.class_visualization_update_step(expected, reference, target, l2_reg, learning_rate)
                got = student.get(image)
                failure = mismatch(f"img after the {step} step", got, expected.detach(), tol, inputs, like="img", bugs=bugs if step == "first" else None)
                if step == "first":
                    first_failure = failure
                elif failure and first_failure is None:
                    failure += "; the first step was right: zero img.grad after each step, or gradients add up"
                tally.add(failure, "step")
            info = student.tensor_info(image)
            grad = student.get_attr(image, "grad")
            problems = []
            if not isinstance(info, dict) or info.get("type") != "Tensor":
                problems.append("img is no longer a tensor")
            else:
                if info.get("dtype") != str(dtype).removeprefix("torch."):
                    problems.append(f"img has dtype {info.get('dtype')}; keep its dtype")
                if not (info.get("is_leaf") and info.get("requires_grad")):
                    problems.append("img is no longer a leaf tensor that requires grad: update img.data (or under torch.no_grad())")
            tally.add("; ".join(problems) + f" ({inputs})" if problems else None, "in_place")
            zeroed = grad is None or (isinstance(grad, torch.Tensor) and not bool(grad.count_nonzero()))
            tally.add(None if zeroed else f"img.grad is not zero after the step ({inputs}); call img.grad.zero_() at the end", "in_place")
    return tally.result()
