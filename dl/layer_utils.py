"""Sandwich layers: common sequences of layers as one forward/backward pair.

Each combined forward returns ``(out, cache)`` where the cache nests the caches of its parts;
the backward unpacks them and runs the parts' backwards in reverse order.
"""
from __future__ import annotations

import numpy as np

from dl.fast_layers import conv_backward_fast, conv_forward_fast, max_pool_backward_fast, max_pool_forward_fast
from dl.layers import (
    affine_backward,
    affine_forward,
    batchnorm_backward,
    batchnorm_forward,
    layernorm_backward,
    layernorm_forward,
    relu_backward,
    relu_forward,
    spatial_batchnorm_backward,
    spatial_batchnorm_forward,
)


def affine_relu_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray):
    """An affine layer followed by a ReLU.

    Inputs:
    - x: input, shape (N, d_1, ..., d_k).
    - w: weights, shape (D, M), D = d_1 * ... * d_k.
    - b: biases, shape (M,).

    Returns a tuple of:
    - out: ReLU output, shape (N, M).
    - cache: ``(fc_cache, relu_cache)``: the affine cache ``(x, w, b)`` and the ReLU cache (the
      affine output, shape (N, M)).
    """
    a, fc_cache = affine_forward(x, w, b)
    out, relu_cache = relu_forward(a)
    return out, (fc_cache, relu_cache)


def affine_relu_backward(dout: np.ndarray, cache):
    """Backward pass of :func:`affine_relu_forward`.

    Inputs:
    - dout: upstream gradient, shape (N, M).
    - cache: ``(fc_cache, relu_cache)`` from the forward.

    Returns a tuple of:
    - dx: shape (N, d_1, ..., d_k); dw: shape (D, M); db: shape (M,).
    """
    fc_cache, relu_cache = cache
    da = relu_backward(dout, relu_cache)
    return affine_backward(da, fc_cache)


def affine_norm_relu_forward(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, gamma: np.ndarray, beta: np.ndarray, bn_param: dict,
    normalization: str,
):
    """An affine layer, then batch or layer normalization, then a ReLU.

    Inputs:
    - x: input, shape (N, d_1, ..., d_k).
    - w: weights, shape (D, M), D = d_1 * ... * d_k.
    - b: biases, shape (M,).
    - gamma, beta: scale and shift of the normalization, shape (M,).
    - bn_param: the normalization's parameter dict, passed on unchanged: ``bn_param`` of
      :func:`dl.layers.batchnorm_forward` (which writes its running statistics back into it) or
      ``ln_param`` of :func:`dl.layers.layernorm_forward`.
    - normalization: ``'batchnorm'`` or ``'layernorm'`` (anything else raises ValueError).

    Returns a tuple of:
    - out: ReLU output, shape (N, M).
    - cache: ``(normalization, fc_cache, norm_cache, relu_cache)``: the normalization's name and
      the caches of the affine layer, the normalization and the ReLU.
    """
    if normalization == "batchnorm":
        norm_forward = batchnorm_forward
    elif normalization == "layernorm":
        norm_forward = layernorm_forward
    else:
        raise ValueError(f"normalization must be 'batchnorm' or 'layernorm', got {normalization!r}")
    a, fc_cache = affine_forward(x, w, b)
    a_norm, norm_cache = norm_forward(a, gamma, beta, bn_param)
    out, relu_cache = relu_forward(a_norm)
    return out, (normalization, fc_cache, norm_cache, relu_cache)


def affine_norm_relu_backward(dout: np.ndarray, cache):
    """Backward pass of :func:`affine_norm_relu_forward` (batchnorm: train mode only).

    Inputs:
    - dout: upstream gradient, shape (N, M).
    - cache: ``(normalization, fc_cache, norm_cache, relu_cache)`` from the forward.

    Returns a tuple of:
    - dx: shape (N, d_1, ..., d_k); dw: shape (D, M); db: shape (M,);
      dgamma: shape (M,); dbeta: shape (M,).
    """
    normalization, fc_cache, norm_cache, relu_cache = cache
    norm_backward = batchnorm_backward if normalization == "batchnorm" else layernorm_backward
    da_norm = relu_backward(dout, relu_cache)
    da, dgamma, dbeta = norm_backward(da_norm, norm_cache)
    dx, dw, db = affine_backward(da, fc_cache)
    return dx, dw, db, dgamma, dbeta


def conv_relu_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray, conv_param: dict):
    """A convolution followed by a ReLU.

    Inputs:
    - x: input, shape (N, C, H, W).
    - w: filters, shape (F, C, HH, WW).
    - b: biases, shape (F,).
    - conv_param: dict with keys stride and pad (see :func:`dl.layers.conv_forward_naive`).

    Returns a tuple of:
    - out: shape (N, F, H', W').
    - cache: ``(conv_cache, relu_cache)``: the convolution's cache and the ReLU cache (the
      convolution output, shape (N, F, H', W')).
    """
    a, conv_cache = conv_forward_fast(x, w, b, conv_param)
    out, relu_cache = relu_forward(a)
    return out, (conv_cache, relu_cache)


def conv_relu_backward(dout: np.ndarray, cache):
    """Backward pass of :func:`conv_relu_forward`.

    Inputs:
    - dout: upstream gradient, shape (N, F, H', W').
    - cache: ``(conv_cache, relu_cache)`` from the forward.

    Returns a tuple of:
    - dx: shape (N, C, H, W); dw: shape (F, C, HH, WW); db: shape (F,).
    """
    conv_cache, relu_cache = cache
    da = relu_backward(dout, relu_cache)
    return conv_backward_fast(da, conv_cache)


def conv_relu_pool_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray, conv_param: dict, pool_param: dict):
    """A convolution, a ReLU, then max pooling.

    Inputs:
    - x: input, shape (N, C, H, W).
    - w: filters, shape (F, C, HH, WW).
    - b: biases, shape (F,).
    - conv_param: dict with keys stride and pad.
    - pool_param: dict with keys pool_height, pool_width and stride (see
      :func:`dl.layers.max_pool_forward_naive`).

    Returns a tuple of:
    - out: pooled output, shape (N, F, H'', W'').
    - cache: ``(conv_cache, relu_cache, pool_cache)``: the caches of the three parts.
    """
    a, conv_cache = conv_forward_fast(x, w, b, conv_param)
    s, relu_cache = relu_forward(a)
    out, pool_cache = max_pool_forward_fast(s, pool_param)
    return out, (conv_cache, relu_cache, pool_cache)


def conv_relu_pool_backward(dout: np.ndarray, cache):
    """Backward pass of :func:`conv_relu_pool_forward`.

    Inputs:
    - dout: upstream gradient, shape (N, F, H'', W'').
    - cache: ``(conv_cache, relu_cache, pool_cache)`` from the forward.

    Returns a tuple of:
    - dx: shape (N, C, H, W); dw: shape (F, C, HH, WW); db: shape (F,).
    """
    conv_cache, relu_cache, pool_cache = cache
    ds = max_pool_backward_fast(dout, pool_cache)
    da = relu_backward(ds, relu_cache)
    return conv_backward_fast(da, conv_cache)


def conv_bn_relu_forward(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, gamma: np.ndarray, beta: np.ndarray, conv_param: dict,
    bn_param: dict,
):
    """A convolution, then spatial batch normalization, then a ReLU.

    Inputs:
    - x: input, shape (N, C, H, W).
    - w: filters, shape (F, C, HH, WW).
    - b: biases, shape (F,).
    - gamma, beta: scale and shift of the normalization, shape (F,).
    - conv_param: dict with keys stride and pad.
    - bn_param: as for :func:`dl.layers.spatial_batchnorm_forward`; its running statistics are
      written back into it.

    Returns a tuple of:
    - out: shape (N, F, H', W').
    - cache: ``(conv_cache, bn_cache, relu_cache)``: the caches of the three parts.
    """
    a, conv_cache = conv_forward_fast(x, w, b, conv_param)
    an, bn_cache = spatial_batchnorm_forward(a, gamma, beta, bn_param)
    out, relu_cache = relu_forward(an)
    return out, (conv_cache, bn_cache, relu_cache)


def conv_bn_relu_backward(dout: np.ndarray, cache):
    """Backward pass of :func:`conv_bn_relu_forward` (train mode).

    Inputs:
    - dout: upstream gradient, shape (N, F, H', W').
    - cache: ``(conv_cache, bn_cache, relu_cache)`` from the forward.

    Returns a tuple of:
    - dx: shape (N, C, H, W); dw: shape (F, C, HH, WW); db: shape (F,);
      dgamma: shape (F,); dbeta: shape (F,).
    """
    conv_cache, bn_cache, relu_cache = cache
    dan = relu_backward(dout, relu_cache)
    da, dgamma, dbeta = spatial_batchnorm_backward(dan, bn_cache)
    dx, dw, db = conv_backward_fast(da, conv_cache)
    return dx, dw, db, dgamma, dbeta
