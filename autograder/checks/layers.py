"""Hidden checks of the layer functions of FullyConnectedNets (affine, ReLU, softmax loss).

Each check draws random shapes and values, computes the expected outputs with ``dl.layers``
here, and compares the student's outputs with them. Backward checks also compare the student's
gradients with numerical gradients of the student's own forward pass.
"""
from __future__ import annotations

import numpy as np

from autograder.checks.backward import check_backward
from autograder.checks.compare import Tally, as_float_array, describe_shapes, describe_value, mismatch, student_numerical_gradient
from autograder.checks.registry import CheckContext, CheckResult, register
from autograder.protocol import Handle
from autograder.student import Student, StudentError
from dl import layers

TOL = 1e-7  # float64 outputs computed in another order agree to ~1e-13; a real bug is far larger
GRAD_TOL = 1e-6  # centred differences (h = 1e-5) of these functions are accurate to ~1e-9


def _affine_inputs(rng: np.random.Generator, k: int):
    """x of shape (N, d_1, ..., d_k), w (D, M), b (M,), dout (N, M)."""
    n, m = int(rng.integers(2, 6)), int(rng.integers(2, 6))
    dims = tuple(int(d) for d in rng.integers(1, 5, size=k))
    d = int(np.prod(dims))
    return (rng.standard_normal((n, *dims)), rng.standard_normal((d, m)), rng.standard_normal(m), rng.standard_normal((n, m)))


@register("affine_forward")
def affine_forward(student: Student, rng: np.random.Generator, context: CheckContext) -> CheckResult:
    """``out`` of the student's affine_forward for inputs with k = 1, 2 and 3 trailing dimensions."""
    tally = Tally()
    for k in (1, 2, 3):
        x, w, b, _ = _affine_inputs(rng, k)
        inputs = describe_shapes(x=x, w=w, b=b)
        with tally.case(1, f"affine_forward on {inputs}"):
            out = student.call("affine_forward", x, w, b, reply=0)
            tally.add(mismatch("out", out, layers.affine_forward(x, w, b)[0], TOL, inputs))
    return tally.result()


@register("affine_backward")
def affine_backward(student: Student, rng: np.random.Generator, context: CheckContext) -> CheckResult:
    """dx, dw, db from the student's forward cache: against the reference and against numerical gradients."""
    tally = Tally()
    for k in (1, 3):
        x, w, b, dout = _affine_inputs(rng, k)
        check_backward(tally, student, "affine_forward", "affine_backward", (x, w, b), dout, ("dx", "dw", "db"),
                       describe_shapes(x=x, w=w, b=b), reference=layers, tol=TOL)
    return tally.result()


def _relu_input(rng: np.random.Generator, shape: tuple[int, ...], zeros: bool) -> np.ndarray:
    x = rng.standard_normal(shape)
    if zeros:
        x[rng.random(shape) < 0.25] = 0.0  # exact zeros: the output and the gradient must be exactly 0 there
    return x


@register("relu_forward")
def relu_forward(student: Student, rng: np.random.Generator, context: CheckContext) -> CheckResult:
    """Values of max(0, x), and exact zeros where x <= 0."""
    tally = Tally()
    for shape in ((int(rng.integers(3, 8)), int(rng.integers(3, 8))), (2, 3, 2, int(rng.integers(2, 5)))):
        x = _relu_input(rng, shape, zeros=True)
        inputs = describe_shapes(x=x)
        with tally.case(2, f"relu_forward on {inputs}"):
            out = as_float_array(student.call("relu_forward", x, reply=0), "out", x.shape)
            tally.add(mismatch("out", out, layers.relu_forward(x)[0], TOL, inputs))
            nonzero = int(np.count_nonzero(out[x <= 0]))
            tally.add(None if nonzero == 0 else f"out is not exactly 0 at {nonzero} places where x <= 0 ({inputs})")
    return tally.result()


@register("relu_backward")
def relu_backward(student: Student, rng: np.random.Generator, context: CheckContext) -> CheckResult:
    """dx from the student's forward cache: where x != 0, where x == 0 exactly, and numerically."""
    tally = Tally()
    x = _relu_input(rng, (int(rng.integers(4, 9)), int(rng.integers(4, 9))), zeros=True)
    dout = rng.standard_normal(x.shape)
    inputs = describe_shapes(x=x)
    with tally.case(2, f"relu_backward on {inputs}"):
        student.call("relu_forward", x, store={"cache": 1}, reply="none")
        dx = as_float_array(student.call("relu_backward", dout, Handle("cache")), "dx", x.shape)
        expected = layers.relu_backward(dout, x)
        at_zero = x == 0
        tally.add(mismatch("dx where x != 0", dx[~at_zero], expected[~at_zero], TOL, inputs))
        wrong = int(np.count_nonzero(dx[at_zero]))
        tally.add(None if wrong == 0 else f"dx is not 0 at {wrong} places where x == 0 exactly ({inputs}); the gradient of relu at 0 is 0")
    x = _relu_input(rng, (2, 3, int(rng.integers(2, 5))), zeros=False)
    check_backward(tally, student, "relu_forward", "relu_backward", (x,), rng.standard_normal(x.shape), ("dx",),
                   describe_shapes(x=x), reference=layers, tol=TOL)
    return tally.result()


@register("softmax_loss")
def softmax_loss(student: Student, rng: np.random.Generator, context: CheckContext) -> CheckResult:
    """Loss and dx on small logits (also numerically), on logits of +-1e3, and with one class."""
    tally = Tally()
    n, c = int(rng.integers(3, 9)), int(rng.integers(2, 11))
    cases = [
        ("small logits", rng.standard_normal((n, c)), rng.integers(0, c, size=n)),
        ("logits of magnitude up to 1e3", rng.uniform(-1e3, 1e3, size=(n, c)), rng.integers(0, c, size=n)),
        ("one class (C = 1)", rng.standard_normal((n, 1)), np.zeros(n, dtype=np.int64)),
    ]
    for label, x, y in cases:
        inputs = f"{label}, {describe_shapes(x=x)}"
        size = 3 if label == "small logits" else 2
        with tally.case(size, f"softmax_loss on {inputs}"):
            got = student.call("softmax_loss", x, y)
            if not isinstance(got, (tuple, list)) or len(got) != 2:
                raise StudentError(f"softmax_loss returned {describe_value(got)}; expected a tuple (loss, dx)")
            loss, dx = layers.softmax_loss(x, y)
            tally.add(mismatch("loss", got[0], loss, TOL, inputs))
            tally.add(mismatch("dx", got[1], dx, TOL, inputs))
            if size == 3:
                numerical = student_numerical_gradient(
                    lambda stacked: student.map("softmax_loss", (x, y), over=0, values=stacked, reply=0), x, what="loss of softmax_loss")
                tally.add(mismatch("dx", got[1], numerical, GRAD_TOL, f"{inputs}, against the numerical gradient of your loss"))
    return tally.result()
