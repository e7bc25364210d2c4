"""Hidden checks of BatchNormalization: the reference earns full marks; realistic bugs lose points, with a message saying why.

Each check runs in-process against a namespace built like a student's kernel: the reference
sources of every layer, sandwich layer and the model (solution markers removed), then the
source under test, which replaces the definition it redefines.
"""
import inspect

import pytest

from autograder.checks import REGISTRY, CheckContext, check_rng
from autograder.manifest import find_unit
from autograder.nbgrader_bridge import in_process_student
from dl import layer_utils, layers
from dl.models import fc_net
from tests.autograder.notebooks import MARKER_LINE, replace_once

UNIT_OF = {
    "batchnorm_forward": "a1-bn-batchnorm_forward",
    "batchnorm_backward": "a1-bn-batchnorm_backward",
    "batchnorm_backward_alt": "a1-bn-batchnorm_backward_alt",
    "layernorm_forward": "a1-bn-layernorm_forward",
    "layernorm_backward": "a1-bn-layernorm_backward",
    "fc_net_normalization": "a1-bn-fc_normalization",
}
LAYERS = ("affine_forward", "affine_backward", "relu_forward", "relu_backward", "softmax_loss", "batchnorm_forward",
          "batchnorm_backward", "batchnorm_backward_alt", "layernorm_forward", "layernorm_backward", "dropout_forward", "dropout_backward")
SANDWICHES = ("affine_relu_forward", "affine_relu_backward", "affine_norm_relu_forward", "affine_norm_relu_backward")


def source(name: str) -> str:
    """The reference source of a layer function, sandwich layer or ``FullyConnectedNet``, without solution markers."""
    obj = getattr(layers, name, None) or getattr(layer_utils, name, None) or getattr(fc_net, name)
    return MARKER_LINE.sub("", inspect.getsource(obj))


def run(check: str, *sources: str, without: tuple[str, ...] = ()):
    """``check`` against the reference program (minus the names in ``without``) followed by ``sources``."""
    namespace: dict = {}
    program = [source(name) for name in (*LAYERS, *SANDWICHES, "FullyConnectedNet") if name not in without]
    exec("import numpy as np\n" + "\n\n".join([*program, *sources]), namespace)
    grade_id = UNIT_OF[check]
    return REGISTRY[check](in_process_student(namespace), check_rng(0, grade_id, check), CheckContext(unit=find_unit(grade_id)))


def bug(name: str, old: str, new: str, count: int = 1) -> str:
    """The reference source of ``name`` with ``old`` (found exactly ``count`` times) replaced by ``new``."""
    text = source(name)
    if count == 1:
        return replace_once(text, old, new)
    assert text.count(old) == count, f"expected {count} of {old!r} in the reference {name}"
    return text.replace(old, new)


@pytest.mark.parametrize("check", list(UNIT_OF))
def test_the_reference_earns_full_marks(check):
    result = run(check)
    assert result.score == 1.0 and result.status == "passed", result.message
    assert "hidden sub-checks" in result.message


BN_FORWARD_BUGS = {
    "unbiased variance": (
        bug("batchnorm_forward", "var = (x_centered**2).mean(axis=0)", "var = x_centered.var(axis=0, ddof=1)"),
        ["out differs from the expected value", "bn_param {'mode': 'train'}"]),
    "running statistics not written back": (
        bug("batchnorm_forward", '    bn_param["running_mean"] = running_mean\n    bn_param["running_var"] = running_var\n', ""),
        ["bn_param has no 'running_mean' after a call in train mode", "bn_param['running_mean'] was not updated"]),
    "momentum the wrong way round": (
        bug("batchnorm_forward", "running_mean = momentum * running_mean + (1 - momentum) * mu",
            "running_mean = (1 - momentum) * running_mean + momentum * mu"),
        ["bn_param['running_mean'] differs from the expected value", "momentum 0.9 by default"]),
    "batch statistics in test mode": (
        bug("batchnorm_forward", "x_hat = (x - running_mean) / np.sqrt(running_var + eps)",
            "x_hat = (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + eps)"),
        ["out in test mode differs", "'mode': 'test'"]),
    "hard-coded eps": (
        bug("batchnorm_forward", 'eps = bn_param.get("eps", 1e-5)', "eps = 1e-5"),
        ["out differs from the expected value", "'eps': "]),
    "float64 computation": (
        bug("batchnorm_forward", "N, D = x.shape\n", "N, D = x.shape\n    x = x.astype(np.float64)\n"),
        ["out has dtype float64 for float32 inputs in train mode", "in test mode"]),
    "out without the cache": (
        bug("batchnorm_forward", "return out, cache", "return out"),
        ["batchnorm_forward returned a ndarray; expected a tuple"]),
    "unfinished": (
        "def batchnorm_forward(x, gamma, beta, bn_param):\n    raise NotImplementedError\n",
        ["batchnorm_forward raised NotImplementedError"]),
}


@pytest.mark.parametrize("name", list(BN_FORWARD_BUGS))
def test_batchnorm_forward_bugs_lose_points_with_a_message(name):
    buggy, words = BN_FORWARD_BUGS[name]
    result = run("batchnorm_forward", buggy)
    assert result.score < 1, name
    for w in words:
        assert w in result.message, result.message


BN_BACKWARD_BUGS = {
    "mean and variance treated as constants": (
        bug("batchnorm_backward", "dx = dx_centered + dmu / N", "dx = dx_hat * inv_std"),
        ["dx differs from the expected value", "against the numerical gradient of your batchnorm_forward"]),
    "dgamma and dbeta swapped": (
        bug("batchnorm_backward", "return dx, dgamma, dbeta", "return dx, dbeta, dgamma"),
        ["dgamma differs from the expected value"]),
    "std recomputed without eps": (
        bug("batchnorm_backward", "N = dout.shape[0]\n", "N = dout.shape[0]\n    std = np.sqrt((x_centered**2).mean(axis=0))\n"),
        ["dx differs from the expected value"]),
    "only dx": (
        bug("batchnorm_backward", "return dx, dgamma, dbeta", "return dx"),
        ["batchnorm_backward returned an array of shape", "expected a tuple (dx, dgamma, dbeta)"]),
}


@pytest.mark.parametrize("name", list(BN_BACKWARD_BUGS))
def test_batchnorm_backward_bugs_lose_points_with_a_message(name):
    buggy, words = BN_BACKWARD_BUGS[name]
    result = run("batchnorm_backward", buggy)
    assert result.score < 1, name
    for w in words:
        assert w in result.message, result.message


def test_the_student_forward_is_what_the_numerical_gradients_differentiate():
    """A backward that matches the reference still fails the numerical sub-checks of a forward it does not match."""
    forward = bug("batchnorm_forward", "out = gamma * x_hat + beta\n        cache", "out = 2 * gamma * x_hat + beta\n        cache")
    result = run("batchnorm_backward", forward)
    assert 0 < result.score < 1 and "against the numerical gradient of your batchnorm_forward" in result.message


ALT_BUGS = {
    "the N factor lost": (
        bug("batchnorm_backward_alt", "dx = gamma / (N * std) * (N * dout - dbeta", "dx = gamma / std * (N * dout - dbeta"),
        ["dx differs from the expected value", "dx of batchnorm_backward_alt differs", "against your batchnorm_backward"]),
    "sign of the x_hat term": (
        bug("batchnorm_backward_alt", "- x_hat * dgamma)", "+ x_hat * dgamma)"),
        ["dx differs from the expected value"]),
}


@pytest.mark.parametrize("name", list(ALT_BUGS))
def test_batchnorm_backward_alt_bugs_lose_points_with_a_message(name):
    buggy, words = ALT_BUGS[name]
    result = run("batchnorm_backward_alt", buggy)
    assert result.score < 1, name
    for w in words:
        assert w in result.message, result.message


@pytest.mark.parametrize("graph_version", ["missing", "unfinished", "wrong"])
def test_backward_alt_is_not_graded_on_a_missing_or_wrong_graph_version(graph_version):
    full = run("batchnorm_backward_alt").message
    sources = {"missing": (), "unfinished": ("def batchnorm_backward(dout, cache):\n    raise NotImplementedError\n",),
               "wrong": (bug("batchnorm_backward", "return dx, dgamma, dbeta", "return 2 * dx, dgamma, dbeta"),)}[graph_version]
    result = run("batchnorm_backward_alt", *sources, without=("batchnorm_backward",) if graph_version == "missing" else ())
    assert result.score == 1.0, result.message
    assert "passed 19 of 19" in full and "passed 18 of 18" in result.message  # the agreement sub-check is left out


LN_FORWARD_BUGS = {
    "batchnorm's axis": (
        bug("layernorm_forward", "axis=1, keepdims=True", "axis=0, keepdims=True", count=2),
        ["out differs from the expected value", "x of shape (1, "]),
    "hard-coded eps": (
        bug("layernorm_forward", 'eps = ln_param.get("eps", 1e-5)', "eps = 1e-5"),
        ["ln_param {'eps': "]),
    "mode required": (
        bug("layernorm_forward", 'eps = ln_param.get("eps", 1e-5)', 'eps = ln_param.get("eps", 1e-5)\n    mode = ln_param["mode"]'),
        ["layernorm_forward raised KeyError", "ln_param {}"]),
}


@pytest.mark.parametrize("name", list(LN_FORWARD_BUGS))
def test_layernorm_forward_bugs_lose_points_with_a_message(name):
    buggy, words = LN_FORWARD_BUGS[name]
    result = run("layernorm_forward", buggy)
    assert result.score < 1, name
    for w in words:
        assert w in result.message, result.message


LN_BACKWARD_BUGS = {
    "dgamma summed over the features": (
        bug("layernorm_backward", "dgamma = (dout * x_hat).sum(axis=0)", "dgamma = (dout * x_hat).sum(axis=1)"),
        ["dgamma has shape"]),
    "the mean term lost": (
        bug("layernorm_backward", "- dx_hat.sum(axis=1, keepdims=True)", ""),
        ["dx differs from the expected value", "against the numerical gradient of your layernorm_forward"]),
}


@pytest.mark.parametrize("name", list(LN_BACKWARD_BUGS))
def test_layernorm_backward_bugs_lose_points_with_a_message(name):
    buggy, words = LN_BACKWARD_BUGS[name]
    result = run("layernorm_backward", buggy)
    assert result.score < 1, name
    for w in words:
        assert w in result.message, result.message


FC_BUGS = {
    "gamma and beta after the last layer too": (
        bug("FullyConnectedNet", "for i, dim in enumerate(hidden_dims, start=1):", "for i, dim in enumerate([*hidden_dims, num_classes], start=1):"),
        ["has unexpected ['beta", "no normalization after the last affine layer"]),
    "gammas start at zero": (
        bug("FullyConnectedNet", 'self.params[f"gamma{i}"] = np.ones(dim)', 'self.params[f"gamma{i}"] = np.zeros(dim)'),
        ["every gamma all ones"]),
    "batchnorm left in train mode for the scores": (
        bug("FullyConnectedNet", 'bn_param["mode"] = mode', "pass"),
        ["loss(X) (test-mode scores) differs", "after two train-mode calls", "running statistics"]),
    "one bn_param shared by every layer": (
        bug("FullyConnectedNet", 'self.bn_params = [{"mode": "train"} for _ in range(self.num_layers - 1)]',
            'self.bn_params = [{"mode": "train"}] * (self.num_layers - 1)'),
        ["normalization=batchnorm"]),
    "no parameter dicts for layernorm": (
        bug("FullyConnectedNet", 'elif normalization == "layernorm":\n            self.bn_params = [{} for _ in range(self.num_layers - 1)]\n', ""),
        ["normalization=layernorm", "model.loss raised IndexError"]),
}


@pytest.mark.parametrize("name", list(FC_BUGS))
def test_fc_net_normalization_bugs_lose_points_with_a_message(name):
    buggy, words = FC_BUGS[name]
    result = run("fc_net_normalization", buggy)
    assert result.score < 1, name
    for w in words:
        assert w in result.message, result.message
