"""Fast convolution and max-pooling layers, vectorised with numpy only (no compiled extension).

Same signatures, checks and numbers as the naive layers in ``dl.layers``: every ``*_forward``
returns ``(out, cache)`` and the matching ``*_backward(dout, cache)`` uses nothing but the cache.
The caches hold a little more than the naive ones (the im2col matrix, the pooling argmax); each
forward's docstring lists what.

How they are fast:

- **Convolution** is one matrix product. ``sliding_window_view`` sees every filter-sized window
  of the zero-padded input without copying; a single copy lays the windows out as the columns of
  a matrix of shape (C*HH*WW, N*H'*W') ("im2col"), and ``w.reshape(F, C*HH*WW) @ cols`` computes
  every output at once with BLAS. The backward pass needs two more products (``dw`` and the
  column gradient) and then folds the column gradient back onto the input ("col2im") with one
  strided slice-add per kernel offset: a loop of HH*WW iterations, each over whole arrays.
- **Max pooling** sees the windows as a view of shape (N, C, H', W', ph, pw): a plain reshape
  of x when they tile it exactly (pool height = pool width = stride, the usual 2x2 stride 2),
  ``sliding_window_view`` otherwise (overlapping windows, or gaps between them). The forward pass
  walks the ph*pw window offsets, each one an element-wise step over whole (N, C, H', W')
  arrays, and keeps a running maximum and the offset it came from; that argmax goes into the
  cache. The backward pass writes ``dout`` into the slot of each window's argmax: straight into
  a reshape of dx when the windows tile, else with one strided slice-add per window offset
  (overlapping windows add up).

Ties in max pooling: the whole upstream gradient of a window goes to exactly one element, the
*first* maximum in row-major window order (what ``np.argmax`` returns, and what a naive loop that
uses ``np.argmax`` does). Gradients are therefore identical to the naive layer's, ties or not.

Shapes: N batch, C input channels, H x W input size, F filters of size HH x WW, H' x W' output size.
"""
from __future__ import annotations

import operator

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def _positive_int(params: dict, name: str, key: str, minimum: int) -> int:
    """``params[key]`` as an int >= minimum, or a ValueError that names the dict and the key."""
    if key not in params:
        raise ValueError(f"{name} is missing the key {key!r} (got keys {sorted(params)})")
    value = params[key]
    try:
        value = operator.index(value)
    except TypeError:
        raise ValueError(f"{name}[{key!r}] must be an integer, got {value!r}") from None
    if value < minimum:
        raise ValueError(f"{name}[{key!r}] must be >= {minimum}, got {value}")
    return value


def _check_4d(name: str, array: np.ndarray, symbols: str) -> None:
    if np.ndim(array) != 4:
        raise ValueError(f"{name} must have shape {symbols}, got shape {np.shape(array)}")


def _conv_output_size(dim: str, size: int, kernel: int, pad: int, stride: int) -> int:
    """``1 + (size + 2*pad - kernel) // stride``, or a ValueError when it is not a whole number."""
    span = size + 2 * pad - kernel
    sym = "HH" if dim == "height" else "WW"
    if span < 0:
        raise ValueError(
            f"conv {dim}: the filter ({sym} = {kernel}) is larger than the padded input "
            f"({size} + 2*{pad} = {size + 2 * pad})"
        )
    if span % stride:
        raise ValueError(
            f"conv {dim}: output size 1 + ({size} + 2*{pad} - {kernel}) / {stride} = "
            f"{1 + span / stride:g} is not an integer; change the stride or the padding"
        )
    return 1 + span // stride


def _im2col(x: np.ndarray, HH: int, WW: int, stride: int, pad: int, H_out: int, W_out: int):
    """Every filter-sized window of the zero-padded x as one column of a matrix.

    Returns ``cols`` of shape (C*HH*WW, N*H_out*W_out), C-contiguous, where
    ``cols[(c, k, l), (n, i, j)] = xpad[n, c, i*stride + k, j*stride + l]`` (pairs and triples
    are flattened in row-major order).
    """
    N, C, H, W = x.shape
    xpad = np.zeros((N, C, H + 2 * pad, W + 2 * pad), dtype=x.dtype)
    xpad[:, :, pad : pad + H, pad : pad + W] = x
    # (N, C, H_out, W_out, HH, WW): a strided view of xpad, nothing copied yet
    windows = sliding_window_view(xpad, (HH, WW), axis=(2, 3))[:, :, ::stride, ::stride]
    cols = np.empty((C, HH, WW, N, H_out, W_out), dtype=x.dtype)
    np.copyto(cols, windows.transpose(1, 4, 5, 0, 2, 3))  # the only copy: (C, HH, WW, N, H', W')
    return cols.reshape(C * HH * WW, N * H_out * W_out)


def conv_forward_fast(x: np.ndarray, w: np.ndarray, b: np.ndarray, conv_param: dict):
    """Convolution (cross-correlation, zero padding) as one matrix product over im2col columns.

    ``out[n, f, i, j] = b[f] + sum_{c,k,l} xpad[n, c, i*stride + k, j*stride + l] * w[f, c, k, l]``
    where xpad is x with ``pad`` zeros added on all four sides.

    Inputs:
    - x: input, shape (N, C, H, W).
    - w: filters, shape (F, C, HH, WW).
    - b: biases, shape (F,).
    - conv_param: dict with the required keys
      - 'stride': integer >= 1, the step between neighbouring windows in both directions;
      - 'pad': integer >= 0, zeros added on each side of the height and width axes.
      Not modified.

    The output size is ``H' = 1 + (H + 2*pad - HH) / stride`` and
    ``W' = 1 + (W + 2*pad - WW) / stride``; a ValueError names the dimension when either is not
    a whole number, and when x and w disagree on C or b does not have shape (F,).

    Returns a tuple of:
    - out: shape (N, F, H', W'), C-contiguous; dtype that of ``x @ w + b`` (float32 stays float32).
    - cache: ``(x, w, b, conv_param, cols)``: the four inputs unchanged and the im2col matrix
      ``cols`` of shape (C*HH*WW, N*H'*W') with
      ``cols[(c, k, l), (n, i, j)] = xpad[n, c, i*stride + k, j*stride + l]``, kept so that the
      backward pass does not rebuild it (it is about HH*WW / stride**2 times the size of x).
    """
    _check_4d("x", x, "(N, C, H, W)")
    _check_4d("w", w, "(F, C, HH, WW)")
    N, C, H, W = x.shape
    F, C_w, HH, WW = w.shape
    if C_w != C:
        raise ValueError(
            f"x has {C} channels (shape {x.shape}) but w expects {C_w} (shape {w.shape}); "
            "w must have shape (F, C, HH, WW) with the C of x"
        )
    if np.shape(b) != (F,):
        raise ValueError(f"b must have shape (F,) = ({F},) to match w {w.shape}, got {np.shape(b)}")
    stride = _positive_int(conv_param, "conv_param", "stride", 1)
    pad = _positive_int(conv_param, "conv_param", "pad", 0)
    H_out = _conv_output_size("height", H, HH, pad, stride)
    W_out = _conv_output_size("width", W, WW, pad, stride)

    cols = _im2col(x, HH, WW, stride, pad, H_out, W_out)  # (C*HH*WW, N*H'*W')
    prod = w.reshape(F, C * HH * WW) @ cols  # (F, N*H'*W')
    out = np.empty((N, F, H_out, W_out), dtype=np.result_type(prod, b))
    # (F, N, H'*W') -> (N, F, H'*W'); the bias is added during the same copy
    np.add(
        prod.reshape(F, N, H_out * W_out).transpose(1, 0, 2),
        np.reshape(b, (F, 1)),
        out=out.reshape(N, F, H_out * W_out),
    )
    cache = (x, w, b, conv_param, cols)
    return out, cache


def conv_backward_fast(dout: np.ndarray, cache):
    """Backward pass of :func:`conv_forward_fast`.

    Inputs:
    - dout: upstream gradient, shape (N, F, H', W').
    - cache: ``(x, w, b, conv_param, cols)`` from the forward: x (N, C, H, W), w (F, C, HH, WW),
      b (F,), conv_param {'stride', 'pad'} and the im2col matrix cols (C*HH*WW, N*H'*W').

    Returns a tuple of:
    - dx: gradient with respect to x, shape (N, C, H, W) (the padding is cropped off).
    - dw: gradient with respect to w, shape (F, C, HH, WW).
    - db: gradient with respect to b, shape (F,).
    """
    x, w, b, conv_param, cols = cache
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    stride, pad = conv_param["stride"], conv_param["pad"]
    H_out = 1 + (H + 2 * pad - HH) // stride
    W_out = 1 + (W + 2 * pad - WW) // stride
    if dout.shape != (N, F, H_out, W_out):
        raise ValueError(
            f"dout must have the forward output's shape {(N, F, H_out, W_out)}, got {dout.shape}"
        )

    dout_mat = dout.transpose(1, 0, 2, 3).reshape(F, N * H_out * W_out)  # (F, N*H'*W'), a copy
    db = dout_mat.sum(axis=1)  # (F,)
    dw = (dout_mat @ cols.T).reshape(F, C, HH, WW)  # (F, N*H'*W') @ (N*H'*W', C*HH*WW)
    dcols = w.reshape(F, C * HH * WW).T @ dout_mat  # (C*HH*WW, N*H'*W')
    dcols = dcols.reshape(C, HH, WW, N, H_out, W_out)

    # col2im: the window at offset (k, l) of output (i, j) read xpad[:, :, i*s + k, j*s + l];
    # for a fixed offset these positions are distinct, so one strided slice-add per offset
    # accumulates every contribution (overlapping windows meet across offsets, never within one).
    dxpad = np.zeros((C, N, H + 2 * pad, W + 2 * pad), dtype=dcols.dtype)
    rows_end, cols_end = stride * (H_out - 1) + 1, stride * (W_out - 1) + 1
    for k in range(HH):
        for l in range(WW):
            dxpad[:, :, k : k + rows_end : stride, l : l + cols_end : stride] += dcols[:, k, l]
    # crop the padding and go back from (C, N, H, W) to (N, C, H, W)
    dx = np.ascontiguousarray(dxpad[:, :, pad : pad + H, pad : pad + W].transpose(1, 0, 2, 3))
    return dx, dw, db


def _pool_output_size(dim: str, size: int, window: int, stride: int) -> int:
    """``1 + (size - window) / stride``, or a ValueError when it is not a whole number."""
    key = "pool_height" if dim == "height" else "pool_width"
    if window > size:
        raise ValueError(f"max pool {dim}: {key} = {window} is larger than the input {dim} {size}")
    if (size - window) % stride:
        raise ValueError(
            f"max pool {dim}: output size 1 + ({size} - {window}) / {stride} = "
            f"{1 + (size - window) / stride:g} is not an integer; change the stride or {key}"
        )
    return 1 + (size - window) // stride


def max_pool_forward_fast(x: np.ndarray, pool_param: dict):
    """Max pooling over windows of size pool_height x pool_width, no padding.

    ``out[n, c, i, j] = max_{k,l} x[n, c, i*stride + k, j*stride + l]``, with
    ``H' = 1 + (H - pool_height) / stride`` and ``W' = 1 + (W - pool_width) / stride``; a
    ValueError names the dimension when either is not a whole number (windows must reach the
    last row and column, as in the naive layer).

    Inputs:
    - x: input, shape (N, C, H, W).
    - pool_param: dict with the required keys 'pool_height', 'pool_width' and 'stride'
      (integers >= 1). Not modified.

    Returns a tuple of:
    - out: shape (N, C, H', W'), dtype of x.
    - cache: ``(x, pool_param, argmax)``: the inputs unchanged and ``argmax`` of shape
      (N, C, H', W'), the position ``k * pool_width + l`` of each window's maximum inside its
      window (row k, column l), in the smallest unsigned integer dtype that holds
      ``pool_height * pool_width - 1``; on ties the first maximum in row-major window order
      (see the module docstring).
    """
    _check_4d("x", x, "(N, C, H, W)")
    N, C, H, W = x.shape
    ph = _positive_int(pool_param, "pool_param", "pool_height", 1)
    pw = _positive_int(pool_param, "pool_param", "pool_width", 1)
    stride = _positive_int(pool_param, "pool_param", "stride", 1)
    H_out = _pool_output_size("height", H, ph, stride)
    W_out = _pool_output_size("width", W, pw, stride)

    if ph == pw == stride:
        # Windows tile x exactly (H = H' * ph, W = W' * pw): a reshape, no copy for contiguous x
        tiles = x.reshape(N, C, H_out, ph, W_out, pw)
        windows = tiles.transpose(0, 1, 2, 4, 3, 5)  # (N, C, H', W', ph, pw), a view
    else:
        # (N, C, H', W', ph, pw): a strided view of x; windows may overlap or leave gaps
        windows = sliding_window_view(x, (ph, pw), axis=(2, 3))[:, :, ::stride, ::stride]

    # One pass per window offset, in row-major window order, over whole (N, C, H', W') arrays.
    # A later offset takes over only when strictly greater, so ties keep the first maximum.
    out = windows[..., 0, 0].copy()  # (N, C, H', W')
    argmax = np.zeros(out.shape, dtype=np.min_scalar_type(ph * pw - 1))
    for offset in range(1, ph * pw):
        candidate = windows[..., offset // pw, offset % pw]  # (N, C, H', W'), a view
        better = candidate > out
        np.maximum(out, candidate, out=out)
        argmax += (offset - argmax) * better  # argmax = offset where better (faster than a mask)
    cache = (x, pool_param, argmax)
    return out, cache


def max_pool_backward_fast(dout: np.ndarray, cache):
    """Backward pass of :func:`max_pool_forward_fast`: each window's upstream value goes to its
    maximum (on ties, to the first maximum in row-major window order only); where windows
    overlap, an input element collects the values of every window it is the maximum of.

    Inputs:
    - dout: upstream gradient, shape (N, C, H', W').
    - cache: ``(x, pool_param, argmax)`` from the forward: x (N, C, H, W), pool_param
      {'pool_height', 'pool_width', 'stride'} and argmax (N, C, H', W').

    Returns:
    - dx: gradient with respect to x, shape (N, C, H, W), dtype of dout.
    """
    x, pool_param, argmax = cache
    N, C, H, W = x.shape
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    H_out, W_out = argmax.shape[2], argmax.shape[3]
    if dout.shape != argmax.shape:
        raise ValueError(f"dout must have the forward output's shape {argmax.shape}, got {dout.shape}")

    if ph == pw == stride:
        # Windows tile dx: as (N, C, H', ph, W', pw), dx[:, :, :, k, :, l] is the slot of window
        # offset (k, l), and every element of dx belongs to exactly one window.
        dx = np.empty((N, C, H, W), dtype=dout.dtype)
        tiles = dx.reshape(N, C, H_out, ph, W_out, pw)  # a view of dx
        for k in range(ph):
            for l in range(pw):
                np.multiply(dout, argmax == k * pw + l, out=tiles[:, :, :, k, :, l])
    else:
        # For a fixed window offset (k, l) the targets x[:, :, i*s + k, j*s + l] are distinct,
        # so one strided slice-add per offset accumulates overlapping windows correctly.
        dx = np.zeros((N, C, H, W), dtype=dout.dtype)
        rows_end, cols_end = stride * (H_out - 1) + 1, stride * (W_out - 1) + 1
        for k in range(ph):
            for l in range(pw):
                hit = argmax == k * pw + l  # (N, C, H', W')
                dx[:, :, k : k + rows_end : stride, l : l + cols_end : stride] += dout * hit
    return dx
