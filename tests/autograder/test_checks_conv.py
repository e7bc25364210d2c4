"""Hidden checks of ConvolutionalNetworks' layers, against in-process namespaces.

The bug table (``tests/autograder/bug_tables/cnn.py``, asserted by ``test_bug_tables.py``) holds
the realistic bugs of every unit and the correct variants. Here: the reference at full marks on
several seeds, the weights the issue asks for, messages that add to the table (dtype, a wrong
error type, hidden scalars never shown), the tie properties of max pooling on their own, and the
charges that must not land here (a bug of a layer from another notebook).
"""
import re

import numpy as np
import pytest

from autograder.checks import REGISTRY, CheckContext, check_rng
from autograder.checks.conv import SPATIAL_BATCHNORM_FORWARD_PARTS, _tie_problem, _tied_input
from autograder.manifest import find_unit
from autograder.nbgrader_bridge import in_process_student
from dl import layers
from tests.autograder.bug_tables import edit, grade, program

NOTEBOOK = "ConvolutionalNetworks"
CHECKS = ["conv_forward_naive", "conv_backward_naive", "max_pool_forward_naive", "max_pool_backward_naive",
          "spatial_batchnorm_forward", "spatial_batchnorm_backward", "spatial_groupnorm_forward", "spatial_groupnorm_backward"]


def run(check: str, *sources: str, seed: int = 0):
    """Check ``check`` of unit ``a1-cnn-<check>`` on the notebook's reference program with ``sources`` run after it."""
    namespace: dict = {}
    exec("\n\n".join([program(NOTEBOOK), *sources]), namespace)
    grade_id = f"a1-cnn-{check}"
    return REGISTRY[check](in_process_student(namespace), check_rng(seed, grade_id, check), CheckContext(unit=find_unit(grade_id)))


@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize("seed", [0, 1])
def test_the_reference_earns_full_marks(check, seed):
    result = run(check, seed=seed)
    assert result.score == 1.0 and result.status == "passed", result.message
    assert "passed" in result.message and "hidden sub-checks" in result.message


def test_train_and_test_mode_of_spatial_batchnorm_weigh_the_same():
    assert SPATIAL_BATCHNORM_FORWARD_PARTS["train"].weight == SPATIAL_BATCHNORM_FORWARD_PARTS["test"].weight


def test_a_wrong_forward_costs_the_backward_nothing():
    """conv_backward_naive is graded on the reference forward's cache (it used to be compared with numerical
    gradients of the student's own forward, charging a forward bug twice)."""
    flipped = edit("dl.layers:conv_forward_naive", ("np.sum(window * w[f])", "np.sum(window * w[f, :, ::-1, ::-1])"))
    outcomes = grade(NOTEBOOK, (flipped,), ("a1-cnn-conv_forward_naive", "a1-cnn-conv_backward_naive"))
    assert outcomes["a1-cnn-conv_forward_naive"].score < 0.75
    assert outcomes["a1-cnn-conv_backward_naive"].score == 1.0, outcomes["a1-cnn-conv_backward_naive"].message


@pytest.mark.parametrize("layer, old, new", [
    ("batchnorm_forward", "var = (x_centered**2).mean(axis=0)", "var = x_centered.var(axis=0, ddof=1)"),
    ("batchnorm_forward", "x_hat = (x - running_mean) / np.sqrt(running_var + eps)", "x_hat = (x - x.mean(axis=0)) / x.std(axis=0)"),
    ("batchnorm_backward", "dgamma = (dout * x_hat).sum(axis=0)", "dgamma = (dout * x_hat).mean(axis=0)"),
    ("affine_backward", "db = dout.sum(axis=0)", "db = dout.mean(axis=0)"),
    ("relu_forward", "out = np.maximum(0, x)", "out = np.maximum(0.01 * x, x)"),
])
def test_a_bug_in_a_layer_of_an_earlier_notebook_costs_nothing_here(layer, old, new):
    """Spatial batchnorm calls the student's batchnorm, the ConvNet their affine and ReLU layers: those bugs
    cost their own units (in BatchNormalization and FullyConnectedNets) only."""
    outcomes = grade(NOTEBOOK, (edit(f"dl.layers:{layer}", (old, new)),))
    lost = {grade_id: (round(o.score, 3), o.message) for grade_id, o in outcomes.items() if o.score < 1}
    assert not lost


# --------------------------------------------------------------------------------------------
# Messages the table does not hold: bugs that cost less than a quarter, the wrong error type,
# hidden scalars never shown


@pytest.mark.parametrize("check, layer, old, new, words", [
    ("conv_forward_naive", "conv_forward_naive", "out = np.zeros((N, F, H_out, W_out), dtype=np.result_type(x, w, b))",
     "out = np.zeros((N, F, H_out, W_out))", "out has dtype float64 for float32 inputs"),
    ("max_pool_forward_naive", "max_pool_forward_naive", "out = np.zeros((N, C, H_out, W_out), dtype=x.dtype)",
     "out = np.zeros((N, C, H_out, W_out))", "out has dtype float64 for float32 inputs"),
    ("conv_backward_naive", "conv_backward_naive", "dx = dxpad[:, :, pad:pad + x.shape[2], pad:pad + x.shape[3]]",
     "dx = dxpad[:, :, pad:-pad, pad:-pad]", "dx has shape"),
    ("spatial_groupnorm_forward", "spatial_groupnorm_forward", "std = np.sqrt(var + eps)", "std = np.sqrt(var + 1e-5)",
     "gn_param with its own eps"),
])
def test_smaller_bugs_still_lose_points_and_say_why(check, layer, old, new, words):
    result = run(check, edit(f"dl.layers:{layer}", (old, new)))
    assert 0 < result.score < 1 and words in result.message, result.message


def test_an_assert_instead_of_the_promised_value_error_loses_the_sizes_part():
    asserting = edit("dl.layers:max_pool_forward_naive", (
        'raise ValueError(f"pooling windows {ph}x{pw} with stride {stride} do not tile an input of {H}x{W}")',
        'assert False, "windows do not fit"'))
    result = run("max_pool_forward_naive", asserting)
    assert result.score == 0.75, result.message
    assert "max_pool_forward_naive raised AssertionError" in result.message and "the docstring promises a ValueError" in result.message


@pytest.mark.parametrize("check, eps_ignored", [
    ("spatial_batchnorm_forward", edit("dl.layers:batchnorm_forward", ('eps = bn_param.get("eps", 1e-5)', "eps = 1e-5"))
     .replace("def batchnorm_forward", "def batchnorm_with_its_own_eps")
     + "\n" + edit("dl.layers:spatial_batchnorm_forward", ("batchnorm_forward(x_rows", "batchnorm_with_its_own_eps(x_rows"))),
    ("spatial_groupnorm_forward", edit("dl.layers:spatial_groupnorm_forward", ('eps = gn_param.get("eps", 1e-5)', "eps = 1e-5"))),
])
def test_messages_name_hidden_scalars_without_their_values(check, eps_ignored):
    """The cases that give eps (and momentum) fail: they are described by which keys are given, not their values."""
    result = run(check, eps_ignored)
    assert result.score < 1 and "with its own" in result.message, result.message
    assert not re.search(r"(momentum|eps)\W{0,4}[0-9]", result.message), result.message


def test_the_running_statistics_created_in_float64_for_float32_inputs_cost_train_mode():
    created_float64 = edit("dl.layers:spatial_batchnorm_forward", (
        "out_rows, cache = batchnorm_forward(x_rows, gamma, beta, bn_param)",
        "bn_param.setdefault('running_mean', np.zeros(C))\n    bn_param.setdefault('running_var', np.zeros(C))\n"
        "    out_rows, cache = batchnorm_forward(x_rows, gamma, beta, bn_param)"))
    result = run("spatial_batchnorm_forward", created_float64)
    assert result.score == pytest.approx(1 - 1.5 / 4), result.message
    assert "bn_param['running_mean'] has dtype float64 after a train-mode call" in result.message


def test_a_layer_that_changes_its_answer_when_asked_again_scores_zero():
    stateful = "calls = []\n" + edit("dl.layers:max_pool_forward_naive", (
        "cache = (x, pool_param)", "cache = (x, pool_param)\n    calls.append(1)\n    out += len(calls) > 5"))  # right on the check's 5 calls
    outcome = grade(NOTEBOOK, (stateful,), ("a1-cnn-max_pool_forward_naive",))["a1-cnn-max_pool_forward_naive"]
    assert outcome.score == 0 and "gave a different answer when asked the same question again" in outcome.message


# --------------------------------------------------------------------------------------------
# Max pooling with ties: what any tie rule satisfies


def tie_case(seed: int, ph: int, pw: int, stride: int):
    rng = np.random.default_rng(seed)
    x = _tied_input(rng, (2, 2, ph + 3 * stride, pw + 4 * stride))  # 4 x 5 windows
    pool_param = {"pool_height": ph, "pool_width": pw, "stride": stride}
    dout = rng.uniform(0.5, 1.5, size=layers.max_pool_forward_naive(x, pool_param)[0].shape)
    return x, pool_param, dout


def route(x, pool_param, dout, rule: str) -> np.ndarray:
    """dx of a tie rule: ``first``, ``last`` or ``split`` (equal shares), or the bug ``every`` (dout to each maximum)."""
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    dx = np.zeros_like(x)
    for index in np.ndindex(dout.shape):
        n, c, i, j = index
        window = x[n, c, i * s:i * s + ph, j * s:j * s + pw]
        maxima = np.argwhere(window == window.max())
        chosen = {"first": maxima[:1], "last": maxima[-1:], "split": maxima, "every": maxima}[rule]
        share = dout[index] / len(maxima) if rule == "split" else dout[index]
        for k, l in chosen:
            dx[n, c, i * s + k, j * s + l] += share
    return dx


@pytest.mark.parametrize("ph, pw, stride", [(2, 2, 2), (3, 2, 1), (2, 3, 1), (2, 1, 3)])
def test_every_tie_rule_passes_and_sending_dout_to_every_maximum_does_not(ph, pw, stride):
    x, pool_param, dout = tie_case(ph * 10 + pw + stride, ph, pw, stride)
    windows = np.lib.stride_tricks.sliding_window_view(x, (ph, pw), axis=(2, 3))[:, :, ::stride, ::stride]
    ties = (windows == windows.max(axis=(4, 5), keepdims=True)).sum(axis=(4, 5)) > 1
    assert ties.mean() > 0.3  # the inputs do have ties, in many windows
    for rule in ("first", "last", "split"):
        assert _tie_problem(route(x, pool_param, dout, rule), x, dout, pool_param, "x") is None, rule
    problem = _tie_problem(route(x, pool_param, dout, "every"), x, dout, pool_param, "x")
    assert "do you send dout to every element equal to the maximum?" in problem


def test_gradient_outside_the_maxima_or_a_window_short_of_its_dout_fails():
    x, pool_param, dout = tie_case(3, 3, 2, 1)
    dx = route(x, pool_param, dout, "first")
    stray = dx.copy()
    stray[next(index for index in np.ndindex(x.shape) if not is_a_maximum(x, pool_param, index))] = 0.5
    assert "is not the maximum of any window containing it" in _tie_problem(stray, x, dout, pool_param, "x")
    assert "receive 0.5 times" in _tie_problem(dx * 0.5, x, dout, pool_param, "x")


def is_a_maximum(x, pool_param, index) -> bool:
    """Whether ``x[index]`` is the maximum of some pooling window containing it."""
    n, c, h, w = index
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    out_h, out_w = 1 + (x.shape[2] - ph) // s, 1 + (x.shape[3] - pw) // s
    return any(x[n, c, h, w] == x[n, c, i * s:i * s + ph, j * s:j * s + pw].max()
               for i in range(out_h) for j in range(out_w) if i * s <= h < i * s + ph and j * s <= w < j * s + pw)


# --------------------------------------------------------------------------------------------
# Naive layers that hand their work to a fast implementation

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
TORCH_CONV = """\
import torch
import torch.nn.functional as F

def conv_forward_naive(x, w, b, conv_param):
    out = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b),
                   stride=conv_param["stride"], padding=conv_param["pad"])
    return out.numpy(), (x, w, b, conv_param)
"""


@pytest.mark.parametrize("check", ["conv_forward_naive", "conv_backward_naive", "max_pool_forward_naive", "max_pool_backward_naive"])
def test_naive_layers_that_call_the_fast_ones_fail_saying_so(check):
    result = run(check, FAST_CONV)
    assert result.score == 0, result.message
    assert "your code called dl.fast_layers." in result.message and "which this function may not use" in result.message


@pytest.mark.parametrize("source, module", [(SCIPY_CONV, "scipy.signal"), (TORCH_CONV, "torch.")])
def test_a_naive_convolution_built_on_scipy_or_torch_fails_saying_so(source, module):
    """Both layers are right: without the ban they would pass. torch's functions are compiled: the hook sees
    them as C calls, by their module."""
    result = run("conv_forward_naive", source)
    assert result.score == 0 and f"your code called {module}" in result.message, result.message


def test_odd_return_values_fail_with_a_message_not_a_crash():
    result = run("conv_backward_naive", "def conv_backward_naive(dout, cache):\n    return dout\n")
    assert result.score == 0 and "returned an array of shape" in result.message and "expected a tuple (dx, dw, db)" in result.message
    result = run("max_pool_forward_naive", "def max_pool_forward_naive(x, pool_param):\n    raise NotImplementedError\n")
    assert result.score == 0 and "raised NotImplementedError" in result.message, result.message
    result = run("max_pool_forward_naive", "def max_pool_forward_naive(x, pool_param):\n    return x[:, :, ::2, ::2]\n")
    assert result.score == 0 and "expected a tuple (out, cache)" in result.message, result.message
