"""ConvolutionalNetworks: realistic bugs of every graded unit, and correct variants that keep full marks.

Most bugs are one mistake in an implementation written the way a student might, other than the
reference (the ``*_STUDENT`` sources below, each a correct variant itself); a few are the
reference with one line changed (:func:`edit`). ``words`` is what the unit's message must say:
the named bug where the check recognises it, else the property that failed.

The inputs of these checks are small, so grading the whole notebook once takes well under a
second: the table stays quick although every variant grades every unit.
"""
from tests.autograder.bug_tables import Variant, edit
from tests.autograder.notebooks import replace_once

CONV_FORWARD = "a1-cnn-conv_forward_naive"
CONV_BACKWARD = "a1-cnn-conv_backward_naive"
POOL_FORWARD = "a1-cnn-max_pool_forward_naive"
POOL_BACKWARD = "a1-cnn-max_pool_backward_naive"
NET = "a1-cnn-ThreeLayerConvNet"
SBN_FORWARD = "a1-cnn-spatial_batchnorm_forward"
SBN_BACKWARD = "a1-cnn-spatial_batchnorm_backward"
SGN_FORWARD = "a1-cnn-spatial_groupnorm_forward"
SGN_BACKWARD = "a1-cnn-spatial_groupnorm_backward"
CONV_NET = "dl.models.cnn:ThreeLayerConvNet"


def changed(text: str, *replacements: tuple[str, str]) -> str:
    """``text`` with each ``(old, new)`` made once (``old`` found exactly once)."""
    for old, new in replacements:
        text = replace_once(text, old, new)
    return text


CONV_FORWARD_STUDENT = '''
def conv_forward_naive(x, w, b, conv_param):
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    s, p = conv_param["stride"], conv_param["pad"]
    if (H + 2 * p - HH) % s != 0 or (W + 2 * p - WW) % s != 0:
        raise ValueError("the filters do not fit the padded input")
    Ho = (H + 2 * p - HH) // s + 1
    Wo = (W + 2 * p - WW) // s + 1
    padded = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), mode="constant")
    out = np.zeros((N, F, Ho, Wo), dtype=x.dtype)
    for n in range(N):
        for i in range(Ho):
            for j in range(Wo):
                patch = padded[n, :, i * s:i * s + HH, j * s:j * s + WW]
                for f in range(F):
                    out[n, f, i, j] = (patch * w[f]).sum() + b[f]
    return out, (x, w, b, conv_param)
'''

CONV_BACKWARD_STUDENT = '''
def conv_backward_naive(dout, cache):
    x, w, b, conv_param = cache
    s, p = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    Ho, Wo = dout.shape[2], dout.shape[3]
    padded = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    dpadded = np.zeros(padded.shape, dtype=x.dtype)
    dw = np.zeros(w.shape, dtype=w.dtype)
    db = np.sum(dout, axis=(0, 2, 3))
    for f in range(F):
        for n in range(N):
            for i in range(Ho):
                for j in range(Wo):
                    dpadded[n, :, i * s:i * s + HH, j * s:j * s + WW] += w[f] * dout[n, f, i, j]
                    dw[f] += padded[n, :, i * s:i * s + HH, j * s:j * s + WW] * dout[n, f, i, j]
    dx = dpadded[:, :, p:p + H, p:p + W]
    return dx, dw, db
'''

POOL_FORWARD_STUDENT = '''
def max_pool_forward_naive(x, pool_param):
    N, C, H, W = x.shape
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    if H < ph or W < pw or (H - ph) % s or (W - pw) % s:
        raise ValueError("the pooling windows do not tile the input")
    Ho, Wo = 1 + (H - ph) // s, 1 + (W - pw) // s
    out = np.empty((N, C, Ho, Wo), dtype=x.dtype)
    for i in range(Ho):
        for j in range(Wo):
            out[:, :, i, j] = x[:, :, i * s:i * s + ph, j * s:j * s + pw].max(axis=(2, 3))
    return out, (x, pool_param)
'''

# Sends dout to every element equal to the window's maximum: right without ties, the usual
# student version, and the bug the issue names.
POOL_BACKWARD_EVERY_MAXIMUM = '''
def max_pool_backward_naive(dout, cache):
    x, pool_param = cache
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    N, C, Ho, Wo = dout.shape
    dx = np.zeros_like(x)
    for n in range(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    window = x[n, c, i * s:i * s + ph, j * s:j * s + pw]
                    mask = window == window.max()
                    dx[n, c, i * s:i * s + ph, j * s:j * s + pw] += mask * dout[n, c, i, j]
    return dx
'''

SPATIAL_BATCHNORM_STUDENT = '''
def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param["mode"]
    eps, momentum = bn_param.get("eps", 1e-5), bn_param.get("momentum", 0.9)
    N, C, H, W = x.shape
    running_mean = bn_param.get("running_mean", np.zeros(C, dtype=x.dtype))
    running_var = bn_param.get("running_var", np.zeros(C, dtype=x.dtype))
    rows = np.moveaxis(x, 1, -1).reshape(-1, C)
    cache = None
    if mode == "train":
        mu = rows.mean(axis=0)
        centered = rows - mu
        var = (centered ** 2).mean(axis=0)
        std = np.sqrt(var + eps)
        normalised = centered / std
        out_rows = gamma * normalised + beta
        cache = (centered, std, normalised, gamma)
        running_mean = momentum * running_mean + (1 - momentum) * mu
        running_var = momentum * running_var + (1 - momentum) * var
    elif mode == "test":
        out_rows = gamma * (rows - running_mean) / np.sqrt(running_var + eps) + beta
    else:
        raise ValueError(mode)
    bn_param["running_mean"], bn_param["running_var"] = running_mean, running_var
    return np.moveaxis(out_rows.reshape(N, H, W, C), -1, 1), cache
'''

SPATIAL_BATCHNORM_BACKWARD_STUDENT = '''
def spatial_batchnorm_backward(dout, cache):
    centered, std, normalised, gamma = cache
    N, C, H, W = dout.shape
    rows = np.moveaxis(dout, 1, -1).reshape(-1, C)
    m = rows.shape[0]
    dbeta = rows.sum(axis=0)
    dgamma = (rows * normalised).sum(axis=0)
    dx_rows = gamma / std * (rows - dbeta / m - normalised * dgamma / m)
    return np.moveaxis(dx_rows.reshape(N, H, W, C), -1, 1), dgamma, dbeta
'''

GROUPNORM_FORWARD_STUDENT = '''
def spatial_groupnorm_forward(x, gamma, beta, G, gn_param):
    eps = gn_param.get("eps", 1e-5)
    N, C, H, W = x.shape
    if C % G != 0:
        raise ValueError(f"C={C} is not a multiple of G={G}")
    groups = x.reshape(N, G, C // G, H, W)
    mean = groups.mean(axis=(2, 3, 4), keepdims=True)
    var = groups.var(axis=(2, 3, 4), keepdims=True)
    std = np.sqrt(var + eps)
    x_hat = ((groups - mean) / std).reshape(N, C, H, W)
    return gamma * x_hat + beta, (x_hat, std.reshape(N, G, 1), gamma, G)
'''

GROUPNORM_BACKWARD_STUDENT = '''
def spatial_groupnorm_backward(dout, cache):
    x_hat, std, gamma, G = cache
    N, C, H, W = dout.shape
    dbeta = dout.sum(axis=(0, 2, 3), keepdims=True)
    dgamma = (dout * x_hat).sum(axis=(0, 2, 3), keepdims=True)
    g = (dout * gamma).reshape(N, G, -1)
    xh = x_hat.reshape(N, G, -1)
    M = g.shape[2]
    dx = (M * g - g.sum(axis=2, keepdims=True) - xh * (g * xh).sum(axis=2, keepdims=True)) / (M * std)
    return dx.reshape(N, C, H, W), dgamma, dbeta
'''

NO_POOL = edit(CONV_NET, ("pooled_size = num_filters * (H // 2) * (W // 2)", "pooled_size = num_filters * H * W"),
               ("conv_relu_pool_forward(X, W1, b1, conv_param, pool_param)", "conv_relu_forward(X, W1, b1, conv_param)"),
               ("conv_relu_pool_backward(dpooled, conv_cache)", "conv_relu_backward(dpooled, conv_cache)"))

BUGS = [
    # ---------------------------------------------------------------------------------------- conv_forward_naive
    Variant(CONV_FORWARD, "flipped filters (a convolution, not a cross-correlation)",
            (changed(CONV_FORWARD_STUDENT, ("(patch * w[f])", "(patch * w[f, :, ::-1, ::-1])")),),
            ("your out equals a convolution with flipped filters",)),
    Variant(CONV_FORWARD, "windows placed without the stride",
            (changed(CONV_FORWARD_STUDENT, ("padded[n, :, i * s:i * s + HH, j * s:j * s + WW]", "padded[n, :, i:i + HH, j:j + WW]")),),
            ("out differs", "stride 2")),
    Variant(CONV_FORWARD, "no zero padding", (edit("dl.layers:conv_forward_naive", (
        "xpad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))", "xpad = x")),), ("raised ValueError",)),
    Variant(CONV_FORWARD, "bias left out", (changed(CONV_FORWARD_STUDENT, ("(patch * w[f]).sum() + b[f]", "(patch * w[f]).sum()")),),
            ("your out lacks the bias b",)),
    Variant(CONV_FORWARD, "never raises the ValueError for sizes that do not fit", (changed(CONV_FORWARD_STUDENT, (
        '''    if (H + 2 * p - HH) % s != 0 or (W + 2 * p - WW) % s != 0:
        raise ValueError("the filters do not fit the padded input")
''', "")),), ("conv_forward_naive returned an output", "raise a ValueError when")),
    Variant(CONV_FORWARD, "the cache holds the padded input", (changed(CONV_FORWARD_STUDENT, (
        "return out, (x, w, b, conv_param)", "return out, (padded, w, b, conv_param)")),), ("cache[0] (x) has shape", "(x, w, b, conv_param)")),
    Variant(CONV_FORWARD, "the work handed to dl.fast_layers (banned)", ('''
def conv_forward_naive(x, w, b, conv_param):
    out, _ = conv_forward_fast(x, w, b, conv_param)
    return out, (x, w, b, conv_param)
''',), ("your code called dl.fast_layers.",)),

    # ---------------------------------------------------------------------------------------- conv_backward_naive
    Variant(CONV_BACKWARD, "db averaged over the batch",
            (changed(CONV_BACKWARD_STUDENT, ("db = np.sum(dout, axis=(0, 2, 3))", "db = np.sum(dout, axis=(0, 2, 3)) / N")),),
            ("your db is averaged over the batch",)),
    Variant(CONV_BACKWARD, "dx keeps the padding", (changed(CONV_BACKWARD_STUDENT, ("dx = dpadded[:, :, p:p + H, p:p + W]", "dx = dpadded")),),
            ("your dx keeps the padding",)),
    Variant(CONV_BACKWARD, "dw not multiplied by the upstream gradient", (changed(CONV_BACKWARD_STUDENT, (
        "dw[f] += padded[n, :, i * s:i * s + HH, j * s:j * s + WW] * dout[n, f, i, j]",
        "dw[f] += padded[n, :, i * s:i * s + HH, j * s:j * s + WW]")),), ("dw differs",)),
    Variant(CONV_BACKWARD, "dw from the unpadded input", (changed(CONV_BACKWARD_STUDENT, (
        "dw[f] += padded[n, :, i * s:i * s + HH, j * s:j * s + WW] * dout[n, f, i, j]",
        "dw[f] += x[n, :, i * s:i * s + HH, j * s:j * s + WW] * dout[n, f, i, j]")),), ("conv_backward_naive raised ValueError",)),
    Variant(CONV_BACKWARD, "dx from the flipped filters", (changed(CONV_BACKWARD_STUDENT, (
        "+= w[f] * dout[n, f, i, j]", "+= w[f, :, ::-1, ::-1] * dout[n, f, i, j]")),), ("dx differs",)),

    # ---------------------------------------------------------------------------------------- max_pool_forward_naive
    Variant(POOL_FORWARD, "windows placed as if the stride were the window size", (changed(POOL_FORWARD_STUDENT, (
        "x[:, :, i * s:i * s + ph, j * s:j * s + pw]", "x[:, :, i * ph:i * ph + ph, j * pw:j * pw + pw]")),), ("out differs",)),
    Variant(POOL_FORWARD, "pool height and width swapped", (changed(POOL_FORWARD_STUDENT, (
        'ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]',
        'pw, ph, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]')),), ("2x3 windows",)),
    Variant(POOL_FORWARD, "mean pooling", (changed(POOL_FORWARD_STUDENT, (".max(axis=(2, 3))", ".mean(axis=(2, 3))")),), ("out differs",)),
    Variant(POOL_FORWARD, "never raises the ValueError for windows that do not fit", (changed(POOL_FORWARD_STUDENT, (
        '''    if H < ph or W < pw or (H - ph) % s or (W - pw) % s:
        raise ValueError("the pooling windows do not tile the input")
''', "")),), ("max_pool_forward_naive returned an output", "raise a ValueError when")),

    # ---------------------------------------------------------------------------------------- max_pool_backward_naive
    Variant(POOL_BACKWARD, "dout sent to every element equal to the maximum (ties)", (POOL_BACKWARD_EVERY_MAXIMUM,),
            ("do you send dout to every element equal to the maximum?",)),
    Variant(POOL_BACKWARD, "overlapping windows overwrite instead of adding up", (edit("dl.layers:max_pool_backward_naive", (
        "dx[n, c, i * stride + k, j * stride + l] += dout[n, c, i, j]", "dx[n, c, i * stride + k, j * stride + l] = dout[n, c, i, j]")),),
            ("dx differs", "stride 1")),
    Variant(POOL_BACKWARD, "argmax unravelled with the window's height and width swapped", (edit("dl.layers:max_pool_backward_naive", (
        "k, l = np.unravel_index(np.argmax(window), window.shape)", "k, l = np.unravel_index(np.argmax(window), (pw, ph))")),),
            ("2x3 windows",)),
    Variant(POOL_BACKWARD, "dout sent to the whole window", (changed(POOL_BACKWARD_EVERY_MAXIMUM, (
        "mask = window == window.max()", "mask = np.ones_like(window)")),), ("dx differs",)),

    # ---------------------------------------------------------------------------------------- ThreeLayerConvNet
    Variant(NET, "W3 drawn before W2 (the notebook's printed losses change)", (edit(CONV_NET, (
        '''        self.params["W2"] = weight_scale * np.random.randn(pooled_size, hidden_dim)
        self.params["b2"] = np.zeros(hidden_dim)
        self.params["W3"] = weight_scale * np.random.randn(hidden_dim, num_classes)
''', '''        self.params["W3"] = weight_scale * np.random.randn(hidden_dim, num_classes)
        self.params["W2"] = weight_scale * np.random.randn(pooled_size, hidden_dim)
        self.params["b2"] = np.zeros(hidden_dim)
''')),), ("your weights are not drawn in the order W1, W2, W3",)),
    Variant(NET, "no pool", (NO_POOL,), ("W2 is",)),
    Variant(NET, "W2 sized for square images", (edit(CONV_NET, ("num_filters * (H // 2) * (W // 2)", "num_filters * (H // 2) * (H // 2)")),),
            ("num_filters * H/2 * W/2",)),
    Variant(NET, "random biases", (edit(CONV_NET, ('self.params["b1"] = np.zeros(num_filters)',
                                                    'self.params["b1"] = weight_scale * np.random.randn(num_filters)')),),
            ("params['W2'] differs",)),
    Variant(NET, "reg left out of the gradient of W1", (edit(CONV_NET, ('grads["W1"] += self.reg * W1\n        ', "")),),
            ("grads['W1'] differs",)),
    Variant(NET, "reg without the factor 0.5", (edit(CONV_NET, ("loss += 0.5 * self.reg", "loss += self.reg")),),
            ("the loss of loss(X, y) differs",)),
    Variant(NET, "scores through a ReLU", (edit(CONV_NET, ("scores, scores_cache = affine_forward(hidden, W3, b3)",
                                                          "scores, scores_cache = affine_relu_forward(hidden, W3, b3)")),),
            ("the scores of loss(X) differ",)),
    Variant(NET, "parameters not cast to dtype", (edit(CONV_NET, ("self.params[name] = value.astype(dtype)", "self.params[name] = value")),),
            ("every parameter must be float32",)),

    # ---------------------------------------------------------------------------------------- spatial_batchnorm_forward
    Variant(SBN_FORWARD, "channels mixed by reshaping without moving C last", (edit("dl.layers:spatial_batchnorm_forward", (
        "x_rows = x.transpose(0, 2, 3, 1).reshape(-1, C)", "x_rows = x.reshape(-1, C)")),), ("which mixes channels",)),
    Variant(SBN_FORWARD, "output reshaped straight to (N, C, H, W)", (edit("dl.layers:spatial_batchnorm_forward", (
        "out = out_rows.reshape(N, H, W, C).transpose(0, 3, 1, 2)", "out = out_rows.reshape(N, C, H, W)")),),
            ("reshape them to (N, H, W, C), then move C back to axis 1",)),
    Variant(SBN_FORWARD, "the running statistics not written back into bn_param", (edit("dl.layers:spatial_batchnorm_forward", (
        "batchnorm_forward(x_rows, gamma, beta, bn_param)", "batchnorm_forward(x_rows, gamma, beta, dict(bn_param))")),),
            ("back into the bn_param dict you were given",)),
    Variant(SBN_FORWARD, "the shape of x packed into the cache", (changed(SPATIAL_BATCHNORM_STUDENT, (
        "return np.moveaxis(out_rows.reshape(N, H, W, C), -1, 1), cache",
        "return np.moveaxis(out_rows.reshape(N, H, W, C), -1, 1), (cache, x.shape)")),), ("its docstring specifies the tuple (x_centered, std, x_hat, gamma)",)),
    Variant(SBN_FORWARD, "test mode normalised with the batch statistics", (changed(SPATIAL_BATCHNORM_STUDENT, (
        "out_rows = gamma * (rows - running_mean) / np.sqrt(running_var + eps) + beta",
        "out_rows = gamma * (rows - rows.mean(axis=0)) / np.sqrt(rows.var(axis=0) + eps) + beta")),), ("test mode",)),

    # ---------------------------------------------------------------------------------------- spatial_batchnorm_backward
    Variant(SBN_BACKWARD, "upstream gradient reshaped without moving C last", (edit("dl.layers:spatial_batchnorm_backward", (
        "dout_rows = dout.transpose(0, 2, 3, 1).reshape(-1, C)", "dout_rows = dout.reshape(-1, C)")),), ("dx differs",)),
    Variant(SBN_BACKWARD, "dx reshaped straight to (N, C, H, W)", (changed(SPATIAL_BATCHNORM_BACKWARD_STUDENT, (
        "np.moveaxis(dx_rows.reshape(N, H, W, C), -1, 1)", "dx_rows.reshape(N, C, H, W)")),), ("dx differs",)),
    Variant(SBN_BACKWARD, "dgamma and dbeta of shape (1, C, 1, 1), as in group normalization", (changed(SPATIAL_BATCHNORM_BACKWARD_STUDENT, (
        "return np.moveaxis(dx_rows.reshape(N, H, W, C), -1, 1), dgamma, dbeta",
        "return np.moveaxis(dx_rows.reshape(N, H, W, C), -1, 1), dgamma.reshape(1, C, 1, 1), dbeta.reshape(1, C, 1, 1)")),),
            ("dgamma has shape (1,",)),
    Variant(SBN_BACKWARD, "the mean term of dx left out", (changed(SPATIAL_BATCHNORM_BACKWARD_STUDENT, (
        "(rows - dbeta / m - normalised * dgamma / m)", "(rows - normalised * dgamma / m)")),), ("dx differs",)),

    # ---------------------------------------------------------------------------------------- spatial_groupnorm_forward
    Variant(SGN_FORWARD, "statistics over the batch too", (changed(GROUPNORM_FORWARD_STUDENT, (
        "mean = groups.mean(axis=(2, 3, 4), keepdims=True)", "mean = groups.mean(axis=(0, 2, 3, 4), keepdims=True)")),), ("out differs",)),
    Variant(SGN_FORWARD, "each channel normalised on its own whatever G", (edit("dl.layers:spatial_groupnorm_forward", (
        "x_groups = x.reshape(N, G, -1)", "x_groups = x.reshape(N, C, -1)")),), ("out differs",)),
    Variant(SGN_FORWARD, "unbiased variance", (changed(GROUPNORM_FORWARD_STUDENT, (
        "var = groups.var(axis=(2, 3, 4), keepdims=True)", "var = groups.var(axis=(2, 3, 4), ddof=1, keepdims=True)")),), ("out differs",)),
    Variant(SGN_FORWARD, "never raises the ValueError when C is not a multiple of G", (edit("dl.layers:spatial_groupnorm_forward", (
        '''    if C % G:
        raise ValueError(f"the number of channels ({C}) must be a multiple of the number of groups G={G}")
''', "")),), ("spatial_groupnorm_forward returned an output", "raise a ValueError when C is not a multiple of G")),
    Variant(SGN_FORWARD, "std of shape (N, G, 1, 1, 1) in the cache", (changed(GROUPNORM_FORWARD_STUDENT, (
        "(x_hat, std.reshape(N, G, 1), gamma, G)", "(x_hat, std, gamma, G)")),), ("cache[1] (std) has shape",)),
    Variant(SGN_FORWARD, "float32 widened to float64", (edit("dl.layers:spatial_groupnorm_forward", (
        "x_groups = x.reshape(N, G, -1)", "x_groups = x.reshape(N, G, -1).astype(np.float64)")),), ("out has dtype float64",)),

    # ---------------------------------------------------------------------------------------- spatial_groupnorm_backward
    Variant(SGN_BACKWARD, "the term through the variance left out", (changed(GROUPNORM_BACKWARD_STUDENT, (
        " - xh * (g * xh).sum(axis=2, keepdims=True)", "")),), ("dx differs",)),
    Variant(SGN_BACKWARD, "dgamma of shape (C,)", (changed(GROUPNORM_BACKWARD_STUDENT, (
        "dgamma = (dout * x_hat).sum(axis=(0, 2, 3), keepdims=True)", "dgamma = (dout * x_hat).sum(axis=(0, 2, 3))")),),
            ("dgamma has shape",)),
    Variant(SGN_BACKWARD, "dbeta summed over the batch only", (changed(GROUPNORM_BACKWARD_STUDENT, (
        "dbeta = dout.sum(axis=(0, 2, 3), keepdims=True)", "dbeta = dout.sum(axis=0, keepdims=True)")),), ("dbeta has shape",)),
    Variant(SGN_BACKWARD, "gamma left out of dx", (changed(GROUPNORM_BACKWARD_STUDENT, (
        "g = (dout * gamma).reshape(N, G, -1)", "g = dout.reshape(N, G, -1)")),), ("dx differs",)),
]

CORRECT = [
    Variant(CONV_FORWARD, "loops in another order", (CONV_FORWARD_STUDENT,)),
    Variant(CONV_FORWARD, "windows from sliding_window_view and einsum", ('''
def conv_forward_naive(x, w, b, conv_param):
    stride, pad = conv_param["stride"], conv_param["pad"]
    F, C, HH, WW = w.shape
    xp = np.pad(x, [(0, 0), (0, 0), (pad, pad), (pad, pad)])
    if (xp.shape[2] - HH) % stride or (xp.shape[3] - WW) % stride:
        raise ValueError("filter, stride and pad do not fit")
    windows = np.lib.stride_tricks.sliding_window_view(xp, (HH, WW), axis=(2, 3))[:, :, ::stride, ::stride]
    out = np.einsum("nchwkl,fckl->nfhw", windows, w) + b[None, :, None, None]
    return out, (x, w, b, conv_param)
''',)),
    Variant(CONV_BACKWARD, "loops over the filters first", (CONV_BACKWARD_STUDENT,)),
    Variant(CONV_BACKWARD, "one einsum per kernel offset", ('''
def conv_backward_naive(dout, cache):
    x, w, b, conv_param = cache
    s, p = conv_param["stride"], conv_param["pad"]
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    Ho, Wo = dout.shape[2:]
    for k in range(w.shape[2]):
        for l in range(w.shape[3]):
            rows, cols = slice(k, k + s * (Ho - 1) + 1, s), slice(l, l + s * (Wo - 1) + 1, s)
            dw[:, :, k, l] = np.einsum("nfhw,nchw->fc", dout, xp[:, :, rows, cols])
            dxp[:, :, rows, cols] += np.einsum("nfhw,fc->nchw", dout, w[:, :, k, l])
    return dxp[:, :, p:xp.shape[2] - p, p:xp.shape[3] - p], dw, dout.sum(axis=(0, 2, 3))
''',)),
    Variant(POOL_FORWARD, "vectorised over examples and channels", (POOL_FORWARD_STUDENT,)),
    Variant(POOL_BACKWARD, "ties: the last maximum takes the gradient", (edit("dl.layers:max_pool_backward_naive", (
        "k, l = np.unravel_index(np.argmax(window), window.shape)",
        "k, l = np.unravel_index(window.size - 1 - np.argmax(window.ravel()[::-1]), window.shape)")),)),
    Variant(POOL_BACKWARD, "ties: the maxima share the gradient equally", (changed(POOL_BACKWARD_EVERY_MAXIMUM, (
        "+= mask * dout[n, c, i, j]", "+= mask * dout[n, c, i, j] / mask.sum()")),)),
    Variant(NET, "built on the naive layers", (edit(CONV_NET, (
        "conv_relu_pool_forward(X, W1, b1, conv_param, pool_param)", "naive_forward(X, W1, b1, conv_param, pool_param)"), (
        "conv_relu_pool_backward(dpooled, conv_cache)", "naive_backward(dpooled, conv_cache)")), '''
def naive_forward(x, w, b, conv_param, pool_param):
    a, conv_cache = conv_forward_naive(x, w, b, conv_param)
    s, relu_cache = relu_forward(a)
    out, pool_cache = max_pool_forward_naive(s, pool_param)
    return out, (conv_cache, relu_cache, pool_cache)


def naive_backward(dout, cache):
    conv_cache, relu_cache, pool_cache = cache
    return conv_backward_naive(relu_backward(max_pool_backward_naive(dout, pool_cache), relu_cache), conv_cache)
''')),
    Variant(NET, "parameters drawn in a loop over their shapes", (edit(CONV_NET, ('''        self.params["W1"] = weight_scale * np.random.randn(num_filters, C, filter_size, filter_size)
        self.params["b1"] = np.zeros(num_filters)
        self.params["W2"] = weight_scale * np.random.randn(pooled_size, hidden_dim)
        self.params["b2"] = np.zeros(hidden_dim)
        self.params["W3"] = weight_scale * np.random.randn(hidden_dim, num_classes)
        self.params["b3"] = np.zeros(num_classes)
''', '''        shapes = [(num_filters, C, filter_size, filter_size), (pooled_size, hidden_dim), (hidden_dim, num_classes)]
        for i, shape in enumerate(shapes, start=1):
            self.params[f"W{i}"] = np.random.normal(0.0, weight_scale, size=shape)
            self.params[f"b{i}"] = np.zeros(shape[-1] if i > 1 else shape[0])
''')),)),
    Variant(SBN_FORWARD, "batch normalization written out, np.moveaxis", (SPATIAL_BATCHNORM_STUDENT,)),
    Variant(SBN_BACKWARD, "closed form written out, np.moveaxis", (SPATIAL_BATCHNORM_BACKWARD_STUDENT,)),
    Variant(SGN_FORWARD, "groups as a 5-d array, np.var", (GROUPNORM_FORWARD_STUDENT,)),
    Variant(SGN_BACKWARD, "closed form with sums", (GROUPNORM_BACKWARD_STUDENT,)),
]
