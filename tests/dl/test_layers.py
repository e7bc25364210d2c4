"""Layers against PyTorch autograd (float64) and against numerical gradients."""
import numpy as np
import pytest
import torch

from dl.gradcheck import eval_numerical_gradient, eval_numerical_gradient_array, rel_error
from dl.layer_utils import affine_relu_backward, affine_relu_forward
from dl.layers import (
    affine_backward,
    affine_forward,
    relu_backward,
    relu_forward,
    softmax_loss,
    svm_loss,
)
from tests.dl.oracles import torch_grads


@pytest.mark.parametrize("shape", [(4, 7), (3, 2, 5), (2, 3, 4, 5), (1, 6)])
def test_affine_matches_torch(shape):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape)
    d = int(np.prod(shape[1:]))
    w, b = rng.standard_normal((d, 5)), rng.standard_normal(5)
    dout = rng.standard_normal((shape[0], 5))
    out, cache = affine_forward(x, w, b)
    expected, (dx_t, dw_t, db_t) = torch_grads(lambda x, w, b: x.reshape(x.shape[0], -1) @ w + b, x, w, b, dout=dout)
    dx, dw, db = affine_backward(dout, cache)
    assert out.shape == (shape[0], 5)
    assert dx.shape == x.shape
    # float64 matrix products agree to a few ulps
    assert rel_error(out, expected) < 1e-12
    assert rel_error(dx, dx_t) < 1e-12 and rel_error(dw, dw_t) < 1e-12 and rel_error(db, db_t) < 1e-12


def test_affine_does_not_copy_or_change_input():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 2, 2))
    before = x.copy()
    _, cache = affine_forward(x, rng.standard_normal((4, 2)), np.zeros(2))
    assert cache[0] is x
    np.testing.assert_array_equal(x, before)


def test_affine_backward_numerical():
    rng = np.random.default_rng(231)
    x, w, b = rng.standard_normal((10, 2, 3)), rng.standard_normal((6, 5)), rng.standard_normal(5)
    dout = rng.standard_normal((10, 5))
    _, cache = affine_forward(x, w, b)
    dx, dw, db = affine_backward(dout, cache)
    assert rel_error(dx, eval_numerical_gradient_array(lambda xx: affine_forward(xx, w, b)[0], x, dout)) < 1e-9
    assert rel_error(dw, eval_numerical_gradient_array(lambda ww: affine_forward(x, ww, b)[0], w, dout)) < 1e-9
    assert rel_error(db, eval_numerical_gradient_array(lambda bb: affine_forward(x, w, bb)[0], b, dout)) < 1e-9


def test_relu_matches_torch_and_is_zero_at_zero():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((5, 6))
    x[0, :3] = 0.0
    dout = rng.standard_normal(x.shape)
    out, cache = relu_forward(x)
    expected, (dx_t,) = torch_grads(torch.relu, x, dout=dout)
    dx = relu_backward(dout, cache)
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(dx, dx_t)
    assert np.all(dx[0, :3] == 0)


def test_relu_backward_numerical():
    rng = np.random.default_rng(231)
    x, dout = rng.standard_normal((10, 10)), rng.standard_normal((10, 10))
    dx = relu_backward(dout, relu_forward(x)[1])
    assert rel_error(dx, eval_numerical_gradient_array(lambda xx: relu_forward(xx)[0], x, dout)) < 1e-10


def test_affine_relu_sandwich_numerical():
    rng = np.random.default_rng(231)
    x, w, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((12, 10)), rng.standard_normal(10)
    dout = rng.standard_normal((2, 10))
    _, cache = affine_relu_forward(x, w, b)
    dx, dw, db = affine_relu_backward(dout, cache)
    f = lambda xx, ww, bb: affine_relu_forward(xx, ww, bb)[0]  # noqa: E731
    # element-wise relative error: near-zero entries (units switched off by the ReLU) carry the
    # ~1e-11 absolute rounding of centred differences up to ~1e-9
    assert rel_error(dx, eval_numerical_gradient_array(lambda xx: f(xx, w, b), x, dout)) < 1e-8
    assert rel_error(dw, eval_numerical_gradient_array(lambda ww: f(x, ww, b), w, dout)) < 1e-8
    assert rel_error(db, eval_numerical_gradient_array(lambda bb: f(x, w, bb), b, dout)) < 1e-8


@pytest.mark.parametrize("n, c", [(50, 10), (7, 3), (4, 1)])
def test_softmax_loss_matches_torch(n, c):
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((n, c)), rng.integers(c, size=n)
    loss, dx = softmax_loss(x, y)
    expected, (dx_t,) = torch_grads(lambda s: torch.nn.functional.cross_entropy(s, torch.tensor(y)), x)
    assert isinstance(loss, float)
    assert abs(loss - float(expected)) < 1e-12
    np.testing.assert_allclose(dx, dx_t, atol=1e-14)


def test_softmax_loss_tiny_scores_is_log_c():
    rng = np.random.default_rng(4)
    for c in (3, 10, 100):
        loss, _ = softmax_loss(1e-6 * rng.standard_normal((20, c)), rng.integers(c, size=20))
        assert abs(loss - np.log(c)) < 1e-4  # scores of size 1e-6 move the loss by about that much


def test_softmax_loss_huge_logits_stay_finite():
    x = np.array([[1e3, -1e3, 0.0], [-1e3, 1e3, 5.0]])
    loss, dx = softmax_loss(x, np.array([1, 1]))
    assert np.isfinite(loss) and np.all(np.isfinite(dx))
    assert abs(loss - 1e3) < 1e-6  # first row: log p = -2000, second row: log p ~ 0
    np.testing.assert_allclose(dx.sum(axis=1), 0, atol=1e-12)


def test_softmax_loss_numerical():
    rng = np.random.default_rng(231)
    x, y = 0.001 * rng.standard_normal((50, 10)), rng.integers(10, size=50)
    _, dx = softmax_loss(x, y)
    assert rel_error(dx, eval_numerical_gradient(lambda xx: softmax_loss(xx, y)[0], x, verbose=False)) < 1e-7


def test_svm_loss_matches_torch():
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((30, 6)), rng.integers(6, size=30)
    loss, dx = svm_loss(x, y)
    # torch averages over classes as well as the batch, so its loss is ours divided by C
    expected, (dx_t,) = torch_grads(lambda s: 6 * torch.nn.functional.multi_margin_loss(s, torch.tensor(y)), x)
    assert abs(loss - float(expected)) < 1e-12
    np.testing.assert_allclose(dx, dx_t, atol=1e-14)


def test_svm_loss_numerical():
    rng = np.random.default_rng(231)
    x, y = 0.001 * rng.standard_normal((50, 10)), rng.integers(10, size=50)
    loss, dx = svm_loss(x, y)
    assert abs(loss - 9.0) < 0.05  # tiny scores: each of the 9 wrong classes costs about 1
    assert rel_error(dx, eval_numerical_gradient(lambda xx: svm_loss(xx, y)[0], x, verbose=False)) < 1e-8
