"""Hidden checks of the layers of ConvolutionalNetworks: naive convolution and max pooling, and the
spatial batch and group normalizations.

Each check draws random shapes and values, computes the expected outputs with ``dl.layers`` here,
and compares the student's outputs with them. Backward checks also compare the student's
gradients with numerical gradients of the student's own forward pass (one batched request per
input; the inputs are small because the naive layers loop in Python).

- Convolution: non-square inputs and filters, stride 1 to 3, pad 0 to 2 (only sizes giving
  integer output sizes), batch size 1, and padding wider than the filter.
- Max pooling: non-square windows, strides smaller and larger than the window (overlapping
  windows and gaps), batch size 1; tie-free inputs, since the routing of ties is not graded.
- Every call of a naive layer bans ``dl.fast_layers``, ``scipy.signal`` and ``torch``: a naive
  layer that hands its work to a fast implementation fails with a message saying so.
- Spatial batchnorm: random gamma and beta of shape (C,); train mode with the running statistics
  written back into the caller's ``bn_param``; test mode; float32 kept float32.
- Spatial groupnorm: gamma and beta of shape (1, C, 1, 1); G = 1, G = C and one in between;
  float32 kept float32; dgamma and dbeta of shape (1, C, 1, 1).
"""
from __future__ import annotations

import numpy as np

from autograder.checks.backward import check_backward
from autograder.checks.compare import Tally, describe_shapes, dtype_problem, mismatch
from autograder.checks.registry import CheckContext, CheckResult, register
from autograder.student import Student
from dl import layers

TOL = 1e-7  # float64 outputs computed in another order agree to ~1e-13; a real bug is far larger
F32_TOL = 1e-4  # float32 outputs against the float64 reference on the same values: ~1e-6 in practice
BANNED = ["dl.fast_layers", "scipy.signal", "torch"]  # a naive layer must do its own loops


def _sizes(rng: np.random.Generator, kernel: tuple[int, int], stride: int, pad: int) -> tuple[int, int]:
    """H, W (H != W) with ``(size + 2 pad - kernel) % stride == 0`` and at least 2 outputs per axis."""
    sizes = []
    for k in kernel:
        out = int(rng.integers(2, 4))
        size = (out - 1) * stride + k - 2 * pad
        while size < 2:
            out, size = out + 1, size + stride
        sizes.append(size)
    if sizes[0] == sizes[1]:
        sizes[1] += stride  # one more output column: a non-square input
    return sizes[0], sizes[1]


def _conv_inputs(rng: np.random.Generator, stride: int, pad: int, kernel: tuple[int, int] | None = None, n: int | None = None):
    """x (N, C, H, W), w (F, C, HH, WW) with HH != WW, b (F,), conv_param and a description for messages."""
    if kernel is None:
        kernel = tuple(int(k) for k in rng.choice(np.arange(2, 5), size=2, replace=False))
    H, W = _sizes(rng, kernel, stride, pad)
    n = int(rng.integers(2, 4)) if n is None else n
    c, f = int(rng.integers(2, 4)), int(rng.integers(2, 4))
    x, w, b = rng.standard_normal((n, c, H, W)), rng.standard_normal((f, c, *kernel)), rng.standard_normal(f)
    conv_param = {"stride": stride, "pad": pad}
    return x, w, b, conv_param, f"{describe_shapes(x=x, w=w, b=b)}, stride {stride}, pad {pad}"


@register("conv_forward_naive")
def conv_forward_naive(student: Student, rng: np.random.Generator, context: CheckContext) -> CheckResult:
    """``out`` for non-square inputs and filters, strides 1 to 3, pads 0 to 2, batch size 1 and pad > filter."""
    tally = Tally()
    cases = [
        dict(stride=1, pad=0),
        dict(stride=2, pad=1),
        dict(stride=3, pad=2, n=1),
        dict(stride=1, pad=2, kernel=(1, 2)),  # padding wider than the filter: the output is larger than x
        dict(stride=2, pad=0),
    ]
    for case in cases:
        x, w, b, conv_param, inputs = _conv_inputs(rng, **case)
        with tally.case(1, f"conv_forward_naive on {inputs}"):
            out = student.call("conv_forward_naive", x, w, b, conv_param, reply=0, banned=BANNED)
            tally.add(mismatch("out", out, layers.conv_forward_naive(x, w, b, conv_param)[0], TOL, inputs))
    return tally.result()


@register("conv_backward_naive")
def conv_backward_naive(student: Student, rng: np.random.Generator, context: CheckContext) -> CheckResult:
    """dx, dw, db from the student's forward cache: against the reference and against numerical gradients."""
    tally = Tally()
    cases = [
        dict(stride=1, pad=1),
        dict(stride=2, pad=2, kernel=(1, 2)),  # padding wider than the filter
        dict(stride=3, pad=0, n=1),  # no padding: dx must not be cut at all
    ]
    for case in cases:
        x, w, b, conv_param, inputs = _conv_inputs(rng, **case)
        dout = rng.standard_normal(layers.conv_forward_naive(x, w, b, conv_param)[0].shape)
        check_backward(tally, student, "conv_forward_naive", "conv_backward_naive", (x, w, b, conv_param), dout, ("dx", "dw", "db"),
                       inputs, reference=layers, tol=TOL, banned=BANNED)
    return tally.result()


# --------------------------------------------------------------------------------------------
# Max pooling


def _pool_inputs(rng: np.random.Generator, ph: int, pw: int, stride: int, n: int | None = None):
    """Tie-free x (N, C, H, W) tiled exactly by the windows, pool_param and a description."""
    H, W = _sizes(rng, (ph, pw), stride, 0)
    n = int(rng.integers(2, 4)) if n is None else n
    shape = (n, int(rng.integers(2, 4)), H, W)
    size = int(np.prod(shape))
    # distinct values at least 4 / size apart: no ties, and no kink within a numerical step
    x = rng.permutation(np.linspace(-2.0, 2.0, size)).reshape(shape)
    pool_param = {"pool_height": ph, "pool_width": pw, "stride": stride}
    return x, pool_param, f"{describe_shapes(x=x)}, {ph}x{pw} windows, stride {stride}"


@register("max_pool_forward_naive")
def max_pool_forward_naive(student: Student, rng: np.random.Generator, context: CheckContext) -> CheckResult:
    """``out`` for square and non-square windows, strides equal to, below and above the window, batch size 1."""
    tally = Tally()
    cases = [(2, 2, 2, None), (2, 3, 1, None), (3, 2, 2, None), (1, 2, 3, 1)]  # (ph, pw, stride, N)
    for ph, pw, stride, n in cases:
        x, pool_param, inputs = _pool_inputs(rng, ph, pw, stride, n)
        with tally.case(1, f"max_pool_forward_naive on {inputs}"):
            out = student.call("max_pool_forward_naive", x, pool_param, reply=0, banned=BANNED)
            tally.add(mismatch("out", out, layers.max_pool_forward_naive(x, pool_param)[0], TOL, inputs))
    return tally.result()


@register("max_pool_backward_naive")
def max_pool_backward_naive(student: Student, rng: np.random.Generator, context: CheckContext) -> CheckResult:
    """dx from the student's forward cache, with overlapping windows, gaps and batch size 1; also numerically."""
    tally = Tally()
    cases = [(2, 3, 1, None), (3, 2, 2, None), (2, 2, 2, 1), (2, 1, 3, None)]  # (ph, pw, stride, N)
    for ph, pw, stride, n in cases:
        x, pool_param, inputs = _pool_inputs(rng, ph, pw, stride, n)
        dout = rng.standard_normal(layers.max_pool_forward_naive(x, pool_param)[0].shape)
        check_backward(tally, student, "max_pool_forward_naive", "max_pool_backward_naive", (x, pool_param), dout, ("dx",),
                       inputs, reference=layers, tol=TOL, banned=BANNED)
    return tally.result()


# --------------------------------------------------------------------------------------------
# Spatial batch normalization


def _images(rng: np.random.Generator, shape: tuple[int, ...], dtype=np.float64) -> np.ndarray:
    """Images with a different mean and spread per channel, as the curriculum's checks use."""
    c = shape[1]
    scale = rng.uniform(0.5, 5.0, size=(1, c, 1, 1))
    shift = rng.uniform(-10.0, 10.0, size=(1, c, 1, 1))
    return (scale * rng.standard_normal(shape) + shift).astype(dtype)


def _image_shape(rng: np.random.Generator, n: int | None = None, c: int | None = None) -> tuple[int, int, int, int]:
    h = int(rng.integers(2, 5))
    return (int(rng.integers(2, 4)) if n is None else n, int(rng.integers(2, 5)) if c is None else c, h, h + int(rng.integers(1, 3)))


def _bn_param_copy(bn_param: dict) -> dict:
    return {key: value.copy() if isinstance(value, np.ndarray) else value for key, value in bn_param.items()}


def _stat_problem(bn_after, stat: str, before, expected, inputs: str, after: str) -> str | None:
    """None if ``bn_after[stat]`` is ``expected``; else whether it is missing, unchanged or wrong."""
    if not isinstance(bn_after, dict) or stat not in bn_after:
        return f"bn_param has no {stat!r} after a {after} call ({inputs}); write the running statistics back into bn_param"
    problem = mismatch(f"bn_param[{stat!r}] after a {after} call", bn_after[stat], expected, TOL, inputs)
    if problem and mismatch(stat, bn_after[stat], before, 0.0) is None:
        return (f"bn_param[{stat!r}] is unchanged after a {after} call ({inputs}); write the updated running statistics "
                f"back into the bn_param dict you were given")
    return problem


@register("spatial_batchnorm_forward")
def spatial_batchnorm_forward(student: Student, rng: np.random.Generator, context: CheckContext) -> CheckResult:
    """Train mode (out and the running statistics written into bn_param), test mode, and float32 kept."""
    tally = Tally()

    # train mode, with running statistics and a momentum given in bn_param
    shape = _image_shape(rng)
    x, gamma, beta = _images(rng, shape), rng.standard_normal(shape[1]), rng.standard_normal(shape[1])
    bn_param = {"mode": "train", "momentum": float(rng.uniform(0.5, 0.95)),
                "running_mean": rng.standard_normal(shape[1]), "running_var": rng.uniform(0.5, 2.0, size=shape[1])}
    inputs = f"{describe_shapes(x=x, gamma=gamma, beta=beta)}, mode 'train', momentum {bn_param['momentum']:.2f}"
    with tally.case(3, f"spatial_batchnorm_forward on {inputs}"):
        expected_param = _bn_param_copy(bn_param)
        expected = layers.spatial_batchnorm_forward(x, gamma, beta, expected_param)[0]
        handle = student.put("bn_param", bn_param)
        out = student.call("spatial_batchnorm_forward", x, gamma, beta, handle, reply=0)
        tally.add(mismatch("out", out, expected, TOL, inputs))
        after = student.get(handle)
        for stat in ("running_mean", "running_var"):
            tally.add(_stat_problem(after, stat, bn_param[stat], expected_param[stat], inputs, "train-mode"))

    # test mode: the running statistics normalise, and stay as they were
    shape = _image_shape(rng, n=1)
    x, gamma, beta = _images(rng, shape), rng.standard_normal(shape[1]), rng.standard_normal(shape[1])
    bn_param = {"mode": "test", "running_mean": rng.uniform(-5.0, 5.0, size=shape[1]), "running_var": rng.uniform(0.5, 4.0, size=shape[1])}
    inputs = f"{describe_shapes(x=x, gamma=gamma, beta=beta)}, mode 'test'"
    with tally.case(3, f"spatial_batchnorm_forward on {inputs}"):
        expected = layers.spatial_batchnorm_forward(x, gamma, beta, _bn_param_copy(bn_param))[0]
        handle = student.put("bn_param", bn_param)
        out = student.call("spatial_batchnorm_forward", x, gamma, beta, handle, reply=0)
        tally.add(mismatch("out", out, expected, TOL, inputs))
        after = student.get(handle)
        for stat in ("running_mean", "running_var"):
            tally.add(_stat_problem(after, stat, bn_param[stat], bn_param[stat], inputs, "test-mode"))

    # float32 in train mode without running statistics: values and dtype
    shape = _image_shape(rng)
    x = _images(rng, shape, np.float32)
    gamma, beta = rng.standard_normal(shape[1]).astype(np.float32), rng.standard_normal(shape[1]).astype(np.float32)
    inputs = f"float32 {describe_shapes(x=x, gamma=gamma, beta=beta)}, mode 'train'"
    with tally.case(2, f"spatial_batchnorm_forward on {inputs}"):
        out = student.call("spatial_batchnorm_forward", x, gamma, beta, {"mode": "train"}, reply=0)
        expected = layers.spatial_batchnorm_forward(x.astype(np.float64), gamma.astype(np.float64), beta.astype(np.float64),
                                                    {"mode": "train"})[0]
        tally.add(mismatch("out", out, expected, F32_TOL, inputs))
        tally.add(dtype_problem(out, np.float32, "out", inputs))
    return tally.result()


@register("spatial_batchnorm_backward")
def spatial_batchnorm_backward(student: Student, rng: np.random.Generator, context: CheckContext) -> CheckResult:
    """dx, dgamma, dbeta of a train-mode forward: against the reference, numerically, and in float32."""
    tally = Tally()
    for dtype in (np.float64, np.float32):
        shape = _image_shape(rng, n=None if dtype is np.float64 else 1)
        x = _images(rng, shape, dtype)
        gamma, beta = rng.standard_normal(shape[1]).astype(dtype), rng.standard_normal(shape[1]).astype(dtype)
        dout = rng.standard_normal(shape).astype(dtype)
        inputs = f"{np.dtype(dtype).name} {describe_shapes(x=x, gamma=gamma, beta=beta)}, mode 'train'"
        check_backward(tally, student, "spatial_batchnorm_forward", "spatial_batchnorm_backward", (x, gamma, beta, {"mode": "train"}),
                       dout, ("dx", "dgamma", "dbeta"), inputs, reference=layers,
                       tol=TOL if dtype is np.float64 else F32_TOL)
    return tally.result()


# --------------------------------------------------------------------------------------------
# Spatial group normalization


def _groupnorm_inputs(rng: np.random.Generator, groups: str, dtype=np.float64, n: int | None = None):
    """x, gamma and beta of shape (1, C, 1, 1), G (``"one"``, ``"all"`` or ``"between"``) and a description."""
    c = int(rng.choice([4, 6]))
    G = {"one": 1, "all": c, "between": int(rng.choice([d for d in range(2, c) if c % d == 0]))}[groups]
    shape = _image_shape(rng, n=n, c=c)
    x = _images(rng, shape, dtype)
    gamma = rng.standard_normal((1, c, 1, 1)).astype(dtype)
    beta = rng.standard_normal((1, c, 1, 1)).astype(dtype)
    return x, gamma, beta, G, f"{np.dtype(dtype).name} {describe_shapes(x=x, gamma=gamma, beta=beta)}, G={G}"


@register("spatial_groupnorm_forward")
def spatial_groupnorm_forward(student: Student, rng: np.random.Generator, context: CheckContext) -> CheckResult:
    """``out`` for G = 1, G = C and G in between, an eps given in gn_param, and float32 kept float32."""
    tally = Tally()
    cases = [("one", np.float64, None, {"mode": "train"}), ("all", np.float64, 1, {}),
             ("between", np.float64, None, {"eps": 0.01}), ("between", np.float32, None, {})]
    for groups, dtype, n, gn_param in cases:
        x, gamma, beta, G, inputs = _groupnorm_inputs(rng, groups, dtype, n)
        if "eps" in gn_param:
            x = 0.1 * rng.standard_normal(x.shape)  # a variance near eps, so that the eps in gn_param matters
            inputs += f", gn_param {gn_param}"
        size = 2 if dtype is np.float32 else 1
        with tally.case(size, f"spatial_groupnorm_forward on {inputs}"):
            out = student.call("spatial_groupnorm_forward", x, gamma, beta, G, gn_param, reply=0)
            expected = layers.spatial_groupnorm_forward(x.astype(np.float64), gamma.astype(np.float64), beta.astype(np.float64),
                                                        G, dict(gn_param))[0]
            tally.add(mismatch("out", out, expected, TOL if dtype is np.float64 else F32_TOL, inputs))
            if dtype is np.float32:
                tally.add(dtype_problem(out, np.float32, "out", inputs))
    return tally.result()


@register("spatial_groupnorm_backward")
def spatial_groupnorm_backward(student: Student, rng: np.random.Generator, context: CheckContext) -> CheckResult:
    """dx, dgamma, dbeta (1, C, 1, 1) for G = 1, C and in between: against the reference, numerically, float32."""
    tally = Tally()
    for groups, dtype, n in (("one", np.float64, None), ("all", np.float64, 1), ("between", np.float64, None), ("between", np.float32, None)):
        x, gamma, beta, G, inputs = _groupnorm_inputs(rng, groups, dtype, n)
        dout = rng.standard_normal(x.shape).astype(dtype)
        check_backward(tally, student, "spatial_groupnorm_forward", "spatial_groupnorm_backward", (x, gamma, beta, G, {}),
                       dout, ("dx", "dgamma", "dbeta"), inputs, reference=layers,
                       tol=TOL if dtype is np.float64 else F32_TOL)
    return tally.result()
