"""Batch, layer, spatial batch and group normalization against PyTorch and numerical gradients.

PyTorch's functional normalizations are the oracles (float64 autograd). One convention differs:
torch keeps the *unbiased* batch variance in its running average, the course the biased one, so
running variances are compared after rescaling by (n - 1) / n.
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dl.gradcheck import eval_numerical_gradient_array, rel_error
from dl.layers import (
    batchnorm_backward,
    batchnorm_backward_alt,
    batchnorm_forward,
    layernorm_backward,
    layernorm_forward,
    spatial_batchnorm_backward,
    spatial_batchnorm_forward,
    spatial_groupnorm_backward,
    spatial_groupnorm_forward,
)
from tests.dl.oracles import torch_grads

EPS = 1e-5


def assert_dx_close(dx, expected, dout, gamma, x, axis):
    """dx agrees on the scale of the terms it is computed from.

    dx is a difference of terms of size about ``|dout * gamma| / std``; with few values per
    group (two, say) almost all of it cancels, so rounding is relative to those terms, not to dx.
    """
    scale = np.abs(dout * gamma).max() / np.sqrt(x.var(axis=axis) + EPS).min()
    np.testing.assert_allclose(dx, expected, rtol=0, atol=1e-12 * scale)


def scaled_inputs(rng, shape, gamma_shape):
    """x far from zero mean and unit variance, random gamma/beta, and an upstream gradient."""
    x = 5 * rng.standard_normal(shape) + 12
    gamma, beta = rng.standard_normal(gamma_shape), rng.standard_normal(gamma_shape)
    return x, gamma, beta, rng.standard_normal(shape)


# ---------------------------------------------------------------------------------------------
# batchnorm


@pytest.mark.parametrize("n, d", [(4, 5), (50, 3), (2, 7)])
def test_batchnorm_train_matches_torch(n, d):
    rng = np.random.default_rng(10)
    x, gamma, beta, dout = scaled_inputs(rng, (n, d), (d,))
    out, cache = batchnorm_forward(x, gamma, beta, {"mode": "train"})
    expected, (dx_t, dg_t, db_t) = torch_grads(
        lambda x, g, b: F.batch_norm(x, None, None, g, b, training=True, eps=EPS), x, gamma, beta, dout=dout
    )
    assert rel_error(out, expected) < 1e-10
    for backward in (batchnorm_backward, batchnorm_backward_alt):
        dx, dgamma, dbeta = backward(dout, cache)
        assert_dx_close(dx, dx_t, dout, gamma, x, axis=0)
        np.testing.assert_allclose(dgamma, dg_t, rtol=1e-10)
        np.testing.assert_allclose(dbeta, db_t, rtol=1e-12)


def test_batchnorm_train_normalises_each_feature():
    rng = np.random.default_rng(11)
    x = rng.standard_normal((200, 3)) * [30.0, 3.0, 0.3] + [-2.0, 13.0, 100.0]
    out, _ = batchnorm_forward(x, np.ones(3), np.zeros(3), {"mode": "train"})
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(out.std(axis=0), 1, atol=1e-4)  # std = sqrt(var / (var + eps))
    gamma, beta = np.array([1.0, 2.0, 3.0]), np.array([11.0, 12.0, 13.0])
    out, _ = batchnorm_forward(x, gamma, beta, {"mode": "train"})
    np.testing.assert_allclose(out.mean(axis=0), beta, atol=1e-10)
    np.testing.assert_allclose(out.std(axis=0), gamma, rtol=1e-4)


def test_batchnorm_running_statistics_and_test_mode_match_torch():
    rng = np.random.default_rng(12)
    n, d = 20, 4
    gamma, beta = rng.standard_normal(d), rng.standard_normal(d)
    bn_param = {"mode": "train", "momentum": 0.8}
    running_mean, running_var = torch.zeros(d, dtype=torch.float64), torch.zeros(d, dtype=torch.float64)
    for _ in range(5):
        x = 3 * rng.standard_normal((n, d)) + 2
        batchnorm_forward(x, gamma, beta, bn_param)
        F.batch_norm(torch.tensor(x), running_mean, running_var, training=True, momentum=0.2, eps=EPS)
    # torch's momentum weights the new value (1 - ours); its variance average is unbiased
    np.testing.assert_allclose(bn_param["running_mean"], running_mean.numpy(), rtol=1e-12)
    expected_var = running_var.numpy() * (n - 1) / n
    np.testing.assert_allclose(bn_param["running_var"], expected_var, rtol=1e-12)

    bn_param["mode"] = "test"
    x = 3 * rng.standard_normal((n, d)) + 2
    out, cache = batchnorm_forward(x, gamma, beta, bn_param)
    expected = F.batch_norm(torch.tensor(x), torch.tensor(bn_param["running_mean"]), torch.tensor(bn_param["running_var"]),
                            torch.tensor(gamma), torch.tensor(beta), training=False, eps=EPS)
    assert rel_error(out, expected) < 1e-12
    assert cache is None


def test_batchnorm_creates_running_stats_of_x_dtype_and_writes_them_back():
    rng = np.random.default_rng(13)
    x = rng.standard_normal((6, 3)).astype(np.float32)
    gamma, beta = np.ones(3, np.float32), np.zeros(3, np.float32)
    bn_param = {"mode": "train"}
    out, _ = batchnorm_forward(x, gamma, beta, bn_param)
    assert out.dtype == np.float32
    assert bn_param["running_mean"].dtype == np.float32 and bn_param["running_mean"].shape == (3,)
    np.testing.assert_allclose(bn_param["running_mean"], 0.1 * x.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(bn_param["running_var"], 0.1 * x.var(axis=0), rtol=1e-5)

    existing = {"mode": "train", "running_mean": np.ones(3), "running_var": np.full(3, 2.0)}
    batchnorm_forward(x.astype(np.float64), gamma, beta, existing)
    np.testing.assert_allclose(existing["running_mean"], 0.9 + 0.1 * x.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(existing["running_var"], 1.8 + 0.1 * x.var(axis=0), rtol=1e-6)


def test_batchnorm_rejects_unknown_mode():
    with pytest.raises(ValueError, match="'train' or 'test', got 'eval'"):
        batchnorm_forward(np.ones((2, 2)), np.ones(2), np.zeros(2), {"mode": "eval"})


def test_batchnorm_backward_numerical():
    rng = np.random.default_rng(231)
    x, gamma, beta, dout = scaled_inputs(rng, (4, 5), (5,))
    bn_param = {"mode": "train"}
    _, cache = batchnorm_forward(x, gamma, beta, bn_param)
    dx, dgamma, dbeta = batchnorm_backward(dout, cache)
    f = lambda xx, gg, bb: batchnorm_forward(xx, gg, bb, bn_param)[0]  # noqa: E731
    assert rel_error(dx, eval_numerical_gradient_array(lambda xx: f(xx, gamma, beta), x, dout)) < 1e-7
    assert rel_error(dgamma, eval_numerical_gradient_array(lambda gg: f(x, gg, beta), gamma.copy(), dout)) < 1e-9
    assert rel_error(dbeta, eval_numerical_gradient_array(lambda bb: f(x, gamma, bb), beta.copy(), dout)) < 1e-9


def test_batchnorm_backward_alt_agrees_with_graph_version():
    rng = np.random.default_rng(14)
    x, gamma, beta, dout = scaled_inputs(rng, (100, 500), (500,))
    _, cache = batchnorm_forward(x, gamma, beta, {"mode": "train"})
    dx1, dgamma1, dbeta1 = batchnorm_backward(dout, cache)
    dx2, dgamma2, dbeta2 = batchnorm_backward_alt(dout, cache)
    assert_dx_close(dx2, dx1, dout, gamma, x, axis=0)
    np.testing.assert_array_equal(dgamma2, dgamma1)  # the same expression in both
    np.testing.assert_array_equal(dbeta2, dbeta1)


# ---------------------------------------------------------------------------------------------
# layernorm


@pytest.mark.parametrize("n, d", [(4, 5), (1, 6), (7, 2)])
def test_layernorm_matches_torch(n, d):
    rng = np.random.default_rng(20)
    x, gamma, beta, dout = scaled_inputs(rng, (n, d), (d,))
    out, cache = layernorm_forward(x, gamma, beta, {})
    expected, (dx_t, dg_t, db_t) = torch_grads(
        lambda x, g, b: F.layer_norm(x, (d,), g, b, eps=EPS), x, gamma, beta, dout=dout
    )
    dx, dgamma, dbeta = layernorm_backward(dout, cache)
    assert rel_error(out, expected) < 1e-10
    assert_dx_close(dx, dx_t, dout, gamma, x, axis=1)
    np.testing.assert_allclose(dgamma, dg_t, rtol=1e-10)
    np.testing.assert_allclose(dbeta, db_t, rtol=1e-12)


def test_layernorm_normalises_each_example_and_ignores_mode():
    rng = np.random.default_rng(21)
    x = rng.standard_normal((5, 40)) * rng.uniform(0.5, 30, size=(5, 1)) + rng.uniform(-50, 50, size=(5, 1))
    out_train, _ = layernorm_forward(x, np.ones(40), np.zeros(40), {"mode": "train"})
    out_test, _ = layernorm_forward(x, np.ones(40), np.zeros(40), {"mode": "test"})
    np.testing.assert_array_equal(out_train, out_test)
    np.testing.assert_allclose(out_train.mean(axis=1), 0, atol=1e-12)
    np.testing.assert_allclose(out_train.std(axis=1), 1, atol=1e-4)
    ln_param = {"eps": 1e-3}
    layernorm_forward(x, np.ones(40), np.zeros(40), ln_param)
    assert ln_param == {"eps": 1e-3}  # no running statistics are stored


def test_layernorm_backward_numerical():
    rng = np.random.default_rng(231)
    x, gamma, beta, dout = scaled_inputs(rng, (4, 5), (5,))
    _, cache = layernorm_forward(x, gamma, beta, {})
    dx, dgamma, dbeta = layernorm_backward(dout, cache)
    f = lambda xx, gg, bb: layernorm_forward(xx, gg, bb, {})[0]  # noqa: E731
    assert rel_error(dx, eval_numerical_gradient_array(lambda xx: f(xx, gamma, beta), x, dout)) < 1e-7
    assert rel_error(dgamma, eval_numerical_gradient_array(lambda gg: f(x, gg, beta), gamma.copy(), dout)) < 1e-9
    assert rel_error(dbeta, eval_numerical_gradient_array(lambda bb: f(x, gamma, bb), beta.copy(), dout)) < 1e-9


# ---------------------------------------------------------------------------------------------
# spatial batchnorm


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (3, 1, 2, 7)])
def test_spatial_batchnorm_train_matches_torch(shape):
    rng = np.random.default_rng(30)
    c = shape[1]
    x, gamma, beta, dout = scaled_inputs(rng, shape, (c,))
    bn_param = {"mode": "train"}
    out, cache = spatial_batchnorm_forward(x, gamma, beta, bn_param)
    expected, (dx_t, dg_t, db_t) = torch_grads(
        lambda x, g, b: F.batch_norm(x, None, None, g, b, training=True, eps=EPS), x, gamma, beta, dout=dout
    )
    dx, dgamma, dbeta = spatial_batchnorm_backward(dout, cache)
    assert out.shape == shape and dx.shape == shape
    assert dgamma.shape == (c,) and dbeta.shape == (c,)
    assert rel_error(out, expected) < 1e-10
    assert_dx_close(dx, dx_t, dout, gamma.reshape(1, c, 1, 1), x, axis=(0, 2, 3))
    np.testing.assert_allclose(dgamma, dg_t, rtol=1e-10)
    np.testing.assert_allclose(dbeta, db_t, rtol=1e-12)
    np.testing.assert_allclose(bn_param["running_mean"], 0.1 * x.mean(axis=(0, 2, 3)), rtol=1e-12)


def test_spatial_batchnorm_test_mode_uses_running_stats():
    rng = np.random.default_rng(31)
    gamma, beta = rng.standard_normal(3), rng.standard_normal(3)
    bn_param = {"mode": "train"}
    for _ in range(3):
        spatial_batchnorm_forward(2 * rng.standard_normal((4, 3, 5, 5)) + 1, gamma, beta, bn_param)
    bn_param["mode"] = "test"
    x = 2 * rng.standard_normal((4, 3, 5, 5)) + 1
    out, _ = spatial_batchnorm_forward(x, gamma, beta, bn_param)
    expected = F.batch_norm(torch.tensor(x), torch.tensor(bn_param["running_mean"]), torch.tensor(bn_param["running_var"]),
                            torch.tensor(gamma), torch.tensor(beta), training=False, eps=EPS)
    assert rel_error(out, expected) < 1e-12


def test_spatial_batchnorm_backward_numerical():
    rng = np.random.default_rng(231)
    x, gamma, beta, dout = scaled_inputs(rng, (2, 3, 4, 5), (3,))
    bn_param = {"mode": "train"}
    _, cache = spatial_batchnorm_forward(x, gamma, beta, bn_param)
    dx, dgamma, dbeta = spatial_batchnorm_backward(dout, cache)
    f = lambda xx, gg, bb: spatial_batchnorm_forward(xx, gg, bb, bn_param)[0]  # noqa: E731
    assert rel_error(dx, eval_numerical_gradient_array(lambda xx: f(xx, gamma, beta), x, dout)) < 1e-6
    assert rel_error(dgamma, eval_numerical_gradient_array(lambda gg: f(x, gg, beta), gamma.copy(), dout)) < 1e-9
    assert rel_error(dbeta, eval_numerical_gradient_array(lambda bb: f(x, gamma, bb), beta.copy(), dout)) < 1e-9


# ---------------------------------------------------------------------------------------------
# group norm


@pytest.mark.parametrize("shape, G", [((2, 6, 4, 5), 2), ((3, 4, 3, 3), 1), ((2, 4, 2, 3), 4)])
def test_spatial_groupnorm_matches_torch(shape, G):
    rng = np.random.default_rng(40)
    c = shape[1]
    x, gamma, beta, dout = scaled_inputs(rng, shape, (1, c, 1, 1))
    out, cache = spatial_groupnorm_forward(x, gamma, beta, G, {})
    expected, (dx_t, dg_t, db_t) = torch_grads(
        lambda x, g, b: F.group_norm(x, G, g.reshape(c), b.reshape(c), eps=EPS), x, gamma, beta, dout=dout
    )
    dx, dgamma, dbeta = spatial_groupnorm_backward(dout, cache)
    assert dgamma.shape == (1, c, 1, 1) and dbeta.shape == (1, c, 1, 1)
    assert rel_error(out, expected) < 1e-10
    assert_dx_close(dx, dx_t, dout, gamma, x.reshape(shape[0], G, -1), axis=2)
    np.testing.assert_allclose(dgamma, dg_t, rtol=1e-10)
    np.testing.assert_allclose(dbeta, db_t, rtol=1e-12)


def test_spatial_groupnorm_float32_and_bad_groups():
    rng = np.random.default_rng(41)
    x = rng.standard_normal((2, 6, 3, 3)).astype(np.float32)
    gamma, beta = np.ones((1, 6, 1, 1), np.float32), np.zeros((1, 6, 1, 1), np.float32)
    out, _ = spatial_groupnorm_forward(x, gamma, beta, 3, {"mode": "train"})
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.reshape(6, -1).mean(axis=1), 0, atol=1e-6)
    with pytest.raises(ValueError, match=r"channels \(6\) must be a multiple of the number of groups G=4"):
        spatial_groupnorm_forward(x, gamma, beta, 4, {})


def test_spatial_groupnorm_backward_numerical():
    rng = np.random.default_rng(231)
    x, gamma, beta, dout = scaled_inputs(rng, (2, 6, 4, 5), (1, 6, 1, 1))
    _, cache = spatial_groupnorm_forward(x, gamma, beta, 2, {})
    dx, dgamma, dbeta = spatial_groupnorm_backward(dout, cache)
    f = lambda xx, gg, bb: spatial_groupnorm_forward(xx, gg, bb, 2, {})[0]  # noqa: E731
    assert rel_error(dx, eval_numerical_gradient_array(lambda xx: f(xx, gamma, beta), x, dout)) < 1e-6
    assert rel_error(dgamma, eval_numerical_gradient_array(lambda gg: f(x, gg, beta), gamma.copy(), dout)) < 1e-9
    assert rel_error(dbeta, eval_numerical_gradient_array(lambda bb: f(x, gamma, bb), beta.copy(), dout)) < 1e-9


def test_the_closed_form_backward_docstring_leaves_the_derivation_to_the_student():
    """The docstring ships in the student's stub: it may say what to compute, not the formula for dx."""
    doc = batchnorm_backward_alt.__doc__
    assert "dx =" not in doc and "dx=" not in doc
    assert "sum(dout" not in doc and "N * dout" not in doc
