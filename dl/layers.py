"""Layers of a numpy neural network, each a forward/backward pair of plain functions.

Every ``<name>_forward`` returns ``(out, cache)``; the matching ``<name>_backward(dout, cache)``
returns one gradient per array input of the forward, in the same order. The cache is the only
channel between the two: a backward never reads globals and never recomputes from anything else.

Shapes use N for the batch, D for the flattened input dimension, M for the output dimension and
C for the number of classes.
"""
from __future__ import annotations

import numpy as np


def affine_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray):
    """Fully connected (affine) layer: ``out = x.reshape(N, D) @ w + b``.

    Inputs:
    - x: array of shape (N, d_1, ..., d_k); each example is flattened to D = d_1 * ... * d_k
      values (a view: the caller's array is not copied or changed).
    - w: weights, shape (D, M).
    - b: biases, shape (M,).

    Returns a tuple of:
    - out: shape (N, M).
    - cache: ``(x, w, b)``, the three inputs unchanged.
    """
    ### BEGIN SOLUTION
    out = x.reshape(x.shape[0], -1) @ w + b  # (N, D) @ (D, M) + (M,) -> (N, M)
    cache = (x, w, b)
    ### END SOLUTION
    return out, cache


def affine_backward(dout: np.ndarray, cache):
    """Backward pass of :func:`affine_forward`.

    Inputs:
    - dout: upstream gradient, shape (N, M).
    - cache: ``(x, w, b)`` from the forward: x (N, d_1, ..., d_k), w (D, M), b (M,).

    Returns a tuple of:
    - dx: gradient with respect to x, shape (N, d_1, ..., d_k).
    - dw: gradient with respect to w, shape (D, M).
    - db: gradient with respect to b, shape (M,).
    """
    ### BEGIN SOLUTION
    x, w, b = cache
    dx = (dout @ w.T).reshape(x.shape)  # (N, M) @ (M, D) -> (N, D) -> x.shape
    dw = x.reshape(x.shape[0], -1).T @ dout  # (D, N) @ (N, M) -> (D, M)
    db = dout.sum(axis=0)  # (M,)
    ### END SOLUTION
    return dx, dw, db


def relu_forward(x: np.ndarray):
    """Rectified linear unit, element-wise ``max(0, x)``.

    Inputs:
    - x: array of any shape.

    Returns a tuple of:
    - out: same shape as x.
    - cache: x.
    """
    ### BEGIN SOLUTION
    out = np.maximum(0, x)
    cache = x
    ### END SOLUTION
    return out, cache


def relu_backward(dout: np.ndarray, cache):
    """Backward pass of :func:`relu_forward`; the gradient is 0 where x <= 0 (also at exactly 0).

    Inputs:
    - dout: upstream gradient, any shape.
    - cache: x from the forward, same shape as dout.

    Returns:
    - dx: gradient with respect to x, same shape as x.
    """
    ### BEGIN SOLUTION
    x = cache
    dx = dout * (x > 0)
    ### END SOLUTION
    return dx


def svm_loss(x: np.ndarray, y: np.ndarray):
    """Multiclass SVM (hinge) loss with margin 1, averaged over the batch.

    ``loss = mean_i sum_{j != y_i} max(0, x[i, j] - x[i, y_i] + 1)``.

    Inputs:
    - x: class scores, shape (N, C).
    - y: labels, shape (N,), integers with 0 <= y[i] < C.

    Returns a tuple of:
    - loss: Python float.
    - dx: gradient of the loss with respect to x, shape (N, C).
    """
    n = x.shape[0]
    rows = np.arange(n)
    margins = np.maximum(0, x - x[rows, y][:, None] + 1.0)  # (N, C)
    margins[rows, y] = 0
    loss = float(margins.sum() / n)
    dx = (margins > 0).astype(x.dtype)
    dx[rows, y] -= dx.sum(axis=1)
    dx /= n
    return loss, dx


def softmax_loss(x: np.ndarray, y: np.ndarray):
    """Softmax cross-entropy loss, averaged over the batch.

    The row maximum is subtracted before exponentiating, so logits of any size (even +-1e3) give
    finite results.

    Inputs:
    - x: class scores (logits), shape (N, C).
    - y: labels, shape (N,), integers with 0 <= y[i] < C.

    Returns a tuple of:
    - loss: Python float, ``-mean_i log p[i, y_i]`` with ``p = softmax(x)`` row-wise.
    - dx: gradient of the loss with respect to x, ``(p - onehot(y)) / N``, shape (N, C).
    """
    ### BEGIN SOLUTION
    n = x.shape[0]
    rows = np.arange(n)
    shifted = x - x.max(axis=1, keepdims=True)  # (N, C), each row's max is 0
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = float(-log_probs[rows, y].mean())
    dx = np.exp(log_probs)  # p, (N, C)
    dx[rows, y] -= 1
    dx /= n
    ### END SOLUTION
    return loss, dx
