"""BatchNormalization: realistic single bugs of each unit, and correct implementations that differ from the reference.

Several are whole implementations written apart from the reference (a student's usual shape of
the code), with the one mistake in them; the others are the reference with one edit.
"""
from tests.autograder.bug_tables import Variant, edit

FORWARD = "dl.layers:batchnorm_forward"
BACKWARD = "dl.layers:batchnorm_backward"
ALT = "dl.layers:batchnorm_backward_alt"
LN_FORWARD = "dl.layers:layernorm_forward"
LN_BACKWARD = "dl.layers:layernorm_backward"
NET = "dl.models.fc_net:FullyConnectedNet"


def batchnorm_forward_written_out(*, ddof: str = "0", test_statistics: str = "running_mean, running_var") -> str:
    """A batchnorm_forward a student might write, with np.var and its own names; the arguments plant one bug."""
    return f'''
def batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param["mode"]
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    N, D = x.shape
    running_mean = bn_param.get("running_mean", np.zeros(D, dtype=x.dtype))
    running_var = bn_param.get("running_var", np.zeros(D, dtype=x.dtype))
    cache = None
    if mode == "train":
        sample_mean = np.mean(x, axis=0)
        sample_var = np.var(x, axis=0, ddof={ddof})
        std = np.sqrt(sample_var + eps)
        x_centered = x - sample_mean
        x_hat = x_centered / std
        out = gamma * x_hat + beta
        cache = (x_centered, std, x_hat, gamma)
        running_mean = momentum * running_mean + (1 - momentum) * sample_mean
        running_var = momentum * running_var + (1 - momentum) * sample_var
    elif mode == "test":
        mean, var = {test_statistics}
        out = gamma * (x - mean) / np.sqrt(var + eps) + beta
    else:
        raise ValueError("unknown mode " + repr(mode))
    bn_param["running_mean"] = running_mean
    bn_param["running_var"] = running_var
    return out, cache
'''


SANDWICH_FORWARD = """                h, caches[f"hidden{i}"] = affine_norm_relu_forward(
                    h, self.params[f"W{i}"], self.params[f"b{i}"], self.params[f"gamma{i}"],
                    self.params[f"beta{i}"], self.bn_params[i - 1], self.normalization,
                )"""
SANDWICH_BACKWARD = """                dh, grads[f"W{i}"], grads[f"b{i}"], grads[f"gamma{i}"], grads[f"beta{i}"] = affine_norm_relu_backward(
                    dh, caches[f"hidden{i}"]
                )"""
LAYERS_FORWARD = """                norm = batchnorm_forward if self.normalization == "batchnorm" else layernorm_forward
                gamma, beta, norm_param = self.params[f"gamma{i}"], self.params[f"beta{i}"], self.bn_params[i - 1]
                a, fc_cache = affine_forward(h, self.params[f"W{i}"], self.params[f"b{i}"])
"""
NORM_THEN_RELU = """                a, norm_cache = norm(a, gamma, beta, norm_param)
                h, relu_cache = relu_forward(a)
"""
RELU_THEN_NORM = """                a, relu_cache = relu_forward(a)
                h, norm_cache = norm(a, gamma, beta, norm_param)
"""
LAYERS_BACKWARD = """                fc_cache, norm_cache, relu_cache = caches[f"hidden{i}"]
                norm_backward = batchnorm_backward if self.normalization == "batchnorm" else layernorm_backward
"""
BACK_THROUGH_RELU_THEN_NORM = """                dh = relu_backward(dh, relu_cache)
                dh, grads[f"gamma{i}"], grads[f"beta{i}"] = norm_backward(dh, norm_cache)
"""
BACK_THROUGH_NORM_THEN_RELU = """                dh, grads[f"gamma{i}"], grads[f"beta{i}"] = norm_backward(dh, norm_cache)
                dh = relu_backward(dh, relu_cache)
"""


def net_with_layers_called_one_by_one(*, norm_first: bool) -> str:
    """FullyConnectedNet whose normalization branch calls affine, norm and relu itself (no sandwich helper).

    ``norm_first=False`` plants a bug: the normalization after the ReLU.
    """
    forward = LAYERS_FORWARD + (NORM_THEN_RELU if norm_first else RELU_THEN_NORM)
    forward += """                caches[f"hidden{i}"] = (fc_cache, norm_cache, relu_cache)"""
    backward = LAYERS_BACKWARD + (BACK_THROUGH_RELU_THEN_NORM if norm_first else BACK_THROUGH_NORM_THEN_RELU)
    backward += """                dh, grads[f"W{i}"], grads[f"b{i}"] = affine_backward(dh, fc_cache)"""
    return edit(NET, (SANDWICH_FORWARD, forward), (SANDWICH_BACKWARD, backward))


BUGS = [
    # batchnorm_forward
    Variant("a1-bn-batchnorm_forward", "unbiased variance (np.var with ddof=1)", (batchnorm_forward_written_out(ddof="1"),),
            ("uses the unbiased variance (divided by N - 1)",)),
    Variant("a1-bn-batchnorm_forward", "test mode normalises with the batch's statistics",
            (batchnorm_forward_written_out(test_statistics="x.mean(axis=0), x.var(axis=0)"),),
            ("your test mode normalises with the batch's own mean and variance",)),
    Variant("a1-bn-batchnorm_forward", "momentum the wrong way round",
            (edit(FORWARD, ("running_mean = momentum * running_mean + (1 - momentum) * mu",
                            "running_mean = (1 - momentum) * running_mean + momentum * mu"),
                  ("running_var = momentum * running_var + (1 - momentum) * var",
                   "running_var = (1 - momentum) * running_var + momentum * var")),),
            ("gives the batch statistic the weight momentum",)),
    Variant("a1-bn-batchnorm_forward", "bn_param's eps ignored", (edit(FORWARD, ('eps = bn_param.get("eps", 1e-5)', "eps = 1e-5")),),
            ("your out ignores bn_param's eps",)),
    Variant("a1-bn-batchnorm_forward", "eps added outside the square root",
            (edit(FORWARD, ("std = np.sqrt(var + eps)", "std = np.sqrt(var) + eps")),),
            ("adds eps outside the square root",)),
    Variant("a1-bn-batchnorm_forward", "running statistics kept in local variables only",
            (edit(FORWARD, ('    bn_param["running_mean"] = running_mean\n    bn_param["running_var"] = running_var\n', "")),),
            ("bn_param has no 'running_mean' after a call in train mode",)),

    # batchnorm_backward
    Variant("a1-bn-batchnorm_backward", "mean and variance treated as constants",
            (edit(BACKWARD, ("dx = dx_centered + dmu / N", "dx = dx_hat * inv_std")),),
            ("treats the mean and the variance as constants",)),
    Variant("a1-bn-batchnorm_backward", "the path through the mean left out",
            (edit(BACKWARD, ("dx = dx_centered + dmu / N", "dx = dx_centered")),), ("dx differs from the expected value",)),
    Variant("a1-bn-batchnorm_backward", "the variance's derivative without its factor 2",
            (edit(BACKWARD, ("dx_centered += 2.0 * x_centered * dvar / N", "dx_centered += x_centered * dvar / N")),),
            ("dx differs from the expected value",)),
    Variant("a1-bn-batchnorm_backward", "dgamma and dbeta swapped",
            (edit(BACKWARD, ("return dx, dgamma, dbeta", "return dx, dbeta, dgamma")),), ("dgamma and dbeta are swapped",)),
    Variant("a1-bn-batchnorm_backward", "only dx returned", (edit(BACKWARD, ("return dx, dgamma, dbeta", "return dx")),),
            ("expected a tuple (dx, dgamma, dbeta)",)),

    # batchnorm_backward_alt
    Variant("a1-bn-batchnorm_backward_alt", "the factor 1 / N lost",
            (edit(ALT, ("dx = gamma / (N * std) * (N * dout - dbeta", "dx = gamma / std * (N * dout - dbeta")),),
            ("your dx is N times the right one",)),
    Variant("a1-bn-batchnorm_backward_alt", "the sign of the x_hat term", (edit(ALT, ("- x_hat * dgamma)", "+ x_hat * dgamma)")),),
            ("dx differs from the expected value",)),
    Variant("a1-bn-batchnorm_backward_alt", "batch means in place of sums",
            (edit(ALT, ("dbeta = dout.sum(axis=0)", "dbeta = dout.mean(axis=0)"),
                  ("dgamma = (dout * x_hat).sum(axis=0)", "dgamma = (dout * x_hat).mean(axis=0)")),),
            ("dgamma differs from the expected value",)),
    Variant("a1-bn-batchnorm_backward_alt", "gamma left out of dx", (edit(ALT, ("dx = gamma / (N * std)", "dx = 1 / (N * std)")),),
            ("your dx lacks the factor gamma",)),

    # layernorm_forward
    Variant("a1-bn-layernorm_forward", "batchnorm's axis",
            (edit(LN_FORWARD, ("mu = x.mean(axis=1, keepdims=True)", "mu = x.mean(axis=0, keepdims=True)"),
                  ("var = (x_centered**2).mean(axis=1, keepdims=True)", "var = (x_centered**2).mean(axis=0, keepdims=True)")),),
            ("as batch normalization does",)),
    Variant("a1-bn-layernorm_forward", "ln_param's eps ignored", (edit(LN_FORWARD, ('eps = ln_param.get("eps", 1e-5)', "eps = 1e-5")),),
            ("your out ignores ln_param's eps",)),
    Variant("a1-bn-layernorm_forward", "a mode required",
            (edit(LN_FORWARD, ('eps = ln_param.get("eps", 1e-5)', 'eps = ln_param.get("eps", 1e-5)\n    mode = ln_param["mode"]')),),
            ("layernorm_forward raised KeyError", "ln_param {}")),
    Variant("a1-bn-layernorm_forward", "unbiased variance",
            (edit(LN_FORWARD, ("var = (x_centered**2).mean(axis=1, keepdims=True)", "var = x.var(axis=1, ddof=1, keepdims=True)")),),
            ("uses the unbiased variance (divided by D - 1)",)),

    # layernorm_backward
    Variant("a1-bn-layernorm_backward", "the mean term lost", (edit(LN_BACKWARD, ("- dx_hat.sum(axis=1, keepdims=True)", "")),),
            ("lacks the term that comes through the mean",)),
    Variant("a1-bn-layernorm_backward", "the batch size in place of the feature count",
            (edit(LN_BACKWARD, ("D = dout.shape[1]", "D = dout.shape[0]")),), ("dx differs from the expected value",)),
    Variant("a1-bn-layernorm_backward", "batchnorm's closed form kept (sums over the batch)", ('''
def layernorm_backward(dout, cache):
    _, std, x_hat, gamma = cache
    N = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    dx = gamma / (N * std) * (N * dout - dbeta - x_hat * dgamma)
    return dx, dgamma, dbeta
''',), ("dx differs from the expected value",)),

    # the normalization branch of FullyConnectedNet
    Variant("a1-bn-fc_normalization", "batchnorm left in train mode for the scores", (edit(NET, ('bn_param["mode"] = mode', "pass")),),
            ("loss(X) (test-mode scores) differs", "running statistics")),
    Variant("a1-bn-fc_normalization", "one bn_param shared by every layer",
            (edit(NET, ('self.bn_params = [{"mode": "train"} for _ in range(self.num_layers - 1)]',
                        'self.bn_params = [{"mode": "train"}] * (self.num_layers - 1)')),), ("normalization=batchnorm",)),
    Variant("a1-bn-fc_normalization", "no parameter dicts for layernorm",
            (edit(NET, ('elif normalization == "layernorm":\n            self.bn_params = [{} for _ in range(self.num_layers - 1)]\n', "")),),
            ("normalization=layernorm", "model.loss raised IndexError")),
    Variant("a1-bn-fc_normalization", "normalization after the ReLU", (net_with_layers_called_one_by_one(norm_first=False),),
            ("the loss of loss(X, y) differs",)),
]

CORRECT = [
    Variant("a1-bn-batchnorm_forward", "written out with np.var and its own names", (batchnorm_forward_written_out(),)),
    Variant("a1-bn-batchnorm_backward", "the graph by the variance directly, with einsum sums", ('''
def batchnorm_backward(dout, cache):
    xc, std, xh, g = cache
    N = dout.shape[0]
    dbeta = np.einsum("nd->d", dout)
    dgamma = np.einsum("nd,nd->d", dout, xh)
    dxh = dout * g
    dvar = np.einsum("nd,nd->d", dxh, xc) * -0.5 * std**-3
    dmu = -np.einsum("nd->d", dxh) / std + dvar * np.mean(-2.0 * xc, axis=0)
    dx = dxh / std + dvar * 2.0 * xc / N + dmu / N
    return dx, dgamma, dbeta
''',)),
    Variant("a1-bn-batchnorm_backward_alt", "the closed form with the batch means", ('''
def batchnorm_backward_alt(dout, cache):
    _, std, x_hat, gamma = cache
    dbeta = np.sum(dout, axis=0)
    dgamma = np.sum(dout * x_hat, axis=0)
    dx = (gamma / std) * (dout - dout.mean(axis=0) - x_hat * (dout * x_hat).mean(axis=0))
    return dx, dgamma, dbeta
''',)),
    Variant("a1-bn-layernorm_forward", "batch normalization's formulas on x transposed", ('''
def layernorm_forward(x, gamma, beta, ln_param):
    eps = ln_param.get("eps", 1e-5)
    xt = x.T
    mu = xt.mean(axis=0)
    x_centered = (xt - mu).T
    std = np.sqrt(np.mean((xt - mu) ** 2, axis=0) + eps)[:, None]
    x_hat = x_centered / std
    return gamma * x_hat + beta, (x_centered, std, x_hat, gamma)
''',)),
    Variant("a1-bn-layernorm_backward", "batch normalization's closed form on transposed arrays", ('''
def layernorm_backward(dout, cache):
    _, std, x_hat, gamma = cache
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    g = (dout * gamma).T
    xh = x_hat.T
    D = g.shape[0]
    dxt = (D * g - g.sum(axis=0) - xh * (g * xh).sum(axis=0)) / (D * std.T)
    return dxt.T, dgamma, dbeta
''',)),
    Variant("a1-bn-fc_normalization", "affine, norm and relu called one by one", (net_with_layers_called_one_by_one(norm_first=True),)),
]
