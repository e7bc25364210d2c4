"""Layers of a numpy neural network, each a forward/backward pair of plain functions.

Every ``<name>_forward`` returns ``(out, cache)``; the matching ``<name>_backward(dout, cache)``
returns one gradient per array input of the forward, in the same order. The cache is the only
channel between the two: a backward never reads globals and never recomputes from anything else.

Shapes use N for the batch, D for the flattened input dimension, M for the output dimension and
C for the number of classes. In the convolutional layers, inputs are (N, C, H, W) with C channels
of H x W pixels, and filters are (F, C, HH, WW).

Order follows the course: affine, ReLU and the losses (FullyConnectedNets), batch and layer
normalization (BatchNormalization), dropout (Dropout), then convolution, max pooling and the
spatial normalizations (ConvolutionalNetworks).
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
    - out: shape (N, M), in the inputs' dtype (float32 inputs give a float32 out).
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

    Returns a tuple of (each in the inputs' dtype: float32 in, float32 out):
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
    - out: same shape and dtype as x.
    - cache: x, unchanged.
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
    - dx: gradient with respect to x, same shape and dtype as x.
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
    - dx: gradient of the loss with respect to x, ``(p - onehot(y)) / N``, shape (N, C), in x's dtype.
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


def batchnorm_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, bn_param: dict):
    """Batch normalization: standardise every feature over the batch, then scale and shift.

    Train mode: with mu and var the mean and the *biased* variance (divided by N) of each column
    of x, ``x_hat = (x - mu) / sqrt(var + eps)`` and ``out = gamma * x_hat + beta``; then the
    running statistics move towards the batch ones:
    ``running = momentum * running + (1 - momentum) * batch_stat`` (for the mean and the variance).
    Test mode: the same formula with ``running_mean`` and ``running_var`` in place of mu and var.

    Inputs:
    - x: data, shape (N, D).
    - gamma: scale, shape (D,).
    - beta: shift, shape (D,).
    - bn_param: dict with keys
      - mode: ``'train'`` or ``'test'`` (required; anything else raises ValueError);
      - eps: added to the variance for numerical stability (default 1e-5);
      - momentum: decay of the running averages (default 0.9);
      - running_mean, running_var: arrays of shape (D,); created as zeros of x's dtype when
        missing. The function writes both back into ``bn_param`` (new arrays; the old ones are
        not modified), so the dict carries the running statistics from call to call.

    Returns a tuple of:
    - out: shape (N, D).
    - cache: in train mode ``(x_centered, std, x_hat, gamma)``: ``x - mu`` (N, D),
      ``sqrt(var + eps)`` (D,), the normalised input (N, D) and gamma (D,). In test mode
      ``None``: the backward pass is defined for train mode only.
    """
    mode = bn_param["mode"]
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    N, D = x.shape
    running_mean = bn_param.get("running_mean", np.zeros(D, dtype=x.dtype))
    running_var = bn_param.get("running_var", np.zeros(D, dtype=x.dtype))

    out, cache = None, None
    if mode == "train":
        ### BEGIN SOLUTION
        mu = x.mean(axis=0)  # (D,)
        x_centered = x - mu  # (N, D)
        var = (x_centered**2).mean(axis=0)  # (D,), biased: divided by N
        std = np.sqrt(var + eps)  # (D,)
        x_hat = x_centered / std  # (N, D)
        out = gamma * x_hat + beta
        cache = (x_centered, std, x_hat, gamma)
        running_mean = momentum * running_mean + (1 - momentum) * mu
        running_var = momentum * running_var + (1 - momentum) * var
        ### END SOLUTION
    elif mode == "test":
        ### BEGIN SOLUTION
        x_hat = (x - running_mean) / np.sqrt(running_var + eps)  # (N, D)
        out = gamma * x_hat + beta
        ### END SOLUTION
    else:
        raise ValueError(f"bn_param['mode'] must be 'train' or 'test', got {mode!r}")

    bn_param["running_mean"] = running_mean
    bn_param["running_var"] = running_var
    return out, cache


def batchnorm_backward(dout: np.ndarray, cache):
    """Backward pass of :func:`batchnorm_forward` (train mode), step by step through its graph.

    The forward graph is: mean, centring, variance, square root, inverse, normalisation, scale
    and shift; this function sends the gradient back through each step in reverse order.

    Inputs:
    - dout: upstream gradient, shape (N, D).
    - cache: ``(x_centered, std, x_hat, gamma)`` from a train-mode forward.

    Returns a tuple of:
    - dx: gradient with respect to x, shape (N, D).
    - dgamma: gradient with respect to gamma, shape (D,).
    - dbeta: gradient with respect to beta, shape (D,).
    """
    ### BEGIN SOLUTION
    x_centered, std, x_hat, gamma = cache
    N = dout.shape[0]
    dbeta = dout.sum(axis=0)  # out = gamma * x_hat + beta
    dgamma = (dout * x_hat).sum(axis=0)
    dx_hat = dout * gamma  # (N, D)
    inv_std = 1.0 / std
    dinv_std = (dx_hat * x_centered).sum(axis=0)  # x_hat = x_centered * inv_std
    dx_centered = dx_hat * inv_std
    dstd = -dinv_std / std**2  # inv_std = 1 / std
    dvar = 0.5 * dstd / std  # std = sqrt(var + eps)
    dx_centered += 2.0 * x_centered * dvar / N  # var = mean(x_centered ** 2)
    dmu = -dx_centered.sum(axis=0)  # x_centered = x - mu
    dx = dx_centered + dmu / N  # mu = mean(x)
    ### END SOLUTION
    return dx, dgamma, dbeta


def batchnorm_backward_alt(dout: np.ndarray, cache):
    """Backward pass of :func:`batchnorm_forward` (train mode) in closed form.

    Computes the same gradients as :func:`batchnorm_backward`, but ``dx`` comes from one
    expression you derive on paper (BatchNormalization.ipynb walks through the derivation): no
    intermediate gradients of the mean, the variance or the standard deviation. Everything it
    needs is in the cache; the batch sums that give dbeta and dgamma appear in it too.

    Inputs:
    - dout: upstream gradient, shape (N, D).
    - cache: ``(x_centered, std, x_hat, gamma)`` from a train-mode forward.

    Returns a tuple of:
    - dx: shape (N, D); dgamma: shape (D,); dbeta: shape (D,).
    """
    ### BEGIN SOLUTION
    _, std, x_hat, gamma = cache
    N = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    dx = gamma / (N * std) * (N * dout - dbeta - x_hat * dgamma)
    ### END SOLUTION
    return dx, dgamma, dbeta


def layernorm_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, ln_param: dict):
    """Layer normalization: standardise every example over its features, then scale and shift.

    For each row i of x, with mu_i and var_i the mean and biased variance of its D values,
    ``x_hat = (x - mu_i) / sqrt(var_i + eps)`` and ``out = gamma * x_hat + beta``. The
    statistics come from the example itself, so train and test behave the same and there are no
    running statistics.

    Inputs:
    - x: data, shape (N, D).
    - gamma: scale, shape (D,).
    - beta: shift, shape (D,).
    - ln_param: dict with the optional key eps (default 1e-5). Any other key (such as mode) is
      ignored; the dict is not modified.

    Returns a tuple of:
    - out: shape (N, D).
    - cache: ``(x_centered, std, x_hat, gamma)``: ``x - mu`` (N, D), ``sqrt(var + eps)`` per
      example (N, 1), the normalised input (N, D) and gamma (D,).
    """
    eps = ln_param.get("eps", 1e-5)
    ### BEGIN SOLUTION
    mu = x.mean(axis=1, keepdims=True)  # (N, 1)
    x_centered = x - mu  # (N, D)
    var = (x_centered**2).mean(axis=1, keepdims=True)  # (N, 1), biased
    std = np.sqrt(var + eps)  # (N, 1)
    x_hat = x_centered / std  # (N, D)
    out = gamma * x_hat + beta
    cache = (x_centered, std, x_hat, gamma)
    ### END SOLUTION
    return out, cache


def layernorm_backward(dout: np.ndarray, cache):
    """Backward pass of :func:`layernorm_forward`.

    Batch normalization's closed form with the roles of the axes swapped: the statistics are
    taken over the D features of each example, while gamma and beta still collect their gradients
    over the batch.

    Inputs:
    - dout: upstream gradient, shape (N, D).
    - cache: ``(x_centered, std, x_hat, gamma)`` from the forward.

    Returns a tuple of:
    - dx: shape (N, D); dgamma: shape (D,); dbeta: shape (D,).
    """
    ### BEGIN SOLUTION
    _, std, x_hat, gamma = cache
    D = dout.shape[1]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    dx_hat = dout * gamma  # (N, D)
    dx = (D * dx_hat - dx_hat.sum(axis=1, keepdims=True)
          - x_hat * (dx_hat * x_hat).sum(axis=1, keepdims=True)) / (D * std)
    ### END SOLUTION
    return dx, dgamma, dbeta


def dropout_forward(x: np.ndarray, dropout_param: dict):
    """Inverted dropout: keep each unit with probability p and divide the kept ones by p.

    Dividing by p at training time keeps the expected value of every unit unchanged, so the
    test-time pass is the identity.

    Uses numpy's global RNG (``np.random.rand``). When ``dropout_param`` has a ``'seed'`` key,
    ``np.random.seed(seed)`` is called at the start of *every* call, in both modes: the mask is
    then reproducible, and the global stream is reset for whatever code draws next.

    Inputs:
    - x: data, any shape.
    - dropout_param: dict with keys
      - p: probability of *keeping* a unit, 0 < p <= 1 (required);
      - mode: ``'train'`` or ``'test'`` (required; anything else raises ValueError);
      - seed: optional int, see above.
      The dict is not modified.

    Returns a tuple of:
    - out: same shape and dtype as x; in test mode x itself.
    - cache: ``(dropout_param, mask)``: the dict passed in, and a mask of x's shape and dtype
      holding 0 for a dropped unit and 1 / p for a kept one (train mode), or None (test mode).
    """
    p, mode = dropout_param["p"], dropout_param["mode"]
    if "seed" in dropout_param:
        np.random.seed(dropout_param["seed"])

    mask = None
    out = None
    if mode == "train":
        ### BEGIN SOLUTION
        mask = ((np.random.rand(*x.shape) < p) / p).astype(x.dtype, copy=False)
        out = x * mask
        ### END SOLUTION
    elif mode == "test":
        ### BEGIN SOLUTION
        out = x
        ### END SOLUTION
    else:
        raise ValueError(f"dropout_param['mode'] must be 'train' or 'test', got {mode!r}")

    cache = (dropout_param, mask)
    return out, cache


def dropout_backward(dout: np.ndarray, cache):
    """Backward pass of :func:`dropout_forward`.

    Inputs:
    - dout: upstream gradient, same shape as x.
    - cache: ``(dropout_param, mask)`` from the forward.

    Returns:
    - dx: gradient with respect to x, same shape as dout: ``dout * mask`` in train mode, dout
      itself in test mode.
    """
    dropout_param, mask = cache
    mode = dropout_param["mode"]

    dx = None
    if mode == "train":
        ### BEGIN SOLUTION
        dx = dout * mask
        ### END SOLUTION
    elif mode == "test":
        dx = dout
    else:
        raise ValueError(f"dropout_param['mode'] must be 'train' or 'test', got {mode!r}")
    return dx


def conv_forward_naive(x: np.ndarray, w: np.ndarray, b: np.ndarray, conv_param: dict):
    """Convolution (cross-correlation, no kernel flip) with zero padding, by explicit loops.

    ``out[n, f, i, j] = sum_{c, k, l} xpad[n, c, i * s + k, j * s + l] * w[f, c, k, l] + b[f]``,
    where xpad is x with ``pad`` zeros on each side of both spatial axes and s is the stride.

    Inputs:
    - x: input, shape (N, C, H, W).
    - w: filters, shape (F, C, HH, WW).
    - b: biases, shape (F,).
    - conv_param: dict with keys stride (s) and pad (p), both required ints; not modified.

    Returns a tuple of:
    - out: shape (N, F, H', W') with ``H' = 1 + (H + 2p - HH) / s`` and
      ``W' = 1 + (W + 2p - WW) / s``; raises ValueError when these are not integers.
    - cache: ``(x, w, b, conv_param)``, the inputs unchanged.
    """
    ### BEGIN SOLUTION
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    stride, pad = conv_param["stride"], conv_param["pad"]
    if (H + 2 * pad - HH) % stride or (W + 2 * pad - WW) % stride:
        raise ValueError(f"filters {HH}x{WW} with stride {stride} and pad {pad} do not tile an input of {H}x{W}")
    H_out = 1 + (H + 2 * pad - HH) // stride
    W_out = 1 + (W + 2 * pad - WW) // stride
    xpad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))  # (N, C, H + 2p, W + 2p)
    out = np.zeros((N, F, H_out, W_out), dtype=np.result_type(x, w, b))
    for n in range(N):
        for f in range(F):
            for i in range(H_out):
                for j in range(W_out):
                    window = xpad[n, :, i * stride:i * stride + HH, j * stride:j * stride + WW]  # (C, HH, WW)
                    out[n, f, i, j] = np.sum(window * w[f]) + b[f]
    cache = (x, w, b, conv_param)
    ### END SOLUTION
    return out, cache


def conv_backward_naive(dout: np.ndarray, cache):
    """Backward pass of :func:`conv_forward_naive`, by explicit loops.

    Inputs:
    - dout: upstream gradient, shape (N, F, H', W').
    - cache: ``(x, w, b, conv_param)`` from the forward.

    Returns a tuple of:
    - dx: gradient with respect to x, shape (N, C, H, W) (the padding is cut off).
    - dw: gradient with respect to w, shape (F, C, HH, WW).
    - db: gradient with respect to b, shape (F,).
    """
    ### BEGIN SOLUTION
    x, w, b, conv_param = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    N, F, H_out, W_out = dout.shape
    _, _, HH, WW = w.shape
    xpad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))  # (N, C, H + 2p, W + 2p)
    dxpad = np.zeros_like(xpad)
    dw = np.zeros_like(w)
    db = dout.sum(axis=(0, 2, 3))  # (F,)
    for n in range(N):
        for f in range(F):
            for i in range(H_out):
                for j in range(W_out):
                    rows = slice(i * stride, i * stride + HH)
                    cols = slice(j * stride, j * stride + WW)
                    dxpad[n, :, rows, cols] += w[f] * dout[n, f, i, j]
                    dw[f] += xpad[n, :, rows, cols] * dout[n, f, i, j]
    dx = dxpad[:, :, pad:pad + x.shape[2], pad:pad + x.shape[3]]  # (N, C, H, W)
    ### END SOLUTION
    return dx, dw, db


def max_pool_forward_naive(x: np.ndarray, pool_param: dict):
    """Max pooling without padding, by explicit loops.

    ``out[n, c, i, j]`` is the maximum of x[n, c] over the window of ``pool_height`` rows from
    row ``i * stride`` and ``pool_width`` columns from column ``j * stride``.

    Inputs:
    - x: input, shape (N, C, H, W).
    - pool_param: dict with keys pool_height (ph), pool_width (pw) and stride (s), all required
      ints; not modified.

    Returns a tuple of:
    - out: shape (N, C, H', W') with ``H' = 1 + (H - ph) / s`` and ``W' = 1 + (W - pw) / s``;
      raises ValueError when these are not integers.
    - cache: ``(x, pool_param)``, the inputs unchanged.
    """
    ### BEGIN SOLUTION
    N, C, H, W = x.shape
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    if H < ph or W < pw or (H - ph) % stride or (W - pw) % stride:
        raise ValueError(f"pooling windows {ph}x{pw} with stride {stride} do not tile an input of {H}x{W}")
    H_out = 1 + (H - ph) // stride
    W_out = 1 + (W - pw) // stride
    out = np.zeros((N, C, H_out, W_out), dtype=x.dtype)
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    out[n, c, i, j] = x[n, c, i * stride:i * stride + ph, j * stride:j * stride + pw].max()
    cache = (x, pool_param)
    ### END SOLUTION
    return out, cache


def max_pool_backward_naive(dout: np.ndarray, cache):
    """Backward pass of :func:`max_pool_forward_naive`, by explicit loops.

    Each upstream value goes to the position of its window's maximum; every other input gets no
    gradient from that window. Overlapping windows add up. When several elements tie for the
    maximum, any rule that passes the window's upstream value to its maxima only, in shares that
    sum to it, is right (one of them takes it all, or they share it); this one sends it to the
    first in row-major order, as ``np.argmax`` finds it.

    Inputs:
    - dout: upstream gradient, shape (N, C, H', W').
    - cache: ``(x, pool_param)`` from the forward.

    Returns:
    - dx: gradient with respect to x, shape (N, C, H, W).
    """
    ### BEGIN SOLUTION
    x, pool_param = cache
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    N, C, H_out, W_out = dout.shape
    dx = np.zeros_like(x)
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    window = x[n, c, i * stride:i * stride + ph, j * stride:j * stride + pw]  # (ph, pw)
                    k, l = np.unravel_index(np.argmax(window), window.shape)
                    dx[n, c, i * stride + k, j * stride + l] += dout[n, c, i, j]
    ### END SOLUTION
    return dx


def spatial_batchnorm_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, bn_param: dict):
    """Spatial batch normalization: batch normalization of every channel over (N, H, W).

    Each channel is one feature whose N * H * W values are normalised together, so the layer
    moves C last, reshapes to (N * H * W, C) and calls :func:`batchnorm_forward`.

    Inputs:
    - x: input, shape (N, C, H, W).
    - gamma: scale, shape (C,).
    - beta: shift, shape (C,).
    - bn_param: as for :func:`batchnorm_forward` (mode required; eps, momentum, running_mean and
      running_var of shape (C,) optional); the running statistics are written back into it.

    Returns a tuple of:
    - out: shape (N, C, H, W).
    - cache: the cache of the inner :func:`batchnorm_forward` call (on the (N * H * W, C)
      matrix; None in test mode).
    """
    ### BEGIN SOLUTION
    N, C, H, W = x.shape
    x_rows = x.transpose(0, 2, 3, 1).reshape(-1, C)  # (N * H * W, C)
    out_rows, cache = batchnorm_forward(x_rows, gamma, beta, bn_param)
    out = out_rows.reshape(N, H, W, C).transpose(0, 3, 1, 2)  # (N, C, H, W)
    ### END SOLUTION
    return out, cache


def spatial_batchnorm_backward(dout: np.ndarray, cache):
    """Backward pass of :func:`spatial_batchnorm_forward` (train mode).

    Inputs:
    - dout: upstream gradient, shape (N, C, H, W).
    - cache: the inner batchnorm cache from the forward.

    Returns a tuple of:
    - dx: shape (N, C, H, W); dgamma: shape (C,); dbeta: shape (C,).
    """
    ### BEGIN SOLUTION
    N, C, H, W = dout.shape
    dout_rows = dout.transpose(0, 2, 3, 1).reshape(-1, C)  # (N * H * W, C)
    dx_rows, dgamma, dbeta = batchnorm_backward(dout_rows, cache)
    dx = dx_rows.reshape(N, H, W, C).transpose(0, 3, 1, 2)  # (N, C, H, W)
    ### END SOLUTION
    return dx, dgamma, dbeta


def spatial_groupnorm_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, G: int, gn_param: dict):
    """Group normalization: standardise each example over groups of C / G channels.

    The C channels are split into G consecutive groups; for every example and group, the
    C / G * H * W values are normalised by their mean and biased variance (plus eps). Then each
    channel is scaled and shifted: ``out = gamma * x_hat + beta``. There are no running
    statistics, and train and test behave the same.

    Inputs:
    - x: input, shape (N, C, H, W).
    - gamma: scale, shape (1, C, 1, 1).
    - beta: shift, shape (1, C, 1, 1).
    - G: number of groups; C must be a multiple of G (ValueError otherwise).
    - gn_param: dict with the optional key eps (default 1e-5); other keys (mode) are ignored;
      not modified.

    Returns a tuple of:
    - out: shape (N, C, H, W).
    - cache: ``(x_hat, std, gamma, G)``: the normalised input (N, C, H, W), ``sqrt(var + eps)``
      per example and group (N, G, 1), gamma (1, C, 1, 1) and G.
    """
    eps = gn_param.get("eps", 1e-5)
    ### BEGIN SOLUTION
    N, C, H, W = x.shape
    if C % G:
        raise ValueError(f"the number of channels ({C}) must be a multiple of the number of groups G={G}")
    x_groups = x.reshape(N, G, -1)  # (N, G, C / G * H * W)
    mu = x_groups.mean(axis=2, keepdims=True)  # (N, G, 1)
    x_centered = x_groups - mu
    var = (x_centered**2).mean(axis=2, keepdims=True)  # (N, G, 1), biased
    std = np.sqrt(var + eps)
    x_hat = (x_centered / std).reshape(N, C, H, W)
    out = gamma * x_hat + beta
    cache = (x_hat, std, gamma, G)
    ### END SOLUTION
    return out, cache


def spatial_groupnorm_backward(dout: np.ndarray, cache):
    """Backward pass of :func:`spatial_groupnorm_forward`.

    Inputs:
    - dout: upstream gradient, shape (N, C, H, W).
    - cache: ``(x_hat, std, gamma, G)`` from the forward.

    Returns a tuple of:
    - dx: shape (N, C, H, W).
    - dgamma: shape (1, C, 1, 1).
    - dbeta: shape (1, C, 1, 1).
    """
    ### BEGIN SOLUTION
    x_hat, std, gamma, G = cache
    N = dout.shape[0]
    dbeta = dout.sum(axis=(0, 2, 3), keepdims=True)  # (1, C, 1, 1)
    dgamma = (dout * x_hat).sum(axis=(0, 2, 3), keepdims=True)
    dx_hat = (dout * gamma).reshape(N, G, -1)  # (N, G, M), M = C / G * H * W
    x_hat_groups = x_hat.reshape(N, G, -1)
    dx = (dx_hat - dx_hat.mean(axis=2, keepdims=True)
          - x_hat_groups * (dx_hat * x_hat_groups).mean(axis=2, keepdims=True)) / std
    dx = dx.reshape(dout.shape)
    ### END SOLUTION
    return dx, dgamma, dbeta
