"""Fast conv and max-pool layers against torch.nn.functional (float64 autograd) as the oracle."""
import copy
import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dl.fast_layers import (
    conv_backward_fast,
    conv_forward_fast,
    max_pool_backward_fast,
    max_pool_forward_fast,
)
from dl.gradcheck import rel_error, rel_error_max


def torch_conv(x, w, b, dout, stride, pad):
    """conv2d output and (dx, dw, db) by autograd in float64."""
    # torch.tensor refuses negative strides, hence the copies
    xt, wt, bt = (
        torch.tensor(np.ascontiguousarray(a), dtype=torch.float64, requires_grad=True) for a in (x, w, b)
    )
    out = F.conv2d(xt, wt, bt, stride=stride, padding=pad)
    out.backward(torch.tensor(np.ascontiguousarray(dout), dtype=torch.float64))
    return out.detach().numpy(), xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy()


def torch_pool(x, dout, ph, pw, stride):
    """max_pool2d output and dx by autograd in float64."""
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    out = F.max_pool2d(xt, (ph, pw), stride)
    out.backward(torch.tensor(dout, dtype=torch.float64))
    return out.detach().numpy(), xt.grad.numpy()


def fitting_size(start, kernel, pad, stride):
    """The first size from ``start`` (odd sizes first) whose conv output size is whole."""
    for size in itertools.chain(range(start, start + 8, 2), range(start + 1, start + 8, 2)):
        if size + 2 * pad >= kernel and (size + 2 * pad - kernel) % stride == 0:
            return size
    raise AssertionError("no fitting size")  # never: 4 odd and 4 even candidates cover stride <= 3


def conv_grid():
    """stride 1..3 x pad 0..4 x (1x1, 3x3 and non-square) kernels: 60 cases, half with N = 1;
    H and W are odd unless an even kernel needs them even, and mostly differ (5x7, 9x7, 5x11...)."""
    for i, (stride, pad, (HH, WW)) in enumerate(
        itertools.product((1, 2, 3), range(5), ((1, 1), (3, 3), (2, 3), (5, 2)))
    ):
        H, W = fitting_size(5, HH, pad, stride), fitting_size(7, WW, pad, stride)
        yield pytest.param((1 + i % 2, 3, H, W), (4, 3, HH, WW), stride, pad, id=f"s{stride}-p{pad}-k{HH}x{WW}")


# ------------------------------------------------------------------------------------------
# Convolution


@pytest.mark.parametrize("x_shape, w_shape, stride, pad", list(conv_grid()))
def test_conv_matches_torch(x_shape, w_shape, stride, pad):
    rng = np.random.default_rng(sum(x_shape) + 10 * stride + pad)
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])
    out, cache = conv_forward_fast(x, w, b, {"stride": stride, "pad": pad})
    dout = rng.standard_normal(out.shape)
    dx, dw, db = conv_backward_fast(dout, cache)
    out_t, dx_t, dw_t, db_t = torch_conv(x, w, b, dout, stride, pad)
    assert out.shape == out_t.shape and dx.shape == x.shape and dw.shape == w.shape and db.shape == b.shape
    # sums of at most a few hundred float64 products: agreement to a few ulps, far below 1e-10
    for name, ours, theirs in (("out", out, out_t), ("dx", dx, dx_t), ("dw", dw, dw_t), ("db", db, db_t)):
        assert rel_error(ours, theirs) < 1e-10, name


def test_conv_course_shapes_match_torch():
    """The notebook's fast-vs-naive check: x (100, 3, 31, 31), w (25, 3, 3, 3), stride 2, pad 1."""
    rng = np.random.default_rng(231)
    x, w, b = rng.standard_normal((100, 3, 31, 31)), rng.standard_normal((25, 3, 3, 3)), rng.standard_normal(25)
    out, cache = conv_forward_fast(x, w, b, {"stride": 2, "pad": 1})
    dout = rng.standard_normal((100, 25, 16, 16))
    grads = conv_backward_fast(dout, cache)
    expected = torch_conv(x, w, b, dout, 2, 1)
    assert out.shape == (100, 25, 16, 16)
    assert out.flags.c_contiguous
    for ours, theirs in zip((out, *grads), expected):
        assert rel_error(ours, theirs) < 1e-10


def test_conv_pad_wider_than_input_and_kernel():
    """Outputs whose windows lie wholly in the padding equal the bias; their gradient is cropped."""
    rng = np.random.default_rng(7)
    x, w, b = rng.standard_normal((2, 2, 3, 1)), rng.standard_normal((3, 2, 2, 1)), rng.standard_normal(3)
    out, cache = conv_forward_fast(x, w, b, {"stride": 1, "pad": 4})
    assert out.shape == (2, 3, 10, 9)
    np.testing.assert_array_equal(out[:, :, 0, 0], np.broadcast_to(b, (2, 3)))
    dout = rng.standard_normal(out.shape)
    expected = torch_conv(x, w, b, dout, 1, 4)
    for ours, theirs in zip((out, *conv_backward_fast(dout, cache)), expected):
        assert rel_error(ours, theirs) < 1e-10


def test_conv_non_contiguous_inputs():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((7, 5, 2, 9)).transpose(2, 1, 3, 0)  # (2, 5, 9, 7), not contiguous
    w = np.asfortranarray(rng.standard_normal((4, 5, 3, 3)))
    b = rng.standard_normal(8)[::2]
    out, cache = conv_forward_fast(x, w, b, {"stride": 2, "pad": 1})
    dout = rng.standard_normal(out.shape)[..., ::-1]
    expected = torch_conv(x, w, b, dout, 2, 1)
    for ours, theirs in zip((out, *conv_backward_fast(dout, cache)), expected):
        assert rel_error(ours, theirs) < 1e-10


def test_conv_float32_stays_float32():
    rng = np.random.default_rng(9)
    x, w, b = rng.standard_normal((3, 4, 9, 7)), rng.standard_normal((5, 4, 3, 3)), rng.standard_normal(5)
    x32, w32, b32 = (a.astype(np.float32) for a in (x, w, b))
    out, cache = conv_forward_fast(x32, w32, b32, {"stride": 1, "pad": 2})
    dout = rng.standard_normal(out.shape)
    grads = conv_backward_fast(dout.astype(np.float32), cache)
    expected = torch_conv(x, w, b, dout, 1, 2)
    for ours, theirs in zip((out, *grads), expected):
        assert ours.dtype == np.float32
        # float32 rounding (eps 6e-8) over sums of up to ~300 terms, relative to the largest entry
        assert rel_error_max(ours, theirs) < 1e-5


def test_conv_cache_contents_and_inputs_untouched():
    rng = np.random.default_rng(10)
    x, w, b = rng.standard_normal((2, 3, 5, 5)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    conv_param = {"stride": 2, "pad": 1}
    saved = (x.copy(), w.copy(), b.copy(), dict(conv_param))
    _, cache = conv_forward_fast(x, w, b, conv_param)
    assert cache[0] is x and cache[1] is w and cache[2] is b and cache[3] is conv_param
    assert cache[4].shape == (3 * 3 * 3, 2 * 3 * 3)  # (C*HH*WW, N*H'*W')
    for before, after in zip(saved, (x, w, b, conv_param)):
        np.testing.assert_equal(after, before)


def test_conv_backward_uses_only_the_cache():
    """A deep copy of the cache, used after other forward calls, gives the same gradients."""
    rng = np.random.default_rng(11)
    x, w, b = rng.standard_normal((2, 3, 6, 6)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    out, cache = conv_forward_fast(x, w, b, {"stride": 1, "pad": 1})
    dout = rng.standard_normal(out.shape)
    expected = conv_backward_fast(dout, cache)
    frozen = copy.deepcopy(cache)
    conv_forward_fast(rng.standard_normal((3, 3, 9, 9)), w + 1, b, {"stride": 2, "pad": 2})
    for ours, theirs in zip(conv_backward_fast(dout, frozen), expected):
        np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(w=(4, 2, 3, 3)), r"x has 3 channels .* w expects 2"),
        (dict(x=(2, 3, 6, 5), stride=2), r"height: output size 1 \+ \(6 \+ 2\*1 - 3\) / 2 = 3\.5 is not an integer"),
        (dict(x=(2, 3, 5, 6), stride=2, pad=0), r"width: output size 1 \+ \(6 \+ 2\*0 - 3\) / 2"),
        (dict(x=(2, 3, 2, 5), w=(4, 3, 5, 3)), r"height: the filter \(HH = 5\) is larger .* \(2 \+ 2\*1 = 4\)"),
        (dict(b=(3,)), r"b must have shape \(F,\) = \(4,\)"),
        (dict(x=(3, 5, 5)), r"x must have shape \(N, C, H, W\), got shape \(3, 5, 5\)"),
        (dict(stride=0), r"conv_param\['stride'\] must be >= 1, got 0"),
        (dict(pad=-1), r"conv_param\['pad'\] must be >= 0"),
        (dict(stride=1.5), r"conv_param\['stride'\] must be an integer"),
        (dict(pad=None), r"conv_param is missing the key 'pad'"),
    ],
)
def test_conv_rejects_bad_inputs(change, message):
    """Changes to a valid call (x (2, 3, 5, 5), w (4, 3, 3, 3), b (4,), stride 1, pad 1)."""
    args = {**dict(x=(2, 3, 5, 5), w=(4, 3, 3, 3), b=(4,), stride=1, pad=1), **change}
    conv_param = {key: args[key] for key in ("stride", "pad") if args[key] is not None}
    with pytest.raises(ValueError, match=message):
        conv_forward_fast(np.zeros(args["x"]), np.zeros(args["w"]), np.zeros(args["b"]), conv_param)


def test_conv_backward_rejects_wrong_dout_shape():
    _, cache = conv_forward_fast(np.zeros((2, 3, 5, 5)), np.zeros((4, 3, 3, 3)), np.zeros(4), {"stride": 1, "pad": 1})
    with pytest.raises(ValueError, match=r"dout must have the forward output's shape \(2, 4, 5, 5\)"):
        conv_backward_fast(np.zeros((2, 4, 5, 4)), cache)


# ------------------------------------------------------------------------------------------
# Max pooling


def distinct_values(rng, shape):
    """A random arrangement of distinct values: no window has a tie, so every argmax is unique."""
    return rng.permutation(np.prod(shape)).reshape(shape) / 7.0 - 3.0


POOL_CASES = [
    # (x shape, pool_height, pool_width, stride)
    pytest.param((2, 3, 8, 6), 2, 2, 2, id="2x2-s2-tiles"),
    pytest.param((1, 2, 9, 12), 3, 3, 3, id="3x3-s3-tiles"),
    pytest.param((3, 2, 7, 9), 3, 3, 2, id="3x3-s2-overlap"),
    pytest.param((2, 1, 5, 7), 2, 3, 1, id="2x3-s1-overlap"),
    pytest.param((2, 2, 8, 9), 4, 3, 2, id="4x3-s2-nonsquare"),
    pytest.param((1, 3, 7, 7), 1, 1, 2, id="1x1-s2-gaps"),
    pytest.param((2, 2, 11, 8), 2, 2, 3, id="2x2-s3-gaps"),
    pytest.param((2, 2, 5, 5), 5, 5, 1, id="whole-input"),
]


@pytest.mark.parametrize("x_shape, ph, pw, stride", POOL_CASES)
def test_max_pool_matches_torch(x_shape, ph, pw, stride):
    rng = np.random.default_rng(sum(x_shape) + ph + 10 * pw + 100 * stride)
    x = distinct_values(rng, x_shape)
    out, cache = max_pool_forward_fast(x, {"pool_height": ph, "pool_width": pw, "stride": stride})
    dout = rng.standard_normal(out.shape)
    dx = max_pool_backward_fast(dout, cache)
    out_t, dx_t = torch_pool(x, dout, ph, pw, stride)
    np.testing.assert_array_equal(out, out_t)  # a maximum is exact
    assert dx.shape == x.shape
    # overlapping windows add several upstream values into one element; the order may differ
    np.testing.assert_allclose(dx, dx_t, rtol=0, atol=1e-12)


def test_max_pool_course_shape_matches_torch():
    rng = np.random.default_rng(231)
    x = rng.standard_normal((100, 3, 32, 32))
    out, cache = max_pool_forward_fast(x, {"pool_height": 2, "pool_width": 2, "stride": 2})
    dout = rng.standard_normal((100, 3, 16, 16))
    out_t, dx_t = torch_pool(x, dout, 2, 2, 2)
    np.testing.assert_array_equal(out, out_t)
    np.testing.assert_array_equal(max_pool_backward_fast(dout, cache), dx_t)


@pytest.mark.parametrize("x_shape, ph, pw, stride", POOL_CASES)
def test_max_pool_ties_go_to_the_first_maximum(x_shape, ph, pw, stride):
    """With many ties, each window's gradient lands on one element: np.argmax of the window
    flattened in row-major order. Checked one window at a time with a one-hot dout."""
    rng = np.random.default_rng(12)
    x = rng.integers(0, 3, size=x_shape).astype(np.float64)  # values 0, 1, 2: ties everywhere
    out, cache = max_pool_forward_fast(x, {"pool_height": ph, "pool_width": pw, "stride": stride})
    n, c = x_shape[0] - 1, x_shape[1] - 1  # the last example and channel
    for i, j in itertools.product(range(out.shape[2]), range(out.shape[3])):
        window = x[n, c, i * stride : i * stride + ph, j * stride : j * stride + pw]
        k, l = np.unravel_index(np.argmax(window), window.shape)
        dout = np.zeros(out.shape)
        dout[n, c, i, j] = 1.0
        expected = np.zeros(x.shape)
        expected[n, c, i * stride + k, j * stride + l] = 1.0
        assert out[n, c, i, j] == window.max()
        np.testing.assert_array_equal(max_pool_backward_fast(dout, cache), expected)


@pytest.mark.parametrize("ph, pw, stride, H, W", [(2, 2, 2, 8, 6), (3, 3, 2, 7, 9), (2, 3, 1, 5, 6)])
def test_max_pool_constant_input_routes_to_window_corner(ph, pw, stride, H, W):
    """All elements tie: every window's gradient goes to its top-left element."""
    x = np.full((2, 3, H, W), 0.5)
    out, cache = max_pool_forward_fast(x, {"pool_height": ph, "pool_width": pw, "stride": stride})
    dout = np.arange(out.size, dtype=np.float64).reshape(out.shape) + 1
    dx = max_pool_backward_fast(dout, cache)
    H_out, W_out = out.shape[2:]
    expected = np.zeros(x.shape)
    expected[:, :, : stride * H_out : stride, : stride * W_out : stride] = dout
    np.testing.assert_array_equal(dx, expected)


def test_max_pool_float32_and_non_contiguous():
    rng = np.random.default_rng(13)
    x64 = distinct_values(rng, (8, 10, 2, 3)).transpose(2, 3, 0, 1)  # (2, 3, 8, 10), not contiguous
    for ph, pw, stride in ((2, 2, 2), (3, 2, 1)):
        pool_param = {"pool_height": ph, "pool_width": pw, "stride": stride}
        out, cache = max_pool_forward_fast(x64.astype(np.float32), pool_param)
        dout = rng.standard_normal(out.shape)
        dx = max_pool_backward_fast(dout.astype(np.float32), cache)
        out_t, dx_t = torch_pool(x64, dout, ph, pw, stride)
        assert out.dtype == np.float32 and dx.dtype == np.float32
        np.testing.assert_allclose(out, out_t, rtol=1e-6)
        np.testing.assert_allclose(dx, dx_t, rtol=1e-6, atol=1e-6)


def test_max_pool_cache_and_backward_uses_only_the_cache():
    rng = np.random.default_rng(14)
    x = distinct_values(rng, (2, 3, 6, 6))
    pool_param = {"pool_height": 3, "pool_width": 3, "stride": 3}
    out, cache = max_pool_forward_fast(x, pool_param)
    assert cache[0] is x and cache[1] is pool_param and cache[2].shape == out.shape
    assert np.issubdtype(cache[2].dtype, np.unsignedinteger) and cache[2].max() < 9
    dout = rng.standard_normal(out.shape)
    expected = max_pool_backward_fast(dout, cache)
    frozen = copy.deepcopy(cache)
    max_pool_forward_fast(distinct_values(rng, (2, 3, 9, 9)), {"pool_height": 3, "pool_width": 3, "stride": 3})
    np.testing.assert_array_equal(max_pool_backward_fast(dout, frozen), expected)
    assert pool_param == {"pool_height": 3, "pool_width": 3, "stride": 3}


@pytest.mark.parametrize(
    "x_shape, pool, message",
    [
        ((2, 3, 7, 8), (2, 2, 2), r"height: output size 1 \+ \(7 - 2\) / 2 = 3\.5 is not an integer"),
        ((2, 3, 8, 7), (2, 2, 2), r"width: output size 1 \+ \(7 - 2\) / 2"),
        ((2, 3, 3, 8), (4, 2, 1), r"pool_height = 4 is larger than the input height 3"),
        ((2, 3, 8, 8), (2, 2, 0), r"pool_param\['stride'\] must be >= 1"),
        ((2, 3, 8, 8), (2, None, 2), r"pool_param is missing the key 'pool_width'"),
        ((3, 8, 8), (2, 2, 2), r"x must have shape \(N, C, H, W\)"),
    ],
)
def test_max_pool_rejects_bad_inputs(x_shape, pool, message):
    pool_param = {key: v for key, v in zip(("pool_height", "pool_width", "stride"), pool) if v is not None}
    with pytest.raises(ValueError, match=message):
        max_pool_forward_fast(np.zeros(x_shape), pool_param)
