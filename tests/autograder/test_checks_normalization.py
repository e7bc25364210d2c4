"""Hidden checks of BatchNormalization: the reference earns full marks; bugs lose points on their own unit, with a message saying why.

The realistic bugs of each unit and the correct variants are in ``bug_tables/bn.py`` (graded by
``test_bug_tables.py``). This file holds what the table does not: the bugs that cost less than a
quarter of a unit by design (a dtype, the mode's ValueError), the weights the issue fixes (train
and test mode weigh the same; test-mode bugs cost at least half of their part), one bug one
charge where it needs a closer look, and the messages.

``run`` grades one check in-process against a namespace built like a student's kernel: the
reference sources of every layer, sandwich layer and the model (solution markers removed), then
the source under test, which replaces the definition it redefines.
"""
import ast
import inspect
import re
from pathlib import Path

import numpy as np
import pytest

from autograder.checks import REGISTRY, CheckContext, check_rng
from autograder.checks.backward import cache_mismatch, check_backward
from autograder.checks.compare import Tally, describe_param
from autograder.checks.models import ReferenceModels
from autograder.checks.normalization import BN_FORWARD_PARTS, CACHE
from autograder.manifest import find_unit
from autograder.nbgrader_bridge import in_process_student
from autograder.student import StudentError
from dl import layer_utils, layers
from dl.models import fc_net
from tests.autograder.bug_tables import edit, grade
from tests.autograder.notebooks import MARKER_LINE, replace_once

NOTEBOOK = "BatchNormalization"
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
FORWARD = "dl.layers:batchnorm_forward"
HIDDEN_SCALARS = re.compile(r"'(eps|momentum|p|seed)': |\b(eps|momentum|p|reg|seed|dropout_keep_ratio) ?= ?[-\d.]")


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


def release_source(name: str) -> str:
    """The student's starting point: ``name`` as the release's dl/layers.py has it (solutions replaced by NotImplementedError)."""
    text = (Path(__file__).resolve().parents[2] / "release" / "a1" / "dl" / "layers.py").read_text(encoding="utf-8")
    node = next(n for n in ast.parse(text).body if isinstance(n, ast.FunctionDef) and n.name == name)
    return ast.get_source_segment(text, node)


def charged(sources: tuple[str, ...]) -> dict[str, float]:
    """Grade id -> score of every unit of BatchNormalization that loses points with ``sources``."""
    return {grade_id: outcome.score for grade_id, outcome in grade(NOTEBOOK, sources).items() if outcome.score < 1}


def share(check: str, part: str) -> float:
    """The share of ``check``'s score that ``part`` weighs."""
    return REGISTRY.parts[check][part].weight / REGISTRY.weight(check)


@pytest.mark.parametrize("check", list(UNIT_OF))
def test_the_reference_earns_full_marks(check):
    result = run(check)
    assert result.score == 1.0 and result.status == "passed", result.message
    assert "hidden sub-checks" in result.message


# --------------------------------------------------------------------------------------------
# Weights


def test_train_and_test_mode_of_batchnorm_weigh_the_same():
    assert BN_FORWARD_PARTS["train"].weight == BN_FORWARD_PARTS["test"].weight


def test_batch_statistics_in_test_mode_lose_at_least_half_of_the_test_mode_weight():
    buggy = edit(FORWARD, ("x_hat = (x - running_mean) / np.sqrt(running_var + eps)",
                           "x_hat = (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + eps)"))
    lost = charged((buggy,))
    assert set(lost) == {"a1-bn-batchnorm_forward"}
    assert lost["a1-bn-batchnorm_forward"] <= 1 - share("batchnorm_forward", "test") / 2


def test_a_net_using_batch_statistics_at_test_time_loses_at_least_half_of_fc_normalization():
    lost = charged((edit("dl.models.fc_net:FullyConnectedNet", ('bn_param["mode"] = mode', "pass")),))
    assert set(lost) == {"a1-bn-fc_normalization"} and lost["a1-bn-fc_normalization"] <= 0.5


@pytest.mark.parametrize("name", ["batchnorm_forward", "batchnorm_backward", "batchnorm_backward_alt", "layernorm_forward",
                                  "layernorm_backward"])
def test_the_releases_unfinished_function_earns_nothing_from_its_provided_code(name):
    """batchnorm_forward's skeleton raises the documented ValueError itself: that part earns only beside the student's own work."""
    stub = release_source(name)
    assert "NotImplementedError" in stub
    result = run(name, stub)
    assert result.score == 0, result.message


# --------------------------------------------------------------------------------------------
# Bugs that cost their unit less than a quarter by design, each on its own unit only


def test_running_statistics_created_as_float64_cost_batchnorm_forward_only():
    """The float32 check lets the function create the running statistics, then runs test mode on them."""
    buggy = edit(FORWARD, ('running_mean = bn_param.get("running_mean", np.zeros(D, dtype=x.dtype))',
                           'running_mean = bn_param.get("running_mean", np.zeros(D))'),
                 ('running_var = bn_param.get("running_var", np.zeros(D, dtype=x.dtype))',
                  'running_var = bn_param.get("running_var", np.zeros(D))'))
    assert set(charged((buggy,))) == {"a1-bn-batchnorm_forward"}
    message = run("batchnorm_forward", buggy).message
    assert "bn_param's running_mean has dtype float64 and running_var has dtype float64" in message
    assert "create missing running statistics as zeros of x's dtype" in message
    assert "out has dtype float64 for float32 inputs" in message and "test mode with the running statistics your function created" in message


def test_a_mode_that_is_neither_train_nor_test_must_raise_value_error():
    buggy = edit(FORWARD, ('elif mode == "test":', "else:"),
                 ('''    else:
        raise ValueError(f"bn_param['mode'] must be 'train' or 'test', got {mode!r}")
''', ""))
    assert set(charged((buggy,))) == {"a1-bn-batchnorm_forward"}
    message = run("batchnorm_forward", buggy).message
    assert "batchnorm_forward returned without raising on" in message and "bn_param in eval mode" in message
    assert "expected ValueError" in message


def test_test_mode_that_updates_the_running_statistics_loses_points():
    buggy = edit(FORWARD, ('    bn_param["running_mean"] = running_mean\n',
                           '    if mode == "test":\n        running_mean = running_mean + 0.0 * x.sum()\n'
                           '        running_var = running_var * 1.5\n    bn_param["running_mean"] = running_mean\n'))
    result = run("batchnorm_forward", buggy)
    assert result.score < 1 and "test mode changed bn_param's running_var" in result.message


# --------------------------------------------------------------------------------------------
# The cache contract, on the forward unit; the backward units graded on the reference's cache


def test_a_cache_in_another_order_costs_the_forward_its_cache_part():
    buggy = edit(FORWARD, ("cache = (x_centered, std, x_hat, gamma)", "cache = (x_hat, std, x_centered, gamma)"))
    result = run("batchnorm_forward", buggy)
    assert result.score == pytest.approx(1 - share("batchnorm_forward", "cache"))
    assert "cache[0] (x_centered) differs from the expected value" in result.message
    assert "the cache must be (x_centered, std, x_hat, gamma), in this order" in result.message


def test_a_forward_without_a_cache_costs_its_unit_but_not_the_model_whose_backward_it_breaks():
    """The reference model on the student's layers raises as the student's model does: the layer pays."""
    buggy = edit(FORWARD, ("cache = (x_centered, std, x_hat, gamma)", "cache = None"))
    assert set(charged((buggy,))) == {"a1-bn-batchnorm_forward"}
    assert "the cache of batchnorm_forward is a NoneType" in run("batchnorm_forward", buggy).message


def test_a_model_is_excused_only_for_the_failure_of_the_reference_model_on_the_students_layers():
    models = ReferenceModels(None, None)
    error = StudentError("model.loss raised TypeError: cannot unpack non-iterable NoneType object")
    assert not models.excuses(error)  # the twin has not failed
    models.twin_failure = "TypeError: cannot unpack non-iterable NoneType object"
    assert models.excuses(error)
    located = StudentError("model.loss raised TypeError: cannot unpack non-iterable NoneType object (line 9 of provided cell 30)")
    assert models.excuses(located)  # the worker's note of where it was raised is not part of the failure
    assert not models.excuses(StudentError("model.loss raised TypeError: unsupported operand"))
    models.twin_failure = "NotImplementedError"
    assert not models.excuses(StudentError("model.loss raised NotImplementedError"))  # an unwritten model raises it too
    models.twin_failure = "NameError: name 'relu_backward' is not defined"  # a deleted layer: charged to its own unit
    assert models.excuses(StudentError("model.loss raised NameError: name 'relu_backward' is not defined"))


def test_a_wrong_forward_costs_neither_backward():
    """The backward units use the reference forward's cache, never the student's forward."""
    forward = edit(FORWARD, ("out = gamma * x_hat + beta\n        cache", "out = 2 * gamma * x_hat + beta\n        cache"))
    assert set(charged((forward,))) == {"a1-bn-batchnorm_forward"}


@pytest.mark.parametrize("graph_version", ["missing", "unfinished", "wrong"])
def test_backward_alt_is_graded_on_its_own(graph_version):
    sources = {"missing": (), "unfinished": ("def batchnorm_backward(dout, cache):\n    raise NotImplementedError\n",),
               "wrong": (bug("batchnorm_backward", "return dx, dgamma, dbeta", "return 2 * dx, dgamma, dbeta"),)}[graph_version]
    result = run("batchnorm_backward_alt", *sources, without=("batchnorm_backward",) if graph_version == "missing" else ())
    assert result.score == 1.0 and result.message == run("batchnorm_backward_alt").message


def test_the_cache_contract_compares_every_item_by_position_shape_and_value():
    rng = np.random.default_rng(3)
    x, gamma, beta = rng.standard_normal((5, 3)), rng.standard_normal(3), rng.standard_normal(3)
    expected = layers.batchnorm_forward(x, gamma, beta, {"mode": "train"})[1]
    assert cache_mismatch("batchnorm_forward", expected, expected, CACHE, "x", 1e-7) is None
    assert "is a tuple of 3 items on x; its docstring specifies the tuple (x_centered, std, x_hat, gamma)" in cache_mismatch(
        "batchnorm_forward", expected[:3], expected, CACHE, "x", 1e-7)
    keepdims = (expected[0], expected[1][None, :], *expected[2:])
    assert "cache[1] (std) has shape (1, 3)" in cache_mismatch("batchnorm_forward", keepdims, expected, CACHE, "x", 1e-7)
    single = (expected[0], expected[1].astype(np.float32), *expected[2:])
    assert "cache[1] (std) has dtype float32" in cache_mismatch("batchnorm_forward", single, expected, CACHE, "x", 1e-7)


def test_a_backward_case_charges_each_gradient_to_its_own_part_even_when_it_raises():
    namespace: dict = {}
    exec("def batchnorm_backward(dout, cache):\n    raise NotImplementedError\n", namespace)
    parts = REGISTRY.parts["batchnorm_backward"]
    tally = Tally(parts)
    rng = np.random.default_rng(0)
    x, gamma, beta, dout = rng.standard_normal((4, 3)), rng.standard_normal(3), rng.standard_normal(3), rng.standard_normal((4, 3))
    check_backward(tally, in_process_student(namespace), "batchnorm_forward", "batchnorm_backward", (x, gamma, beta, {"mode": "train"}),
                   dout, ("dx", "dgamma", "dbeta"), "x", reference=layers, tol=1e-7, parts={"dx": "dx", "dgamma": "dgamma", "dbeta": "dbeta"})
    assert tally.recorded == {"dx": 1, "dgamma": 1, "dbeta": 1} and tally.passed == 0
    assert len(tally.failures) == 1


# --------------------------------------------------------------------------------------------
# Messages: rel_error, shapes and modes, the likely bug named; never a hidden scalar


MESSAGE_BUGS = {
    "float64 computation": ("batchnorm_forward", bug("batchnorm_forward", "N, D = x.shape\n", "N, D = x.shape\n    x = x.astype(np.float64)\n"),
                            ["out has dtype float64 for float32 inputs", "expected float32"]),
    "out without the cache": ("batchnorm_forward", bug("batchnorm_forward", "return out, cache", "return out"),
                              ["batchnorm_forward returned a ndarray; expected a tuple"]),
    "unfinished": ("batchnorm_forward", "def batchnorm_forward(x, gamma, beta, bn_param):\n    raise NotImplementedError\n",
                   ["batchnorm_forward raised NotImplementedError"]),
    "dgamma summed over the features": ("layernorm_backward", bug("layernorm_backward", "dgamma = (dout * x_hat).sum(axis=0)",
                                                                  "dgamma = (dout * x_hat).sum(axis=1)"),
                                        ["dgamma has shape", "the shape of gamma"]),
    "gamma and beta after the last layer too": (
        "fc_net_normalization", bug("FullyConnectedNet", "for i, dim in enumerate(hidden_dims, start=1):",
                                    "for i, dim in enumerate([*hidden_dims, num_classes], start=1):"),
        ["has unexpected ['beta", "no normalization after the last affine layer"]),
    "gammas start at zero": ("fc_net_normalization", bug("FullyConnectedNet", 'self.params[f"gamma{i}"] = np.ones(dim)',
                                                         'self.params[f"gamma{i}"] = np.zeros(dim)'),
                             ["every gamma all ones"]),
}


@pytest.mark.parametrize("name", list(MESSAGE_BUGS))
def test_bugs_below_a_quarter_or_with_a_message_to_keep(name):
    check, buggy, words = MESSAGE_BUGS[name]
    result = run(check, buggy)
    assert result.score < 1, name
    for w in words:
        assert w in result.message, result.message


def test_messages_use_the_notebooks_rel_error_and_never_show_eps_momentum_or_reg():
    messages = [run(check, buggy).message for check, buggy, _ in MESSAGE_BUGS.values()]
    messages += [run("batchnorm_forward", edit(FORWARD, ("var = (x_centered**2).mean(axis=0)", "var = x.var(axis=0, ddof=1)"))).message,
                 run("batchnorm_forward", edit(FORWARD, ('eps = bn_param.get("eps", 1e-5)', "eps = 1e-5"))).message,
                 run("fc_net_normalization", bug("FullyConnectedNet", 'bn_param["mode"] = mode', "pass")).message]
    assert any("rel_error" in m for m in messages)
    for message in messages:
        assert not HIDDEN_SCALARS.search(message), message


def test_a_param_dict_is_described_by_its_mode_keys_and_shapes_only():
    param = {"mode": "train", "momentum": 0.37, "eps": 0.123, "running_mean": np.zeros(4), "running_var": np.ones(4)}
    text = describe_param("bn_param", param)
    assert text == "bn_param in train mode with running_mean (4,), running_var (4,), its own momentum and eps"
    assert describe_param("ln_param", {}) == "ln_param {}"
