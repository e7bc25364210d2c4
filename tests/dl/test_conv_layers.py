"""Naive convolution and max pooling against PyTorch (float64 autograd) and numerical gradients.

The naive layers loop in Python, so the numerical checks use small inputs.
"""
import numpy as np
import pytest
import torch.nn.functional as F

from dl.gradcheck import eval_numerical_gradient_array, rel_error
from dl.layers import conv_backward_naive, conv_forward_naive, max_pool_backward_naive, max_pool_forward_naive
from tests.dl.oracles import torch_grads

CONV_CASES = [
    # x shape, w shape, stride, pad
    ((2, 3, 4, 4), (3, 3, 4, 4), 2, 1),
    ((2, 2, 5, 7), (3, 2, 3, 3), 1, 1),  # non-square input
    ((1, 3, 7, 5), (2, 3, 3, 1), 2, 0),  # non-square filter, no padding
    ((2, 1, 7, 7), (2, 1, 2, 2), 3, 2),  # stride 3, pad 2
    ((3, 2, 3, 3), (4, 2, 1, 1), 1, 0),  # 1x1 convolution
]


@pytest.mark.parametrize("x_shape, w_shape, stride, pad", CONV_CASES)
def test_conv_matches_torch(x_shape, w_shape, stride, pad):
    rng = np.random.default_rng(50)
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])
    out, cache = conv_forward_naive(x, w, b, {"stride": stride, "pad": pad})
    dout = rng.standard_normal(out.shape)
    expected, (dx_t, dw_t, db_t) = torch_grads(
        lambda x, w, b: F.conv2d(x, w, b, stride=stride, padding=pad), x, w, b, dout=dout
    )
    assert out.shape == expected.shape
    dx, dw, db = conv_backward_naive(dout, cache)
    assert dx.shape == x.shape and dw.shape == w.shape and db.shape == b.shape
    # sums of at most C * HH * WW products: agreement to a few ulps of the largest entry
    for ours, theirs in [(out, expected), (dx, dx_t), (dw, dw_t), (db, db_t)]:
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-13 * np.abs(theirs).max())


def test_conv_is_cross_correlation_with_zero_padding():
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    w = np.zeros((1, 1, 3, 3))
    w[0, 0, 0, 0] = 1.0  # picks the top-left neighbour: no flip
    out, _ = conv_forward_naive(x, w, np.array([0.5]), {"stride": 1, "pad": 1})
    expected = np.array([[0, 0, 0], [0, 0, 1], [0, 3, 4]]) + 0.5  # the zero border shows on top and left
    np.testing.assert_array_equal(out[0, 0], expected)


def test_conv_rejects_shapes_that_do_not_tile():
    with pytest.raises(ValueError, match=r"filters 3x3 with stride 2 and pad 0 do not tile an input of 4x4"):
        conv_forward_naive(np.zeros((1, 1, 4, 4)), np.zeros((1, 1, 3, 3)), np.zeros(1), {"stride": 2, "pad": 0})


def test_conv_backward_numerical():
    rng = np.random.default_rng(231)
    x, w, b = rng.standard_normal((2, 3, 5, 5)), rng.standard_normal((2, 3, 3, 3)), rng.standard_normal(2)
    dout = rng.standard_normal((2, 2, 5, 5))
    conv_param = {"stride": 1, "pad": 1}
    _, cache = conv_forward_naive(x, w, b, conv_param)
    dx, dw, db = conv_backward_naive(dout, cache)
    f = lambda xx, ww, bb: conv_forward_naive(xx, ww, bb, conv_param)[0]  # noqa: E731
    assert rel_error(dx, eval_numerical_gradient_array(lambda xx: f(xx, w, b), x, dout)) < 1e-8
    assert rel_error(dw, eval_numerical_gradient_array(lambda ww: f(x, ww, b), w, dout)) < 1e-8
    assert rel_error(db, eval_numerical_gradient_array(lambda bb: f(x, w, bb), b, dout)) < 1e-8


POOL_CASES = [
    # x shape, pool height, pool width, stride
    ((2, 3, 4, 4), 2, 2, 2),
    ((1, 2, 5, 9), 2, 3, 3),  # non-square window, stride 3
    ((2, 1, 5, 5), 3, 3, 1),  # stride smaller than the window: windows overlap
    ((1, 2, 7, 4), 3, 2, 2),
]


@pytest.mark.parametrize("x_shape, ph, pw, stride", POOL_CASES)
def test_max_pool_matches_torch(x_shape, ph, pw, stride):
    rng = np.random.default_rng(51)
    x = rng.standard_normal(x_shape)  # continuous values: no ties
    out, cache = max_pool_forward_naive(x, {"pool_height": ph, "pool_width": pw, "stride": stride})
    dout = rng.standard_normal(out.shape)
    expected, (dx_t,) = torch_grads(lambda x: F.max_pool2d(x, (ph, pw), stride=stride), x, dout=dout)
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_allclose(max_pool_backward_naive(dout, cache), dx_t, rtol=1e-15, atol=0)


def test_max_pool_backward_sends_a_tie_to_the_first_maximum():
    x = np.array([[[[1.0, 3.0], [3.0, 0.0]]]])
    _, cache = max_pool_forward_naive(x, {"pool_height": 2, "pool_width": 2, "stride": 2})
    dx = max_pool_backward_naive(np.array([[[[5.0]]]]), cache)
    np.testing.assert_array_equal(dx, [[[[0.0, 5.0], [0.0, 0.0]]]])


def test_max_pool_rejects_windows_that_do_not_tile():
    with pytest.raises(ValueError, match=r"pooling windows 2x2 with stride 2 do not tile an input of 5x4"):
        max_pool_forward_naive(np.zeros((1, 1, 5, 4)), {"pool_height": 2, "pool_width": 2, "stride": 2})


def test_max_pool_backward_numerical():
    rng = np.random.default_rng(231)
    x, dout = rng.standard_normal((3, 2, 8, 8)), rng.standard_normal((3, 2, 4, 4))
    pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    _, cache = max_pool_forward_naive(x, pool_param)
    dx = max_pool_backward_naive(dout, cache)
    dx_num = eval_numerical_gradient_array(lambda xx: max_pool_forward_naive(xx, pool_param)[0], x, dout)
    assert rel_error(dx, dx_num) < 1e-11


def test_float32_is_preserved():
    rng = np.random.default_rng(52)
    x = rng.standard_normal((1, 2, 4, 4)).astype(np.float32)
    w, b = rng.standard_normal((2, 2, 3, 3)).astype(np.float32), np.zeros(2, np.float32)
    out, cache = conv_forward_naive(x, w, b, {"stride": 1, "pad": 1})
    assert out.dtype == np.float32
    assert all(g.dtype == np.float32 for g in conv_backward_naive(np.ones_like(out), cache))
    pooled, _ = max_pool_forward_naive(x, {"pool_height": 2, "pool_width": 2, "stride": 2})
    assert pooled.dtype == np.float32


def test_conv_does_not_change_its_inputs():
    rng = np.random.default_rng(53)
    x, w, b = rng.standard_normal((1, 2, 4, 4)), rng.standard_normal((2, 2, 3, 3)), rng.standard_normal(2)
    copies = [a.copy() for a in (x, w, b)]
    out, cache = conv_forward_naive(x, w, b, {"stride": 1, "pad": 1})
    conv_backward_naive(np.ones_like(out), cache)
    for original, copy in zip((x, w, b), copies):
        np.testing.assert_array_equal(original, copy)
    assert cache[0] is x and cache[1] is w and cache[2] is b
