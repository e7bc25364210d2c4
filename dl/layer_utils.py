"""Sandwich layers: common sequences of layers as one forward/backward pair.

Each combined forward returns ``(out, cache)`` where the cache nests the caches of its parts;
the backward unpacks them and runs the parts' backwards in reverse order.
"""
from __future__ import annotations

import numpy as np

from dl.layers import affine_backward, affine_forward, relu_backward, relu_forward


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
