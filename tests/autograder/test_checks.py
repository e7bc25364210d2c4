"""The checks themselves, against in-process namespaces: comparisons, numerical gradients, odd returns."""
import re

import numpy as np
import pytest

from autograder.checks import REGISTRY, CheckContext, check_rng
from autograder.checks.compare import Tally, mismatch, student_numerical_gradient
from autograder.nbgrader_bridge import in_process_student
from autograder.student import StudentError
from dl.checking import check_close, shape_mismatch
from dl.gradcheck import eval_numerical_gradient_array, rel_error_scaled
from dl.layers import affine_forward
from tests.autograder.bug_tables import edit, grade
from tests.autograder.notebooks import reference_source, unit


UNIT_OF = {"fc_net_params": "a1-fc-FullyConnectedNet", "fc_net_loss": "a1-fc-FullyConnectedNet"}


def run(check: str, source: str):
    """One check against the definitions of ``source``."""
    namespace = {}
    exec("import numpy as np\n" + source, namespace)
    context = CheckContext(unit=unit(UNIT_OF.get(check, f"a1-fc-{check}")))
    return REGISTRY[check](in_process_student(namespace), check_rng(0, "test", check), context)


def test_relative_error_is_measured_against_the_largest_expected_value():
    expected = np.array([1.0, 1e-12])
    assert rel_error_scaled(expected + [0, 1e-15], expected) == pytest.approx(1e-15)  # an almost-zero element is no trap
    assert mismatch("out", expected, expected, 1e-7) is None
    # The message gives the notebook's rel_error (|x - y| / (|x| + |y|): 0.1 / 2.1 here), never above 1.
    assert "rel_error 4.8e-02, expected below 1e-07, largest difference at index (0,)" in mismatch("out", expected * 1.1, expected, 1e-7)
    assert "has shape (3,); expected (2,)" in mismatch("out", np.zeros(3), expected, 1e-7)
    assert "nan or inf" in mismatch("out", np.array([np.nan, 0.0]), expected, 1e-7)
    assert "is a str" in mismatch("loss", "2.3", 2.3, 1e-7)


def test_numerical_gradient_from_one_batch_equals_dl_gradcheck():
    rng = np.random.default_rng(1)
    x, w, b, dout = rng.standard_normal((3, 2, 2)), rng.standard_normal((4, 5)), rng.standard_normal(5), rng.standard_normal((3, 5))
    batches = []

    def evaluate(stacked):
        batches.append(stacked.shape)
        return [affine_forward(row, w, b)[0] for row in stacked]

    ours = student_numerical_gradient(evaluate, x, dout)
    assert batches == [(2 * x.size, *x.shape)]  # every perturbed input in one request
    np.testing.assert_array_equal(ours, eval_numerical_gradient_array(lambda xx: affine_forward(xx, w, b)[0], x.copy(), dout))
    with pytest.raises(StudentError, match="has shape"):
        student_numerical_gradient(lambda stacked: [np.zeros(2)] * len(stacked), x, dout)


def test_a_student_error_fails_the_rest_of_its_case_only():
    tally = Tally()
    with tally.case(3, "first case"):
        tally.add(None)
        raise StudentError("it raised")
    with tally.case(1, "second case"):
        tally.add(None)
    result = tally.result()
    assert (tally.passed, tally.total, result.status) == (2, 4, "partial") and result.score == 0.5
    assert "first case: it raised" in result.message


@pytest.mark.parametrize("check, source, words", [
    ("affine_forward", "def affine_forward(x, w, b):\n    return x.reshape(len(x), -1) @ w + b\n",
     "returned an array of shape (2, 2); expected a tuple (out, cache)"),
    ("softmax_loss", "def softmax_loss(x, y):\n    return 0.0\n", "returned a float; expected a tuple (loss, dx)"),
    ("fc_net_params", "class FullyConnectedNet:\n    def __init__(self, *a, **k):\n        self.params = [1]\n", "model.params is a list"),
    ("fc_net_loss", "class FullyConnectedNet:\n    def __init__(self, *a, **k):\n        self.params = {}\n", "model.loss raised AttributeError"),
    ("sgd_momentum", "def sgd_momentum(w, dw, config=None):\n    return w\n", "expected a tuple (next_w, config)"),
    ("adam", "def adam(w, dw, config=None):\n    return w - 1e-3 * dw, None\n", "the returned config is a NoneType"),
])
def test_odd_return_values_fail_with_a_message_not_a_crash(check, source, words):
    result = run(check, source)
    assert result.score < 1 and words in result.message, result.message


def test_the_same_seed_gives_the_same_inputs_and_different_units_different_ones():
    source = reference_source(unit("a1-fc-affine_forward")).replace("out = x.reshape", "out = 1.01 * x.reshape")
    assert run("affine_forward", source).message == run("affine_forward", source).message
    a, b = check_rng(1, "a1-fc-rmsprop", "rmsprop").random(), check_rng(1, "a1-fc-adam", "adam").random()
    assert a != b and a == check_rng(1, "a1-fc-rmsprop", "rmsprop").random()


def test_grader_and_visible_checks_phrase_a_shape_mismatch_alike(capsys):
    """The grader's message and a notebook's visible check say the same sentence for the same mistake."""
    phrase = shape_mismatch("dx", (10, 6), (10, 2, 3), "x")
    graded = mismatch("dx", np.zeros((10, 6)), np.zeros((10, 2, 3)), 1e-7, "x of shape (10, 2, 3)", like="x")
    check_close("dx", np.zeros((10, 6)), np.zeros((10, 2, 3)), like="x")
    assert graded.startswith(phrase) and capsys.readouterr().out == phrase + "\n"


# --------------------------------------------------------------------------------------------
# FullyConnectedNets: what its bug table (tests/autograder/bug_tables/fc.py) does not show

FC_NET = "dl.models.fc_net:FullyConnectedNet"
HIDDEN_VALUE = re.compile(r"\b(reg|weight_scale|learning_rate|momentum|decay_rate|epsilon|beta[12])\s*[=:]\s*[-\d.]")


def fc_outcome(grade_id: str, *sources: str):
    return grade("FullyConnectedNets", sources, (grade_id,))[grade_id]


def test_a_backward_whose_answer_changes_when_asked_again_scores_zero():
    """The backward's calls carry the reference cache by value, so they are asked again."""
    stateful = "calls = []\ndef relu_backward(dout, cache):\n    calls.append(1)\n    return dout * (cache > 0) * (1 + (len(calls) > 3))\n"
    outcome = fc_outcome("a1-fc-relu_backward", stateful)
    assert outcome.score == 0 and "relu_backward gave a different answer when asked the same question again" in outcome.message


def test_a_model_failing_on_its_own_is_charged_even_when_a_layer_also_fails():
    """A layer that raises inside the model costs the model nothing (bug table), unless the model raises otherwise."""
    broken_relu = "def relu_forward(x):\n    return np.max(0, x), x\n"
    unfinished = edit(FC_NET, ("X = X.astype(self.dtype)", "raise NotImplementedError('loss is unfinished')"))
    assert fc_outcome("a1-fc-FullyConnectedNet", broken_relu).score == 1.0
    outcome = fc_outcome("a1-fc-FullyConnectedNet", broken_relu, unfinished)
    assert outcome.score < 1 and "model.loss raised NotImplementedError: loss is unfinished" in outcome.message
    # An unwritten layer and an unwritten loss raise alike; the model is charged all the same.
    unwritten_relu = "def relu_forward(x):\n    raise NotImplementedError\n"
    unwritten_loss = edit(FC_NET, ("X = X.astype(self.dtype)", "raise NotImplementedError"))
    assert "fc_net_loss: passed 0 of" in fc_outcome("a1-fc-FullyConnectedNet", unwritten_relu, unwritten_loss).message


def test_parameters_not_cast_to_the_models_dtype_are_reported():
    uncast = edit(FC_NET, ("self.params[name] = value.astype(dtype)", "self.params[name] = value"))
    outcome = fc_outcome("a1-fc-FullyConnectedNet", uncast)
    assert outcome.score < 1 and "are not of the model's dtype float32" in outcome.message


@pytest.mark.parametrize("grade_id, sources", [
    ("a1-fc-FullyConnectedNet", (edit(FC_NET, ("loss += 0.5 * self.reg * sum", "loss += self.reg * sum")),)),
    ("a1-fc-FullyConnectedNet", (edit(FC_NET, ("weight_scale * np.random.randn", "np.sqrt(weight_scale) * np.random.randn")),)),
    ("a1-fc-sgd_momentum", (edit("dl.optim:sgd_momentum", ('config["momentum"] * config["velocity"]', "0.5 * config['velocity']")),)),
    ("a1-fc-rmsprop", (edit("dl.optim:rmsprop", ('config["learning_rate"] * dw', '2 * config["learning_rate"] * dw')),)),
    ("a1-fc-adam", (edit("dl.optim:adam", ("m_hat = m / (1 - beta1**t)\n", "m_hat = m\n")),)),
])
def test_messages_never_show_a_hidden_scalar_input(grade_id, sources):
    """reg, weight_scale, learning rates and the other hyperparameters the grader chose stay hidden."""
    outcome = fc_outcome(grade_id, *sources)
    assert outcome.score < 1 and not HIDDEN_VALUE.search(outcome.message), outcome.message
