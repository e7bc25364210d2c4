"""Hidden checks of the layers of ConvolutionalNetworks: naive convolution and max pooling, and the
spatial batch and group normalizations.

Each check draws random shapes and values, computes the expected outputs with ``dl.layers`` here,
and compares the student's outputs with them (the rules: :mod:`autograder.checks.compare`). The
inputs are small because the naive layers loop in Python.

- A forward is checked on its output (and its dtype for float32 inputs), on the cache it returns
  (the one its docstring specifies, which the backward units are graded on:
  :func:`autograder.checks.backward.cache_mismatch`) and, where its docstring promises one, on the
  ValueError for sizes that do not fit.
- A backward is checked on the reference forward's cache (:func:`check_backward`): a bug in the
  student's forward costs the forward's unit only.
- Convolution: non-square inputs and filters, stride 1 to 3, pad 0 to 2 (only sizes giving
  integer output sizes), batch size 1, and padding wider than the filter.
- Max pooling: non-square windows, strides smaller and larger than the window (overlapping
  windows and gaps), batch size 1. Values are checked on tie-free inputs; inputs with ties (as
  after a ReLU) are checked by what any tie rule satisfies (:func:`_tie_problem`).
- Every call of a naive layer bans ``dl.fast_layers``, ``scipy.signal`` and ``torch``: a naive
  layer that hands its work to a fast implementation fails with a message saying so.
- Spatial batchnorm: train and test mode weigh the same; the running statistics must be written
  back into the caller's ``bn_param``. The layer calls the student's ``batchnorm_forward`` and
  ``batchnorm_backward`` (BatchNormalization): what these give, put together as the reference
  puts them, counts as right too, so that their bugs cost their own units only.
- Spatial groupnorm: gamma and beta of shape (1, C, 1, 1); G = 1, G = C and one in between;
  dgamma and dbeta of shape (1, C, 1, 1).
"""
from __future__ import annotations

import copy

import numpy as np

from autograder.checks.backward import cache_mismatch, check_backward, reference_cache
from autograder.checks.compare import Tally, as_float_array, describe_shapes, describe_value, dtype_problem, mismatch
from autograder.checks.models import student_layer
from autograder.checks.registry import CheckContext, CheckResult, Part, register
from autograder.student import Student, StudentError
from dl import layers
from dl.notebook_import import rebind

TOL = 1e-7  # float64 outputs computed in another order agree to ~1e-13; a real bug is far larger
F32_TOL = 1e-4  # float32 outputs against the float64 reference on the same values: ~1e-6 in practice
BANNED = ["dl.fast_layers", "scipy.signal", "torch"]  # a naive layer must do its own loops

# The items of each forward's cache, as its docstring in dl.layers names them (for cache_mismatch's messages).
CONV_CACHE = ("x", "w", "b", "conv_param")
POOL_CACHE = ("x", "pool_param")
BATCHNORM_CACHE = ("x_centered", "std", "x_hat", "gamma")  # the inner batchnorm_forward's, on the (N * H * W, C) rows
GROUPNORM_CACHE = ("x_hat", "std", "gamma", "G")


def _forward_parts(out: str, cache: str, backward: str, sizes: str | None = None) -> dict[str, Part]:
    """The parts of a forward check: its output (half), its cache (a quarter) and its ValueError (a quarter)."""
    parts = {"out": Part(2, out),
             "cache": Part(1, f"the cache is the documented {cache}, which {backward} is graded on", strict=True)}
    if sizes:
        parts["sizes"] = Part(1, f"ValueError when {sizes}, as the docstring promises", strict=True)
    return parts


def _forward_case(tally: Tally, student: Student, name: str, args: tuple, inputs: str, cache: tuple[str, ...],
                  bugs: dict | None = None) -> None:
    """One call of the student's forward ``name``: out against the reference ("out", with its dtype for
    float32 inputs) and the returned cache against the reference's ("cache")."""
    float32 = args[0].dtype == np.float32
    tol = F32_TOL if float32 else TOL
    widened = tuple(a.astype(np.float64) if isinstance(a, np.ndarray) else copy.deepcopy(a) for a in args)
    expected = getattr(layers, name)(*widened)[0]
    with tally.case(2 + float32, f"{name} on {inputs}", "out"):
        got = student.call(name, *args, banned=BANNED)
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise StudentError(f"{name} returned {describe_value(got)}; expected a tuple (out, cache)")
        tally.add(mismatch("out", got[0], expected, tol, inputs, bugs=bugs), "out")
        if float32:
            tally.add(dtype_problem(got[0], np.float32, "out", inputs), "out")
        tally.add(cache_mismatch(name, got[1], reference_cache(layers, name, args), cache, inputs, tol), "cache")


def _size_problem(student: Student, name: str, args: tuple, inputs: str, rule: str) -> str | None:
    """None when the student's ``name(*args)`` raises ValueError (sizes that do not fit); else what it did."""
    try:
        student.call(name, *args, reply="none", banned=BANNED)
    except StudentError as exc:
        if "raised ValueError" in str(exc):
            return None
        return f"{exc}, on {inputs}, which do not fit; the docstring promises a ValueError when {rule}"
    return f"{name} returned an output on {inputs}, which do not fit; raise a ValueError when {rule}, as its docstring says"


# --------------------------------------------------------------------------------------------
# Convolution


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


def _conv_inputs(rng: np.random.Generator, stride: int, pad: int, kernel: tuple[int, int] | None = None, n: int | None = None,
                 dtype=np.float64):
    """x (N, C, H, W), w (F, C, HH, WW) with HH != WW, b (F,), conv_param and a description for messages."""
    if kernel is None:
        kernel = tuple(int(k) for k in rng.choice(np.arange(2, 5), size=2, replace=False))
    H, W = _sizes(rng, kernel, stride, pad)
    n = int(rng.integers(2, 4)) if n is None else n
    c, f = int(rng.integers(2, 4)), int(rng.integers(2, 4))
    x, w, b = rng.standard_normal((n, c, H, W)), rng.standard_normal((f, c, *kernel)), rng.standard_normal(f)
    conv_param = {"stride": stride, "pad": pad}
    x, w, b = x.astype(dtype), w.astype(dtype), b.astype(dtype)
    dtype_name = "float32 " if dtype == np.float32 else ""
    return x, w, b, conv_param, f"{dtype_name}{describe_shapes(x=x, w=w, b=b)}, stride {stride}, pad {pad}"


def _conv_bugs(x, w, b, conv_param) -> dict[str, np.ndarray]:
    """Outputs of known convolution bugs on these inputs, for the message."""
    return {"your out equals a convolution with flipped filters: the layer is a cross-correlation, "
            "w[f, c, k, l] multiplies xpad[n, c, i * stride + k, j * stride + l]":
                layers.conv_forward_naive(x, w[:, :, ::-1, ::-1], b, conv_param)[0],
            "your out lacks the bias b": layers.conv_forward_naive(x, w, np.zeros_like(b), conv_param)[0]}


CONV_FORWARD_PARTS = _forward_parts(
    "out for non-square inputs and filters, strides 1 to 3, pads 0 to 2, batch size 1, padding wider than the filter; "
    "float32 kept float32", "(x, w, b, conv_param)", "conv_backward_naive",
    "the filters, stride and pad do not tile the input (H' or W' not an integer)")


@register("conv_forward_naive", parts=CONV_FORWARD_PARTS)
def conv_forward_naive(student: Student, rng: np.random.Generator, context: CheckContext) -> CheckResult:
    """``out`` and the cache for non-square inputs and filters, strides 1 to 3, pads 0 to 2, batch size 1,
    pad > filter and float32; ValueError for sizes that do not fit."""
    tally = Tally(CONV_FORWARD_PARTS)
    cases = [
        dict(stride=1, pad=0),
        dict(stride=2, pad=1),
        dict(stride=3, pad=2, n=1),
        dict(stride=1, pad=2, kernel=(1, 2)),  # padding wider than the filter: the output is larger than x
        dict(stride=2, pad=0),
        dict(stride=2, pad=1, dtype=np.float32),
    ]
    for case in cases:
        x, w, b, conv_param, inputs = _conv_inputs(rng, **case)
        _forward_case(tally, student, "conv_forward_naive", (x, w, b, conv_param), inputs, CONV_CACHE,
                      bugs=_conv_bugs(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), conv_param))
    # Sizes that do not fit: one more input row (then column) than a stride of 2 allows.
    for axis in (2, 3):
        x, w, b, conv_param, _ = _conv_inputs(rng, stride=2, pad=int(rng.integers(0, 2)), kernel=(2, 3))
        x = np.concatenate([x, x.take([0], axis=axis)], axis=axis)
        inputs = f"{describe_shapes(x=x, w=w, b=b)}, stride 2, pad {conv_param['pad']}"
        tally.add(_size_problem(student, "conv_forward_naive", (x, w, b, conv_param), inputs,
                                "(H + 2 pad - HH) / stride or (W + 2 pad - WW) / stride is not an integer"), "sizes")
    return tally.result()


def _conv_backward_bugs(x, w, b, conv_param: dict, dout: np.ndarray):
    """``bugs(expected)`` for :func:`check_backward`: dx with its padding left on, db averaged over the batch."""
    def bugs(expected):
        pad = conv_param["pad"]
        xpad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
        padded = layers.conv_backward_naive(dout, (xpad, w, b, {**conv_param, "pad": 0}))[0]
        return {"dx": {"your dx keeps the padding: cut pad rows and columns off each side": padded},
                "db": {"your db is averaged over the batch: sum dout over the examples and positions": expected[2] / x.shape[0]}}
    return bugs


CONV_BACKWARD_PARTS = {"gradients": Part(1, "dx, dw, db on the documented cache: non-square inputs and filters, strides 1 to 3, "
                                            "pads 0 to 2 (wider than the filter, and none); float32 kept float32")}


@register("conv_backward_naive", parts=CONV_BACKWARD_PARTS)
def conv_backward_naive(student: Student, rng: np.random.Generator, context: CheckContext) -> CheckResult:
    """dx, dw, db on the reference forward's cache, against the reference's."""
    tally = Tally(CONV_BACKWARD_PARTS)
    cases = [
        dict(stride=1, pad=1),
        dict(stride=2, pad=2, kernel=(1, 2)),  # padding wider than the filter
        dict(stride=3, pad=0, n=1),  # no padding: dx must not be cut at all
        dict(stride=2, pad=1, dtype=np.float32),
        dict(stride=1, pad=2),
        dict(stride=2, pad=1),
    ]
    for case in cases:
        x, w, b, conv_param, inputs = _conv_inputs(rng, **case)
        dout = rng.standard_normal(layers.conv_forward_naive(x, w, b, conv_param)[0].shape).astype(x.dtype)
        wide = [a.astype(np.float64) for a in (x, w, b, dout)]
        check_backward(tally, student, "conv_forward_naive", "conv_backward_naive", (x, w, b, conv_param), dout, ("dx", "dw", "db"),
                       inputs, reference=layers, tol=F32_TOL if x.dtype == np.float32 else TOL, banned=BANNED, part="gradients",
                       bugs=_conv_backward_bugs(*wide[:3], conv_param, wide[3]))
    return tally.result()


# --------------------------------------------------------------------------------------------
# Max pooling


def _pool_inputs(rng: np.random.Generator, ph: int, pw: int, stride: int, n: int | None = None, dtype=np.float64):
    """Tie-free x (N, C, H, W) tiled exactly by the windows, pool_param and a description."""
    H, W = _sizes(rng, (ph, pw), stride, 0)
    n = int(rng.integers(2, 4)) if n is None else n
    shape = (n, int(rng.integers(2, 4)), H, W)
    size = int(np.prod(shape))
    # distinct values at least 4 / size apart: no ties, and no kink within a numerical step
    x = rng.permutation(np.linspace(-2.0, 2.0, size)).reshape(shape).astype(dtype)
    pool_param = {"pool_height": ph, "pool_width": pw, "stride": stride}
    dtype_name = "float32 " if dtype == np.float32 else ""
    return x, pool_param, f"{dtype_name}{describe_shapes(x=x)}, {ph}x{pw} windows, stride {stride}"


MAX_POOL_FORWARD_PARTS = _forward_parts(
    "out for square and non-square windows, strides equal to, below and above the window, batch size 1; float32 kept float32",
    "(x, pool_param)", "max_pool_backward_naive",
    "the windows do not tile the input (H' or W' not an integer, or a window larger than the input)")


@register("max_pool_forward_naive", parts=MAX_POOL_FORWARD_PARTS)
def max_pool_forward_naive(student: Student, rng: np.random.Generator, context: CheckContext) -> CheckResult:
    """``out`` and the cache for square and non-square windows, strides equal to, below and above the window,
    batch size 1 and float32; ValueError for windows that do not tile the input."""
    tally = Tally(MAX_POOL_FORWARD_PARTS)
    cases = [(2, 2, 2, None, np.float64), (2, 3, 1, None, np.float64), (3, 2, 2, None, np.float64), (1, 2, 3, 1, np.float64),
             (2, 2, 2, None, np.float32)]  # (ph, pw, stride, N, dtype)
    for ph, pw, stride, n, dtype in cases:
        x, pool_param, inputs = _pool_inputs(rng, ph, pw, stride, n, dtype)
        _forward_case(tally, student, "max_pool_forward_naive", (x, pool_param), inputs, POOL_CACHE)
    # Sizes that do not fit: one row more than a stride of 2 allows; a window taller than the input.
    x, pool_param, _ = _pool_inputs(rng, 2, 2, 2)
    unfit = [(np.concatenate([x, x[:, :, :1]], axis=2), pool_param), (x[:, :, :2], {**pool_param, "pool_height": 3})]
    for x, pool_param in unfit:
        ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
        inputs = f"{describe_shapes(x=x)}, {ph}x{pw} windows, stride {stride}"
        tally.add(_size_problem(student, "max_pool_forward_naive", (x, pool_param), inputs,
                                "(H - pool_height) / stride or (W - pool_width) / stride is not a whole number of steps"), "sizes")
    return tally.result()


def _tied_input(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Values as after a ReLU and rounding: mostly zeros, the rest 1 or 2, so that most windows have several maxima."""
    return np.maximum(0, rng.integers(-2, 3, size=shape)).astype(np.float64)


def _tie_problem(dx: np.ndarray, x: np.ndarray, dout: np.ndarray, pool_param: dict, inputs: str) -> str | None:
    """None when ``dx`` is what some tie rule gives; else the property it breaks.

    Any rule (the first maximum takes the window's ``dout``, the last one does, the maxima share
    it) sends each window's ``dout`` to that window's maxima only, in shares that sum to ``dout``.
    So an element that is a maximum of no window containing it gets 0, and, as overlapping windows
    may share maxima, the maxima linked through shared windows (one group) receive together exactly
    the sum of their windows' ``dout``. With a positive ``dout`` a group that receives more than
    that sends ``dout`` to several maxima of one window.
    """
    if not np.isfinite(dx).all():
        return f"dx contains nan or inf on {inputs}, where finite values were expected"
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    N, C, H, W = x.shape
    scale = TOL * max(1.0, float(np.abs(dout).max()))
    for n in range(N):
        for c in range(C):
            group = np.arange(H * W)  # union-find over the positions of x[n, c]

            def root(i: int) -> int:
                while group[i] != i:
                    group[i] = group[group[i]]
                    i = group[i]
                return i

            is_max = np.zeros(H * W, dtype=bool)
            windows = []  # (one maximum of the window, its dout)
            for i in range(dout.shape[2]):
                for j in range(dout.shape[3]):
                    window = x[n, c, i * stride:i * stride + ph, j * stride:j * stride + pw]
                    rows, cols = np.nonzero(window == window.max())
                    maxima = (rows + i * stride) * W + cols + j * stride
                    is_max[maxima] = True
                    for other in maxima[1:]:
                        group[root(int(other))] = root(int(maxima[0]))
                    windows.append((int(maxima[0]), dout[n, c, i, j]))
            flat = dx[n, c].ravel()
            stray = np.flatnonzero(~is_max & (np.abs(flat) > scale))
            if stray.size:
                h, w = divmod(int(stray[0]), W)
                return (f"dx[{n}, {c}, {h}, {w}] gets gradient on {inputs}, but x[{n}, {c}, {h}, {w}] is not the maximum of any "
                        f"window containing it")
            given: dict[int, float] = {}
            for first, value in windows:
                given[root(first)] = given.get(root(first), 0.0) + float(value)
            for first, total in given.items():
                got = float(sum(flat[e] for e in np.flatnonzero(is_max) if root(int(e)) == first))
                if abs(got - total) > scale * max(1.0, abs(total)):
                    h, w = divmod(first, W)
                    hint = "; do you send dout to every element equal to the maximum?" if got > total else ""
                    return (f"on {inputs}, the maxima of the windows around x[{n}, {c}, {h}, {w}] receive {got / total:.3g} times "
                            f"those windows' dout in all; whatever the tie rule (one maximum takes it, or the maxima share it), "
                            f"the gradient each window passes on must sum to its dout{hint}")
    return None


MAX_POOL_BACKWARD_PARTS = {
    "gradients": Part(2, "dx on the documented cache, tie-free inputs: overlapping windows (gradients add up), gaps between "
                         "windows, non-square windows, batch size 1; float32 kept float32"),
    "ties": Part(1, "with ties (as after a ReLU): each window's gradient goes to its maxima only and sums to its dout, "
                    "whatever the tie rule", strict=True),
}


@register("max_pool_backward_naive", parts=MAX_POOL_BACKWARD_PARTS)
def max_pool_backward_naive(student: Student, rng: np.random.Generator, context: CheckContext) -> CheckResult:
    """dx on the reference forward's cache: against the reference without ties, by any tie rule's properties with ties."""
    tally = Tally(MAX_POOL_BACKWARD_PARTS)
    cases = [(2, 3, 1, None, np.float64), (3, 2, 2, None, np.float64), (2, 2, 2, 1, np.float64), (2, 1, 3, None, np.float64),
             (2, 2, 2, None, np.float32)]  # (ph, pw, stride, N, dtype)
    for ph, pw, stride, n, dtype in cases:
        x, pool_param, inputs = _pool_inputs(rng, ph, pw, stride, n, dtype)
        dout = rng.standard_normal(layers.max_pool_forward_naive(x, pool_param)[0].shape).astype(dtype)
        check_backward(tally, student, "max_pool_forward_naive", "max_pool_backward_naive", (x, pool_param), dout, ("dx",),
                       inputs, reference=layers, tol=F32_TOL if dtype == np.float32 else TOL, banned=BANNED, part="gradients")
    for ph, pw, stride in ((2, 2, 2), (3, 2, 1)):  # windows side by side, and overlapping
        H, W = _sizes(rng, (ph, pw), stride, 0)
        x = _tied_input(rng, (2, 2, H, W))
        pool_param = {"pool_height": ph, "pool_width": pw, "stride": stride}
        dout = rng.uniform(0.5, 1.5, size=layers.max_pool_forward_naive(x, pool_param)[0].shape)
        inputs = f"{describe_shapes(x=x)} with ties (values as after a ReLU), {ph}x{pw} windows, stride {stride}"
        with tally.case(1, f"max_pool_backward_naive on {inputs}", "ties"):
            cache = reference_cache(layers, "max_pool_forward_naive", (x, pool_param))
            dx = student.call("max_pool_backward_naive", dout, cache, banned=BANNED)
            tally.add(_tie_problem(as_float_array(dx, "dx", x.shape, like="x"), x, dout, pool_param, inputs), "ties")
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


def _on_students(function, student: Student, names: tuple[str, ...]):
    """The reference ``function`` calling the student's functions ``names`` (in the worker) in place of the reference's."""
    return rebind(function, {**vars(layers), **{name: student_layer(student, name) for name in names}})


UNUSABLE = (StudentError, TypeError, ValueError, IndexError, KeyError, AttributeError)  # a student's function that cannot stand in


def _stat_problem(after, stat: str, before, expected, inputs: str, mode: str) -> str | None:
    """None if ``after[stat]`` is ``expected`` (value and dtype); else whether it is missing, unchanged or wrong."""
    call = f"a {mode}-mode call"
    if not isinstance(after, dict) or stat not in after:
        return f"bn_param has no {stat!r} after {call} ({inputs}); write the running statistics back into bn_param"
    tol = F32_TOL if np.asarray(expected).dtype == np.float32 else TOL
    problem = mismatch(f"bn_param[{stat!r}] after {call}", after[stat], expected, tol, inputs)
    if problem and before is not None and mismatch(stat, after[stat], before, 0.0) is None:
        return (f"bn_param[{stat!r}] is unchanged after {call} ({inputs}); write the updated running statistics "
                f"back into the bn_param dict you were given")
    got, wanted = np.asarray(after[stat]).dtype, np.asarray(expected).dtype
    if problem is None and got != wanted:
        problem = f"bn_param[{stat!r}] has dtype {got} after {call} ({inputs}); expected {wanted}, x's dtype"
    return problem


def _spatial_batchnorm_bugs(x, gamma, beta, bn_param: dict) -> dict[str, np.ndarray]:
    """Outputs of known reshaping bugs of the spatial layer on these inputs, for the message."""
    N, C, H, W = x.shape
    rows = layers.batchnorm_forward(x.transpose(0, 2, 3, 1).reshape(-1, C), gamma, beta, _bn_param_copy(bn_param))[0]
    mixed = layers.batchnorm_forward(x.reshape(-1, C), gamma, beta, _bn_param_copy(bn_param))[0]
    mixing = "which mixes channels: move C last (transpose) before reshaping"
    return {"your out is the normalised (N * H * W, C) rows reshaped straight to (N, C, H, W): reshape them to (N, H, W, C), "
            "then move C back to axis 1": rows.reshape(N, C, H, W),
            f"your out normalises x.reshape(-1, C), {mixing}": mixed.reshape(N, C, H, W),
            f"your rows are x.reshape(-1, C), {mixing}": mixed.reshape(N, H, W, C).transpose(0, 3, 1, 2)}


SPATIAL_BATCHNORM_FORWARD_PARTS = {
    "train": Part(1.5, "train mode: out, the running statistics written back into bn_param (created in x's dtype when missing); "
                       "float32 kept float32", strict=True),
    "test": Part(1.5, "test mode: out normalised with the running statistics, which stay as they were; float32 kept float32",
                 strict=True),
    "cache": Part(1, "the cache of a train-mode call is the inner batchnorm's (x_centered, std, x_hat, gamma) on the (N * H * W, C) "
                     "rows, which spatial_batchnorm_backward is graded on", strict=True),
}


def _spatial_batchnorm_case(tally: Tally, student: Student, x, gamma, beta, bn_param: dict, inputs: str) -> None:
    """One call of the student's spatial_batchnorm_forward with ``bn_param`` stored in the worker: out (and its dtype),
    the running statistics it leaves in bn_param and, in train mode, the cache; against the reference, or against the
    reference spatial layer run on the student's own batchnorm_forward."""
    mode = bn_param["mode"]
    float32 = x.dtype == np.float32
    tol = F32_TOL if float32 else TOL
    with tally.case(3 + float32 + (mode == "train"), f"spatial_batchnorm_forward on {inputs}", mode):
        handle = student.put("bn_param", bn_param)
        got = student.call("spatial_batchnorm_forward", x, gamma, beta, handle)
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise StudentError(f"spatial_batchnorm_forward returned {describe_value(got)}; expected a tuple (out, cache)")
        after = student.get(handle)

        def failures(out, param, cache, bugs=None) -> list[tuple[str, str | None]]:
            found = [(mode, mismatch("out", got[0], out, tol, inputs, bugs=bugs))]
            if float32:
                found.append((mode, dtype_problem(got[0], np.asarray(out).dtype, "out", inputs)))
            found += [(mode, _stat_problem(after, stat, bn_param.get(stat), param.get(stat), inputs, mode))
                      for stat in ("running_mean", "running_var")]
            if mode == "train":
                found.append(("cache", cache_mismatch("spatial_batchnorm_forward", got[1], cache, BATCHNORM_CACHE, inputs, tol)))
            return found

        reference = _bn_param_copy(bn_param)
        out, cache = layers.spatial_batchnorm_forward(x, gamma, beta, reference)
        found = failures(out, reference, cache, _spatial_batchnorm_bugs(x, gamma, beta, bn_param))
        if any(failure for _, failure in found):
            twin = _bn_param_copy(bn_param)
            try:
                out, cache = _on_students(layers.spatial_batchnorm_forward, student, ("batchnorm_forward",))(x, gamma, beta, twin)
                other = failures(out, twin, cache)
            except UNUSABLE:
                other = found
            found = found if any(failure for _, failure in other) else other
        for part, failure in found:
            tally.add(failure, part)


@register("spatial_batchnorm_forward", parts=SPATIAL_BATCHNORM_FORWARD_PARTS)
def spatial_batchnorm_forward(student: Student, rng: np.random.Generator, context: CheckContext) -> CheckResult:
    """Train mode (out, the running statistics written back, the cache) and test mode, float64 and float32."""
    tally = Tally(SPATIAL_BATCHNORM_FORWARD_PARTS)
    for mode, dtype in (("train", np.float64), ("train", np.float32), ("test", np.float64), ("test", np.float32)):
        shape = _image_shape(rng, n=1 if (mode, dtype) == ("test", np.float64) else None)
        x = _images(rng, shape, dtype)
        gamma, beta = rng.standard_normal(shape[1]).astype(dtype), rng.standard_normal(shape[1]).astype(dtype)
        bn_param = {"mode": mode}
        keys = "no running statistics"
        if dtype == np.float64 or mode == "test":
            bn_param.update(momentum=float(rng.uniform(0.5, 0.95)), eps=float(10 ** rng.uniform(-4, -2)),
                            running_mean=rng.uniform(-5.0, 5.0, size=shape[1]).astype(dtype),
                            running_var=rng.uniform(0.5, 4.0, size=shape[1]).astype(dtype))
            keys = "its own momentum, eps and running statistics"
        inputs = f"{np.dtype(dtype).name} {describe_shapes(x=x, gamma=gamma, beta=beta)}, bn_param in {mode} mode with {keys}"
        _spatial_batchnorm_case(tally, student, x, gamma, beta, bn_param, inputs)
    return tally.result()


def _students_backward(student: Student):
    """``also`` of :func:`check_backward`: the reference spatial backward run on the student's batchnorm_backward."""
    twin = _on_students(layers.spatial_batchnorm_backward, student, ("batchnorm_backward",))

    def also(dout, cache):
        try:
            return twin(dout, cache)
        except UNUSABLE:
            return None
    return also


SPATIAL_BATCHNORM_BACKWARD_PARTS = {"gradients": Part(1, "dx, dgamma, dbeta of a train-mode forward on the documented cache; "
                                                          "float32 kept float32")}


@register("spatial_batchnorm_backward", parts=SPATIAL_BATCHNORM_BACKWARD_PARTS)
def spatial_batchnorm_backward(student: Student, rng: np.random.Generator, context: CheckContext) -> CheckResult:
    """dx, dgamma, dbeta on the reference forward's cache, float64 and float32."""
    tally = Tally(SPATIAL_BATCHNORM_BACKWARD_PARTS)
    for dtype in (np.float64, np.float32):
        shape = _image_shape(rng, n=None if dtype is np.float64 else 1)
        x = _images(rng, shape, dtype)
        gamma, beta = rng.standard_normal(shape[1]).astype(dtype), rng.standard_normal(shape[1]).astype(dtype)
        dout = rng.standard_normal(shape).astype(dtype)
        inputs = f"{np.dtype(dtype).name} {describe_shapes(x=x, gamma=gamma, beta=beta)}, mode 'train'"
        check_backward(tally, student, "spatial_batchnorm_forward", "spatial_batchnorm_backward",
                       (x, gamma, beta, {"mode": "train"}), dout, ("dx", "dgamma", "dbeta"), inputs, reference=layers,
                       tol=TOL if dtype is np.float64 else F32_TOL, part="gradients", also=_students_backward(student))
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


SPATIAL_GROUPNORM_FORWARD_PARTS = _forward_parts(
    "out for G = 1, G = C and G in between, an eps given in gn_param, batch size 1; float32 kept float32",
    "(x_hat, std, gamma, G)", "spatial_groupnorm_backward", "C is not a multiple of G")


@register("spatial_groupnorm_forward", parts=SPATIAL_GROUPNORM_FORWARD_PARTS)
def spatial_groupnorm_forward(student: Student, rng: np.random.Generator, context: CheckContext) -> CheckResult:
    """``out`` and the cache for G = 1, G = C and G in between, an eps given in gn_param, and float32;
    ValueError when C is not a multiple of G."""
    tally = Tally(SPATIAL_GROUPNORM_FORWARD_PARTS)
    cases = [("one", np.float64, None, {"mode": "train"}), ("all", np.float64, 1, {}),
             ("between", np.float64, None, {"eps": float(10 ** rng.uniform(-2.5, -1.5))}), ("between", np.float32, None, {})]
    for groups, dtype, n, gn_param in cases:
        x, gamma, beta, G, inputs = _groupnorm_inputs(rng, groups, dtype, n)
        if "eps" in gn_param:
            x = 0.1 * rng.standard_normal(x.shape)  # a variance near eps, so that the eps in gn_param matters
            inputs += ", gn_param with its own eps"
        _forward_case(tally, student, "spatial_groupnorm_forward", (x, gamma, beta, G, gn_param), inputs, GROUPNORM_CACHE)
    # C = 6 channels in G = 4 groups: x.reshape(N, G, -1) still works (H * W even), so only a check of C % G raises
    x, gamma, beta = _images(rng, (2, 6, 2, 3)), rng.standard_normal((1, 6, 1, 1)), rng.standard_normal((1, 6, 1, 1))
    inputs = f"{describe_shapes(x=x, gamma=gamma, beta=beta)}, G=4"
    tally.add(_size_problem(student, "spatial_groupnorm_forward", (x, gamma, beta, 4, {}), inputs, "C is not a multiple of G"),
              "sizes")
    return tally.result()


SPATIAL_GROUPNORM_BACKWARD_PARTS = {"gradients": Part(1, "dx, dgamma, dbeta (1, C, 1, 1) on the documented cache, for G = 1, C and "
                                                          "in between, batch size 1; float32 kept float32")}


@register("spatial_groupnorm_backward", parts=SPATIAL_GROUPNORM_BACKWARD_PARTS)
def spatial_groupnorm_backward(student: Student, rng: np.random.Generator, context: CheckContext) -> CheckResult:
    """dx, dgamma, dbeta (1, C, 1, 1) on the reference forward's cache for G = 1, C and in between, and float32."""
    tally = Tally(SPATIAL_GROUPNORM_BACKWARD_PARTS)
    cases = [("one", np.float64, None), ("all", np.float64, 1), ("between", np.float64, None), ("between", np.float32, None)]
    for groups, dtype, n in cases:
        x, gamma, beta, G, inputs = _groupnorm_inputs(rng, groups, dtype, n)
        dout = rng.standard_normal(x.shape).astype(dtype)
        check_backward(tally, student, "spatial_groupnorm_forward", "spatial_groupnorm_backward", (x, gamma, beta, G, {}),
                       dout, ("dx", "dgamma", "dbeta"), inputs, reference=layers,
                       tol=TOL if dtype is np.float64 else F32_TOL, part="gradients")
    return tally.result()
