"""Sandwich layers: the composition of their parts, checked by PyTorch and numerical gradients."""
import numpy as np
import pytest
import torch.nn.functional as F

from dl.gradcheck import eval_numerical_gradient_array, rel_error
from dl.layer_utils import (
    affine_norm_relu_backward,
    affine_norm_relu_forward,
    conv_bn_relu_backward,
    conv_bn_relu_forward,
    conv_relu_backward,
    conv_relu_forward,
    conv_relu_pool_backward,
    conv_relu_pool_forward,
)
from tests.dl.oracles import torch_grads


def torch_affine_norm_relu(normalization):
    def f(x, w, b, g, beta):
        a = x.reshape(x.shape[0], -1) @ w + b
        if normalization == "batchnorm":
            a = F.batch_norm(a, None, None, g, beta, training=True, eps=1e-5)
        else:
            a = F.layer_norm(a, (a.shape[1],), g, beta, eps=1e-5)
        return F.relu(a)
    return f


@pytest.mark.parametrize("normalization", ["batchnorm", "layernorm"])
def test_affine_norm_relu_matches_torch(normalization):
    rng = np.random.default_rng(60)
    x, w, b = rng.standard_normal((6, 2, 3)), rng.standard_normal((6, 5)), rng.standard_normal(5)
    gamma, beta = rng.standard_normal(5), rng.standard_normal(5)
    dout = rng.standard_normal((6, 5))
    bn_param = {"mode": "train"} if normalization == "batchnorm" else {}
    out, cache = affine_norm_relu_forward(x, w, b, gamma, beta, bn_param, normalization)
    expected, expected_grads = torch_grads(torch_affine_norm_relu(normalization), x, w, b, gamma, beta, dout=dout)
    grads = affine_norm_relu_backward(dout, cache)
    assert rel_error(out, expected) < 1e-10
    for ours, theirs in zip(grads, expected_grads):
        assert ours.shape == theirs.shape
        # on the scale of dout too: before batchnorm db is exactly 0 and both sides are rounding
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-11 * max(np.abs(theirs).max(), np.abs(dout).max()))
    assert ("running_mean" in bn_param) == (normalization == "batchnorm")


def test_affine_norm_relu_rejects_unknown_normalization():
    with pytest.raises(ValueError, match="'batchnorm' or 'layernorm', got 'groupnorm'"):
        affine_norm_relu_forward(np.ones((2, 3)), np.ones((3, 4)), np.zeros(4), np.ones(4), np.zeros(4), {}, "groupnorm")


def numerical_grads(f, arrays, dout):
    """Numerical gradient of ``sum(f(*arrays) * dout)`` with respect to each array."""
    grads = []
    for k, a in enumerate(arrays):
        def f_k(value, k=k):
            return f(*arrays[:k], value, *arrays[k + 1:])
        grads.append(eval_numerical_gradient_array(f_k, a, dout))
    return grads


def test_conv_relu_numerical():
    rng = np.random.default_rng(231)
    x, w, b = rng.standard_normal((2, 3, 6, 6)), rng.standard_normal((3, 3, 3, 3)), rng.standard_normal(3)
    dout = rng.standard_normal((2, 3, 6, 6))
    conv_param = {"stride": 1, "pad": 1}
    out, cache = conv_relu_forward(x, w, b, conv_param)
    analytic = conv_relu_backward(dout, cache)
    numeric = numerical_grads(lambda xx, ww, bb: conv_relu_forward(xx, ww, bb, conv_param)[0], [x, w, b], dout)
    for ours, theirs in zip(analytic, numeric):
        assert rel_error(ours, theirs) < 1e-8


def test_conv_relu_pool_numerical():
    rng = np.random.default_rng(231)
    x, w, b = rng.standard_normal((2, 3, 6, 6)), rng.standard_normal((3, 3, 3, 3)), rng.standard_normal(3)
    dout = rng.standard_normal((2, 3, 3, 3))
    conv_param, pool_param = {"stride": 1, "pad": 1}, {"pool_height": 2, "pool_width": 2, "stride": 2}
    out, cache = conv_relu_pool_forward(x, w, b, conv_param, pool_param)
    assert out.shape == (2, 3, 3, 3)
    analytic = conv_relu_pool_backward(dout, cache)
    numeric = numerical_grads(
        lambda xx, ww, bb: conv_relu_pool_forward(xx, ww, bb, conv_param, pool_param)[0], [x, w, b], dout
    )
    for ours, theirs in zip(analytic, numeric):
        assert rel_error(ours, theirs) < 1e-8


def test_conv_bn_relu_matches_torch_and_numerical():
    rng = np.random.default_rng(231)
    x, w, b = rng.standard_normal((2, 3, 5, 5)), rng.standard_normal((3, 3, 3, 3)), rng.standard_normal(3)
    gamma, beta = rng.standard_normal(3), rng.standard_normal(3)
    dout = rng.standard_normal((2, 3, 5, 5))
    conv_param, bn_param = {"stride": 1, "pad": 1}, {"mode": "train"}
    out, cache = conv_bn_relu_forward(x, w, b, gamma, beta, conv_param, bn_param)
    analytic = conv_bn_relu_backward(dout, cache)
    expected, expected_grads = torch_grads(
        lambda x, w, b, g, be: F.relu(F.batch_norm(F.conv2d(x, w, b, padding=1), None, None, g, be, training=True, eps=1e-5)),
        x, w, b, gamma, beta, dout=dout,
    )
    assert rel_error(out, expected) < 1e-10
    for ours, theirs in zip(analytic, expected_grads):
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-11 * max(np.abs(theirs).max(), np.abs(dout).max()))
    numeric = numerical_grads(
        lambda *arrays: conv_bn_relu_forward(*arrays, conv_param, bn_param)[0], [x, w, b, gamma, beta], dout
    )
    dx, dw, db, dgamma, dbeta = analytic
    dx_num, dw_num, db_num, dgamma_num, dbeta_num = numeric
    assert rel_error(dx, dx_num) < 1e-6  # as for spatial batchnorm (CURRICULUM §9)
    assert rel_error(dw, dw_num) < 1e-6
    assert rel_error(dgamma, dgamma_num) < 1e-8 and rel_error(dbeta, dbeta_num) < 1e-8
    # the conv bias is cancelled by the batch mean: its true gradient is 0
    assert np.abs(db).max() < 1e-12 and np.abs(db_num).max() < 1e-8
