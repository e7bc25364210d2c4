"""Hidden checks of the layer functions of FullyConnectedNets (affine, ReLU, softmax loss).

Each check draws random shapes and values, computes the expected outputs with ``dl.layers``
here, and compares the student's outputs with them. A forward's check also holds its cache to
the contract of its docstring (:func:`autograder.checks.backward.cache_mismatch`); a backward's
check gives the student's backward the reference forward's cache
(:func:`autograder.checks.backward.check_backward`), so a bug in one costs only its own unit.
Every layer is also checked on float32 inputs: what it creates keeps their dtype.

The weights of each check's parts are written beside it (``*_PARTS``) and shown in
docs/grading.md.
"""
from __future__ import annotations

import numpy as np

from autograder.checks.backward import cache_mismatch, check_backward, reference_cache
from autograder.checks.compare import Tally, as_float_array, describe_shapes, describe_value, dtype_problem, mismatch
from autograder.checks.registry import CheckContext, CheckResult, Part, register
from autograder.student import Student, StudentError
from dl import layers

TOL = 1e-7  # float64 outputs computed in another order agree to ~1e-13; a real bug is far larger
TOL32 = 1e-5  # float32 outputs against the float64 reference: rounding of ~1e-7 per operation


def _affine_inputs(rng: np.random.Generator, k: int, dtype=np.float64):
    """x of shape (N, d_1, ..., d_k), w (D, M), b (M,), dout (N, M), all of ``dtype``."""
    n, m = int(rng.integers(2, 6)), int(rng.integers(2, 6))
    dims = tuple(int(d) for d in rng.integers(2, 5, size=k))
    d = int(np.prod(dims))
    arrays = (rng.standard_normal((n, *dims)), rng.standard_normal((d, m)), rng.standard_normal(m), rng.standard_normal((n, m)))
    return tuple(a.astype(dtype) for a in arrays)


def _described(dtype, **arrays) -> str:
    """Shapes for a message, with "float32" in front for float32 inputs."""
    return ("float32 " if dtype == np.float32 else "") + describe_shapes(**arrays)


AFFINE_FORWARD_PARTS = {
    "out": Part(2, "out = x flattened to (N, D) @ w + b, for x with one to three trailing dimensions"),
    "cache": Part(1, "the cache is (x, w, b), the inputs unchanged: what affine_backward reads", strict=True),
    "float32": Part(1, "float32 inputs give a float32 out (training runs in float32)"),
}


@register("affine_forward", parts=AFFINE_FORWARD_PARTS)
def affine_forward(student: Student, rng: np.random.Generator, context: CheckContext) -> CheckResult:
    """``out`` and ``cache`` of the student's affine_forward for x with 1, 2 and 3 trailing dimensions, and in float32."""
    tally = Tally(AFFINE_FORWARD_PARTS)
    for k, dtype in ((1, np.float64), (2, np.float64), (3, np.float64), (2, np.float32)):
        x, w, b, _ = _affine_inputs(rng, k, dtype)
        inputs = _described(dtype, x=x, w=w, b=b)
        float32 = dtype == np.float32
        with tally.case({"out": 1, "cache": 1, "float32": int(float32)}, f"affine_forward on {inputs}"):
            got = student.call("affine_forward", x, w, b)
            if not isinstance(got, (tuple, list)) or len(got) != 2:
                raise StudentError(f"affine_forward returned {describe_value(got)}; expected a tuple (out, cache)")
            out, cache = got
            flat = x.reshape(len(x), -1).astype(np.float64)
            bugs = {"your out equals the right answer without the bias b": flat @ w,
                    "your out flattens x as x.reshape(D, N).T instead of x.reshape(N, D)": x.reshape(-1, len(x)).T @ w + b}
            expected = layers.affine_forward(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64))[0]
            tally.add(mismatch("out", out, expected, TOL32 if float32 else TOL, inputs, bugs=bugs), "out")
            tally.add(cache_mismatch("affine_forward", cache, reference_cache(layers, "affine_forward", (x, w, b)),
                                     ("x", "w", "b"), inputs, TOL32 if float32 else TOL), "cache")
            if float32:
                tally.add(dtype_problem(out, np.float32, "out", inputs), "float32")
    return tally.result()


AFFINE_BACKWARD_PARTS = {
    "dx": Part(1, "dx = dout @ w.T, reshaped to x's shape", strict=True),
    "dw": Part(1, "dw = (x flattened to (N, D)).T @ dout", strict=True),
    "db": Part(1, "db = dout summed over the batch", strict=True),
    "float32": Part(1, "float32 inputs give float32 dx, dw and db", strict=True),
}


def _affine_backward_bugs(expected) -> dict:
    dx, dw, db = expected
    return {"dx": {"your dx equals the right answer without the reshape to x's shape": dx.reshape(len(dx), -1)},
            "dw": {"your dw is the transpose of the right answer": dw.T},
            "db": {"your db averages dout over the batch instead of summing it": db / len(dx)}}


@register("affine_backward", parts=AFFINE_BACKWARD_PARTS)
def affine_backward(student: Student, rng: np.random.Generator, context: CheckContext) -> CheckResult:
    """dx, dw, db given the reference forward's cache, for x with 1 and 3 trailing dimensions, and in float32."""
    tally = Tally(AFFINE_BACKWARD_PARTS)
    for k, dtype in ((1, np.float64), (3, np.float64), (2, np.float32)):
        x, w, b, dout = _affine_inputs(rng, k, dtype)
        inputs = _described(dtype, x=x, w=w, b=b)
        float32 = dtype == np.float32
        checked = check_backward(tally, student, "affine_forward", "affine_backward", (x, w, b), dout, ("dx", "dw", "db"), inputs,
                                 reference=layers, tol=TOL32 if float32 else TOL, bugs=_affine_backward_bugs,
                                 parts={"dx": "dx", "dw": "dw", "db": "db", "dtype": "float32"})
        if float32 and checked:
            (_, dw, db), _ = checked
            tally.add(dtype_problem(dw, np.float32, "dw", inputs), "float32")
            tally.add(dtype_problem(db, np.float32, "db", inputs), "float32")
    return tally.result()


def _relu_input(rng: np.random.Generator, shape: tuple[int, ...], zeros: bool, dtype=np.float64) -> np.ndarray:
    """Normal values of ``shape``; with ``zeros``, about a quarter of them (at least one) exactly 0."""
    x = rng.standard_normal(shape)
    if zeros:
        count = max(1, x.size // 4)
        x.flat[rng.permutation(x.size)[:count]] = 0.0  # the output and the gradient must be exactly 0 there
    return x.astype(dtype)


RELU_FORWARD_PARTS = {
    "out": Part(2, "out = max(0, x), exactly 0 where x <= 0"),
    "cache": Part(1, "the cache is x, unchanged: what relu_backward reads", strict=True),
    "float32": Part(1, "a float32 x gives a float32 out"),
}


@register("relu_forward", parts=RELU_FORWARD_PARTS)
def relu_forward(student: Student, rng: np.random.Generator, context: CheckContext) -> CheckResult:
    """Values of max(0, x), exact zeros where x <= 0, the cache, and float32, on x with exact zeros."""
    tally = Tally(RELU_FORWARD_PARTS)
    shapes = ((int(rng.integers(3, 8)), int(rng.integers(3, 8))), (2, 3, 2, int(rng.integers(2, 5))), (int(rng.integers(3, 8)), 4))
    for shape, dtype in zip(shapes, (np.float64, np.float64, np.float32)):
        x = _relu_input(rng, shape, zeros=True, dtype=dtype)
        inputs = _described(dtype, x=x)
        float32 = dtype == np.float32
        with tally.case({"out": 2, "cache": 1, "float32": int(float32)}, f"relu_forward on {inputs}"):
            got = student.call("relu_forward", x)
            if not isinstance(got, (tuple, list)) or len(got) != 2:
                raise StudentError(f"relu_forward returned {describe_value(got)}; expected a tuple (out, cache)")
            out, cache = got
            tally.add(cache_mismatch("relu_forward", cache, reference_cache(layers, "relu_forward", (x,)), "x, the input unchanged",
                                     inputs, TOL), "cache")
            if float32:
                tally.add(dtype_problem(out, np.float32, "out", inputs), "float32")
            bugs = {"your out is the mask x > 0 instead of max(0, x)": (x > 0).astype(np.float64)}
            tally.add(mismatch("out", out, layers.relu_forward(x.astype(np.float64))[0], TOL, inputs, like="x", bugs=bugs), "out")
            nonzero = int(np.count_nonzero(as_float_array(out, "out", x.shape, like="x")[x <= 0]))
            tally.add(None if nonzero == 0 else f"out is not exactly 0 at {nonzero} places where x <= 0 ({inputs})", "out")
    return tally.result()


RELU_BACKWARD_PARTS = {
    "dx": Part(2, "dx = dout where x > 0 and 0 where x < 0"),
    "zero": Part(1, "dx is 0 where x == 0 exactly: relu's gradient at 0 is 0"),
    "float32": Part(1, "float32 dout and x give a float32 dx"),
}


@register("relu_backward", parts=RELU_BACKWARD_PARTS)
def relu_backward(student: Student, rng: np.random.Generator, context: CheckContext) -> CheckResult:
    """dx given the reference forward's cache (x): where x != 0, where x == 0 exactly, and in float32."""
    tally = Tally(RELU_BACKWARD_PARTS)
    x = _relu_input(rng, (int(rng.integers(4, 9)), int(rng.integers(4, 9))), zeros=True)
    dout = rng.standard_normal(x.shape)
    inputs = f"{describe_shapes(x=x)} with exact zeros"
    with tally.case({"dx": 1, "zero": 1}, f"relu_backward on {inputs}"):
        got = student.call("relu_backward", dout, reference_cache(layers, "relu_forward", (x,)))
        dx = as_float_array(got, "dx", x.shape, like="x")
        expected = layers.relu_backward(dout, x)
        at_zero = x == 0
        tally.add(mismatch("dx where x != 0", dx[~at_zero], expected[~at_zero], TOL, inputs), "dx")
        wrong = int(np.count_nonzero(dx[at_zero]))
        tally.add(None if wrong == 0 else f"dx is not 0 at {wrong} places where x == 0 exactly ({inputs}); the gradient of relu at 0 is 0",
                  "zero")
    for shape, dtype in (((2, 3, int(rng.integers(2, 5))), np.float64), ((int(rng.integers(3, 7)), 5), np.float32)):
        x = _relu_input(rng, shape, zeros=False, dtype=dtype)
        check_backward(tally, student, "relu_forward", "relu_backward", (x,), rng.standard_normal(x.shape).astype(dtype), ("dx",),
                       _described(dtype, x=x), reference=layers, tol=TOL32 if dtype == np.float32 else TOL,
                       parts={"dx": "dx", "dtype": "float32"},
                       bugs=lambda expected: {"dx": {"your dx lacks the factor dout": (expected[0] != 0).astype(np.float64)}})
    return tally.result()


SOFTMAX_LOSS_PARTS = {
    "loss": Part(1, "loss = -mean_i log p[i, y_i], p the row-wise softmax of x"),
    "dx": Part(1, "dx = (p - onehot(y)) / N"),
    "stable": Part(1, "loss and dx right for logits offset by about +-1e3 (the row maximum subtracted first)", strict=True),
    "float32": Part(1, "a float32 x gives a float32 dx"),
}


def _softmax_bugs(x: np.ndarray, y: np.ndarray, loss: float, dx: np.ndarray) -> tuple[dict, dict]:
    """Known bugs of softmax_loss: what the loss and dx of each would be."""
    n = len(x)
    onehot = np.zeros_like(dx)
    onehot[np.arange(n), y] = 1
    return ({"your loss sums over the minibatch instead of averaging": loss * n},
            {"your dx sums over the minibatch instead of averaging (divide by N)": dx * n,
             "your dx lacks the -1 at each example's label (p - onehot(y))": dx + onehot / n})


@register("softmax_loss", parts=SOFTMAX_LOSS_PARTS)
def softmax_loss(student: Student, rng: np.random.Generator, context: CheckContext) -> CheckResult:
    """Loss and dx on small logits, with one class, on logits offset by about +-1e3, and in float32."""
    tally = Tally(SOFTMAX_LOSS_PARTS)
    n, c = int(rng.integers(3, 9)), int(rng.integers(2, 11))
    cases = [  # (label, x, parts of its loss and dx)
        ("small logits", rng.standard_normal((n, c)), ("loss", "dx")),
        ("one class (C = 1)", rng.standard_normal((n, 1)), ("loss", "dx")),
        # Rows offset by 800 to 1000 either way: exp overflows (or underflows to 0 / 0) unless each row's maximum is
        # subtracted first, as the notebook teaches; within a row the logits stay close, so log(p) is finite however
        # it is computed.
        ("logits offset by about +-1e3 per row",
         rng.choice([-1.0, 1.0], size=(n, 1)) * rng.uniform(800, 1000, size=(n, 1)) + 3 * rng.standard_normal((n, c)),
         ("stable", "stable")),
        ("small float32 logits", rng.standard_normal((n, c)).astype(np.float32), ("loss", "dx")),
    ]
    for label, x, (loss_part, dx_part) in cases:
        y = rng.integers(0, x.shape[1], size=n)
        inputs = f"{label}, {describe_shapes(x=x, y=y)}"
        float32 = x.dtype == np.float32
        sizes = {loss_part: 1}
        sizes[dx_part] = sizes.get(dx_part, 0) + 1
        if float32:
            sizes["float32"] = 1
        with tally.case(sizes, f"softmax_loss on {inputs}"):
            got = student.call("softmax_loss", x, y)
            if not isinstance(got, (tuple, list)) or len(got) != 2:
                raise StudentError(f"softmax_loss returned {describe_value(got)}; expected a tuple (loss, dx)")
            loss, dx = layers.softmax_loss(x.astype(np.float64), y)
            loss_bugs, dx_bugs = _softmax_bugs(x, y, loss, dx)
            tol = TOL32 if float32 else TOL
            tally.add(mismatch("loss", got[0], loss, tol, inputs, bugs=loss_bugs), loss_part)
            tally.add(mismatch("dx", got[1], dx, tol, inputs, like="x", bugs=dx_bugs), dx_part)
            if float32:
                tally.add(dtype_problem(got[1], np.float32, "dx", inputs), "float32")
    return tally.result()
