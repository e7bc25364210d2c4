"""Hidden checks of Dropout: the reference earns full marks; realistic bugs lose points, with a message saying why.

The namespace is built as in ``test_checks_normalization``: every reference layer, sandwich layer
and the model, then the source under test.
"""
import numpy as np
import pytest

from autograder.checks import REGISTRY, CheckContext, check_rng
from autograder.checks.dropout import reference_dropout
from autograder.manifest import find_unit
from autograder.nbgrader_bridge import in_process_student
from tests.autograder.test_checks_normalization import LAYERS, SANDWICHES, bug, source

UNIT_OF = {"dropout_forward": "a1-dropout-dropout_forward", "dropout_backward": "a1-dropout-dropout_backward",
           "fc_net_dropout": "a1-dropout-fc_dropout"}


def run(check: str, *sources: str):
    namespace: dict = {}
    exec("import numpy as np\n" + "\n\n".join([source(name) for name in (*LAYERS, *SANDWICHES, "FullyConnectedNet")] + list(sources)), namespace)
    grade_id = UNIT_OF[check]
    return REGISTRY[check](in_process_student(namespace), check_rng(0, grade_id, check), CheckContext(unit=find_unit(grade_id)))


@pytest.mark.parametrize("check", list(UNIT_OF))
def test_the_reference_earns_full_marks(check):
    result = run(check)
    assert result.score == 1.0 and result.status == "passed", result.message


def test_the_seeded_reference_leaves_the_graders_global_rng_alone():
    np.random.seed(5)
    expected = np.random.rand()
    np.random.seed(5)
    reference_dropout(np.ones((3, 4)), {"mode": "train", "p": 0.5, "seed": 1})
    assert np.random.rand() == expected


FORWARD_BUGS = {
    "p taken as the drop probability": (
        bug("dropout_forward", "mask = ((np.random.rand(*x.shape) < p) / p)", "mask = ((np.random.rand(*x.shape) >= p) / (1 - p))"),
        ["expected about 1 - p", "p is the probability of keeping a unit, not of dropping it"]),
    "kept units not divided by p": (
        bug("dropout_forward", "mask = ((np.random.rand(*x.shape) < p) / p)", "mask = ((np.random.rand(*x.shape) < p) / 1)"),
        ["the mean of out is", "divide the kept units by p"]),
    "test mode scales by p": (
        bug("dropout_forward", "        out = x\n", "        out = x * p\n"),
        ["out in test mode differs", "test mode returns x unchanged"]),
    "a float64 mask": (
        bug("dropout_forward", ".astype(x.dtype, copy=False)", ""),
        ["out has dtype float64", "expected float32"]),
    "always reseeding": (
        bug("dropout_forward", 'if "seed" in dropout_param:\n        np.random.seed(dropout_param["seed"])',
            'np.random.seed(dropout_param.get("seed", 0))'),
        ["two calls without a 'seed' key gave the same output"]),
    "seed ignored": (
        bug("dropout_forward", 'np.random.seed(dropout_param["seed"])', "pass"),
        ["with a seed the mask must be the reference's"]),
    "out without the cache": (
        bug("dropout_forward", "return out, cache", "return out"),
        ["dropout_forward returned a ndarray; expected a tuple"]),
}


@pytest.mark.parametrize("name", list(FORWARD_BUGS))
def test_dropout_forward_bugs_lose_points_with_a_message(name):
    buggy, words = FORWARD_BUGS[name]
    result = run("dropout_forward", buggy)
    assert result.score < 1, name
    for w in words:
        assert w in result.message, result.message


BACKWARD_BUGS = {
    "the mask used in test mode": (
        bug("dropout_backward", "        dx = dout\n", "        dx = dout * mask\n"),
        ["dropout_backward raised TypeError", "'mode': 'test'"]),
    "the 1/p scaling forgotten": (
        bug("dropout_backward", "dx = dout * mask", "dx = dout * (mask > 0)"),
        ["dx differs from the expected value", "against the numerical gradient of your dropout_forward"]),
    "a new mask drawn in the backward pass": (
        bug("dropout_backward", "dx = dout * mask",
            'np.random.seed(dropout_param.get("seed"))\n        dx = dout * (np.random.rand(*dout.shape) < dropout_param["p"]) / dropout_param["p"]'),
        ["against dout times the mask your dropout_forward applied"]),
}


@pytest.mark.parametrize("name", list(BACKWARD_BUGS))
def test_dropout_backward_bugs_lose_points_with_a_message(name):
    buggy, words = BACKWARD_BUGS[name]
    result = run("dropout_backward", buggy)
    assert result.score < 1, name
    for w in words:
        assert w in result.message, result.message


FC_BUGS = {
    "dropout left on for the scores": (
        bug("FullyConnectedNet", 'self.dropout_param["mode"] = mode', "pass"),
        ["loss(X) (test-mode scores) differs", "test mode has no dropout"]),
    "no dropout in the backward pass": (
        bug("FullyConnectedNet", 'dh = dropout_backward(dh, caches[f"dropout{i}"])', "pass"),
        ["grads['W1'] differs from the expected value", "dropout_keep_ratio="]),
    "the keep ratio used as the drop ratio": (
        bug("FullyConnectedNet", '"p": dropout_keep_ratio}', '"p": 1 - dropout_keep_ratio}'),
        ["the loss of loss(X, y) differs", "seed="]),
}


@pytest.mark.parametrize("name", list(FC_BUGS))
def test_fc_net_dropout_bugs_lose_points_with_a_message(name):
    buggy, words = FC_BUGS[name]
    result = run("fc_net_dropout", buggy)
    assert result.score < 1, name
    for w in words:
        assert w in result.message, result.message
