"""Hidden checks of ConvolutionalNetworks' layers, against in-process namespaces.

The reference earns full marks; realistic bugs earn less, with a message that names the input
and what differs; a naive layer that calls the fast one (or scipy) fails, saying so.
"""
import inspect

import pytest

from autograder.checks import REGISTRY, CheckContext, check_rng
from autograder.manifest import find_unit
from autograder.nbgrader_bridge import in_process_student
from dl import layers
from tests.autograder.notebooks import MARKER_LINE, replace_once

LAYERS = ["batchnorm_forward", "batchnorm_backward", "conv_forward_naive", "conv_backward_naive", "max_pool_forward_naive",
          "max_pool_backward_naive", "spatial_batchnorm_forward", "spatial_batchnorm_backward", "spatial_groupnorm_forward",
          "spatial_groupnorm_backward"]


def source(name: str) -> str:
    """The reference source of ``dl.layers.<name>`` without its solution marker lines."""
    return MARKER_LINE.sub("", inspect.getsource(getattr(layers, name)))


def bug(name: str, old: str, new: str) -> dict[str, str]:
    return {name: replace_once(source(name), old, new)}


def run(check: str, overrides: dict[str, str] | None = None, seed: int = 0):
    """Check ``check`` of unit ``a1-cnn-<check>`` against the reference layers, some replaced by ``overrides``."""
    namespace = {}
    exec("import numpy as np\n", namespace)
    for name in LAYERS:
        exec((overrides or {}).get(name, source(name)), namespace)
    for name, text in (overrides or {}).items():
        if name not in LAYERS:
            exec(text, namespace)
    grade_id = f"a1-cnn-{check}"
    context = CheckContext(unit=find_unit(grade_id))
    return REGISTRY[check](in_process_student(namespace), check_rng(seed, grade_id, check), context)


CHECKS = ["conv_forward_naive", "conv_backward_naive", "max_pool_forward_naive", "max_pool_backward_naive",
          "spatial_batchnorm_forward", "spatial_batchnorm_backward", "spatial_groupnorm_forward", "spatial_groupnorm_backward"]


@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize("seed", [0, 1])
def test_the_reference_earns_full_marks(check, seed):
    result = run(check, seed=seed)
    assert result.score == 1.0 and result.status == "passed", result.message
    assert "passed" in result.message and "hidden sub-checks" in result.message


CONV_FORWARD_BUGS = {
    "flipped kernel (convolution, not cross-correlation)":
        (bug("conv_forward_naive", "np.sum(window * w[f])", "np.sum(window * w[f, :, ::-1, ::-1])"), "out differs"),
    "no zero padding":
        (bug("conv_forward_naive", "xpad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))", "xpad = x"),
         "pad 1: conv_forward_naive raised ValueError"),
    "stride ignored when placing the windows":
        (bug("conv_forward_naive", "xpad[n, :, i * stride:i * stride + HH, j * stride:j * stride + WW]", "xpad[n, :, i:i + HH, j:j + WW]"),
         "stride 2"),
    "output size without the stride":
        (bug("conv_forward_naive", "H_out = 1 + (H + 2 * pad - HH) // stride", "H_out = 1 + (H + 2 * pad - HH) // stride + (stride > 1)"),
         "stride"),
}


@pytest.mark.parametrize("overrides, words", CONV_FORWARD_BUGS.values(), ids=CONV_FORWARD_BUGS.keys())
def test_conv_forward_bugs_lose_marks(overrides, words):
    result = run("conv_forward_naive", overrides)
    assert result.score < 1 and words in result.message, result.message
    assert "x of shape" in result.message and "pad" in result.message


CONV_BACKWARD_BUGS = {
    "padding left on dx": (bug("conv_backward_naive", "dx = dxpad[:, :, pad:pad + x.shape[2], pad:pad + x.shape[3]]", "dx = dxpad"),
                           "dx has shape"),
    "padding cut with pad:-pad (empty when pad = 0)":
        (bug("conv_backward_naive", "dx = dxpad[:, :, pad:pad + x.shape[2], pad:pad + x.shape[3]]", "dx = dxpad[:, :, pad:-pad, pad:-pad]"),
         "pad 0"),
    "db averaged over the batch": (bug("conv_backward_naive", "db = dout.sum(axis=(0, 2, 3))", "db = dout.sum(axis=(0, 2, 3)) / N"),
                                   "db differs"),
    "dw not multiplied by the upstream gradient":
        (bug("conv_backward_naive", "dw[f] += xpad[n, :, rows, cols] * dout[n, f, i, j]", "dw[f] += xpad[n, :, rows, cols]"), "dw differs"),
}


@pytest.mark.parametrize("overrides, words", CONV_BACKWARD_BUGS.values(), ids=CONV_BACKWARD_BUGS.keys())
def test_conv_backward_bugs_lose_marks(overrides, words):
    result = run("conv_backward_naive", overrides)
    assert 0 < result.score < 1 and words in result.message, result.message


def test_a_wrong_forward_is_caught_by_the_numerical_gradient_of_the_students_own_forward():
    """A backward that matches the reference still differs from the numerical gradient of a wrong forward."""
    flipped = bug("conv_forward_naive", "np.sum(window * w[f])", "np.sum(window * w[f, :, ::-1, ::-1])")
    result = run("conv_backward_naive", flipped)
    assert 0 < result.score < 1 and "against the numerical gradient of your conv_forward_naive" in result.message, result.message


POOL_FORWARD_BUGS = {
    "windows placed as if stride were the window size":
        (bug("max_pool_forward_naive", "x[n, c, i * stride:i * stride + ph, j * stride:j * stride + pw]",
             "x[n, c, i * ph:i * ph + ph, j * pw:j * pw + pw]"), "out differs"),
    "pool height and width swapped":
        (bug("max_pool_forward_naive", 'ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]',
             'pw, ph, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]'), "windows"),
    "mean pooling":
        (bug("max_pool_forward_naive", "j * stride:j * stride + pw].max()", "j * stride:j * stride + pw].mean()"), "out differs"),
}


@pytest.mark.parametrize("overrides, words", POOL_FORWARD_BUGS.values(), ids=POOL_FORWARD_BUGS.keys())
def test_max_pool_forward_bugs_lose_marks(overrides, words):
    result = run("max_pool_forward_naive", overrides)
    assert result.score < 1 and words in result.message and "stride" in result.message, result.message


POOL_BACKWARD_BUGS = {
    "upstream gradient routed to every element of the window":
        (bug("max_pool_backward_naive", "dx[n, c, i * stride + k, j * stride + l] += dout[n, c, i, j]",
             "dx[n, c, i * stride:i * stride + ph, j * stride:j * stride + pw] += dout[n, c, i, j]"), "dx differs"),
    "overlapping windows overwrite instead of adding up":
        (bug("max_pool_backward_naive", "dx[n, c, i * stride + k, j * stride + l] += dout[n, c, i, j]",
             "dx[n, c, i * stride + k, j * stride + l] = dout[n, c, i, j]"), "stride 1"),
    "argmax unravelled with the window's height and width swapped":
        (bug("max_pool_backward_naive", "k, l = np.unravel_index(np.argmax(window), window.shape)",
             "k, l = np.unravel_index(np.argmax(window), (pw, ph))"), "2x3 windows"),
}


@pytest.mark.parametrize("overrides, words", POOL_BACKWARD_BUGS.values(), ids=POOL_BACKWARD_BUGS.keys())
def test_max_pool_backward_bugs_lose_marks(overrides, words):
    result = run("max_pool_backward_naive", overrides)
    assert result.score < 1 and words in result.message, result.message


FAST_CONV = """\
from dl.fast_layers import conv_backward_fast, conv_forward_fast, max_pool_backward_fast, max_pool_forward_fast

def conv_forward_naive(x, w, b, conv_param):
    return conv_forward_fast(x, w, b, conv_param)

def conv_backward_naive(dout, cache):
    return conv_backward_fast(dout, cache)

def max_pool_forward_naive(x, pool_param):
    return max_pool_forward_fast(x, pool_param)

def max_pool_backward_naive(dout, cache):
    return max_pool_backward_fast(dout, cache)
"""
SCIPY_CONV = """\
import scipy.signal

def conv_forward_naive(x, w, b, conv_param):
    stride, pad = conv_param["stride"], conv_param["pad"]
    xpad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.stack([np.stack([sum(scipy.signal.correlate2d(xpad[n, c], w[f, c], mode="valid") for c in range(x.shape[1])) + b[f]
                              for f in range(w.shape[0])]) for n in range(x.shape[0])])
    return out[:, :, ::stride, ::stride], (x, w, b, conv_param)
"""


@pytest.mark.parametrize("check", ["conv_forward_naive", "conv_backward_naive", "max_pool_forward_naive", "max_pool_backward_naive"])
def test_naive_layers_that_call_the_fast_ones_fail_saying_so(check):
    fast = {name: "" for name in ("conv_forward_naive", "conv_backward_naive", "max_pool_forward_naive", "max_pool_backward_naive")}
    fast["fast"] = FAST_CONV
    result = run(check, fast)
    assert result.score == 0, result.message
    assert "your code called dl.fast_layers." in result.message and "which this function may not use" in result.message


def test_a_naive_convolution_built_on_scipy_signal_fails_saying_so():
    assert "scipy" in SCIPY_CONV  # the layer is correct: without the ban it would pass
    result = run("conv_forward_naive", {"conv_forward_naive": "", "scipy": SCIPY_CONV})
    assert result.score == 0 and "your code called scipy.signal" in result.message, result.message


SPATIAL_BN_FORWARD_BUGS = {
    "channels mixed by reshaping without moving C last":
        (bug("spatial_batchnorm_forward", "x_rows = x.transpose(0, 2, 3, 1).reshape(-1, C)", "x_rows = x.reshape(-1, C)"), "out differs"),
    "output not moved back to (N, C, H, W)":
        (bug("spatial_batchnorm_forward", "out = out_rows.reshape(N, H, W, C).transpose(0, 3, 1, 2)", "out = out_rows.reshape(N, C, H, W)"),
         "out differs"),
    "running statistics not written back into bn_param":
        (bug("spatial_batchnorm_forward", "batchnorm_forward(x_rows, gamma, beta, bn_param)",
             "batchnorm_forward(x_rows, gamma, beta, dict(bn_param))"),
         "is unchanged after a train-mode call"),
    "unbiased variance in the batchnorm it calls":
        (bug("batchnorm_forward", "var = (x_centered**2).mean(axis=0)", "var = x_centered.var(axis=0, ddof=1)"), "running_var"),
    "float32 widened to float64":
        (bug("spatial_batchnorm_forward", "x_rows = x.transpose(0, 2, 3, 1).reshape(-1, C)",
             "x_rows = x.transpose(0, 2, 3, 1).reshape(-1, C).astype(np.float64)"), "out has dtype float64 for float32 inputs"),
}


@pytest.mark.parametrize("overrides, words", SPATIAL_BN_FORWARD_BUGS.values(), ids=SPATIAL_BN_FORWARD_BUGS.keys())
def test_spatial_batchnorm_forward_bugs_lose_marks(overrides, words):
    result = run("spatial_batchnorm_forward", overrides)
    assert 0 <= result.score < 1 and words in result.message, result.message


def test_a_test_mode_that_normalises_with_batch_statistics_loses_marks():
    test_as_train = bug("batchnorm_forward", "x_hat = (x - running_mean) / np.sqrt(running_var + eps)",
                        "x_hat = (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + eps)")
    result = run("spatial_batchnorm_forward", test_as_train)
    assert 0 < result.score < 1 and "mode 'test'" in result.message, result.message


SPATIAL_BN_BACKWARD_BUGS = {
    "upstream gradient reshaped without moving C last":
        (bug("spatial_batchnorm_backward", "dout_rows = dout.transpose(0, 2, 3, 1).reshape(-1, C)", "dout_rows = dout.reshape(-1, C)"),
         "differs"),
    "dx not moved back to (N, C, H, W)":
        (bug("spatial_batchnorm_backward", "dx = dx_rows.reshape(N, H, W, C).transpose(0, 3, 1, 2)", "dx = dx_rows.reshape(N, C, H, W)"),
         "dx differs"),
    "dgamma averaged": (bug("batchnorm_backward", "dgamma = (dout * x_hat).sum(axis=0)", "dgamma = (dout * x_hat).mean(axis=0)"),
                        "dgamma differs"),
}


@pytest.mark.parametrize("overrides, words", SPATIAL_BN_BACKWARD_BUGS.values(), ids=SPATIAL_BN_BACKWARD_BUGS.keys())
def test_spatial_batchnorm_backward_bugs_lose_marks(overrides, words):
    result = run("spatial_batchnorm_backward", overrides)
    assert 0 < result.score < 1 and words in result.message, result.message


GN_FORWARD_BUGS = {
    "statistics over the batch too (wrong axes)":
        (bug("spatial_groupnorm_forward", "mu = x_groups.mean(axis=2, keepdims=True)", "mu = x_groups.mean(axis=(0, 2), keepdims=True)"),
         "out differs"),
    "each channel normalised on its own whatever G (wrong axes)":
        (bug("spatial_groupnorm_forward", "x_groups = x.reshape(N, G, -1)", "x_groups = x.reshape(N, C, -1)"), "out differs"),
    "unbiased variance":
        (bug("spatial_groupnorm_forward", "var = (x_centered**2).mean(axis=2, keepdims=True)",
             "var = x_centered.var(axis=2, ddof=1, keepdims=True)"), "out differs"),
    "eps of gn_param ignored":
        (bug("spatial_groupnorm_forward", "std = np.sqrt(var + eps)", "std = np.sqrt(var + 1e-5)"), "gn_param {'eps': 0.01}"),
    "float32 widened to float64":
        (bug("spatial_groupnorm_forward", "x_groups = x.reshape(N, G, -1)", "x_groups = x.reshape(N, G, -1).astype(np.float64)"),
         "out has dtype float64"),
}


@pytest.mark.parametrize("overrides, words", GN_FORWARD_BUGS.values(), ids=GN_FORWARD_BUGS.keys())
def test_spatial_groupnorm_forward_bugs_lose_marks(overrides, words):
    result = run("spatial_groupnorm_forward", overrides)
    assert result.score < 1 and words in result.message and "G=" in result.message, result.message


GN_BACKWARD_BUGS = {
    "the term through the variance left out":
        (bug("spatial_groupnorm_backward", "\n          - x_hat_groups * (dx_hat * x_hat_groups).mean(axis=2, keepdims=True)", ""), "dx differs"),
    "dgamma of shape (C,)":
        (bug("spatial_groupnorm_backward", "dgamma = (dout * x_hat).sum(axis=(0, 2, 3), keepdims=True)",
             "dgamma = (dout * x_hat).sum(axis=(0, 2, 3))"), "dgamma has shape"),
    "dbeta summed over the batch only":
        (bug("spatial_groupnorm_backward", "dbeta = dout.sum(axis=(0, 2, 3), keepdims=True)", "dbeta = dout.sum(axis=0, keepdims=True)"),
         "dbeta has shape"),
}


@pytest.mark.parametrize("overrides, words", GN_BACKWARD_BUGS.values(), ids=GN_BACKWARD_BUGS.keys())
def test_spatial_groupnorm_backward_bugs_lose_marks(overrides, words):
    result = run("spatial_groupnorm_backward", overrides)
    assert 0 < result.score < 1 and words in result.message, result.message


def test_odd_return_values_fail_with_a_message_not_a_crash():
    returns_out_only = {"conv_backward_naive": "def conv_backward_naive(dout, cache):\n    return dout\n"}
    result = run("conv_backward_naive", returns_out_only)
    assert result.score == 0 and "returned an array of shape" in result.message and "expected a tuple (dx, dw, db)" in result.message
    raises = {"max_pool_forward_naive": "def max_pool_forward_naive(x, pool_param):\n    raise NotImplementedError\n"}
    result = run("max_pool_forward_naive", raises)
    assert result.score == 0 and "raised NotImplementedError" in result.message, result.message


TORCH_CONV = """\
import torch
import torch.nn.functional as F

def conv_forward_naive(x, w, b, conv_param):
    out = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b),
                   stride=conv_param["stride"], padding=conv_param["pad"])
    return out.numpy(), (x, w, b, conv_param)
"""


def test_a_naive_convolution_built_on_torch_fails_saying_so():
    """torch's functions are compiled: the hook sees them as C calls, by their module."""
    result = run("conv_forward_naive", {"conv_forward_naive": "", "torch": TORCH_CONV})
    assert result.score == 0 and "your code called torch." in result.message, result.message
