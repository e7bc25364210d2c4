"""The shared backward sub-check: which sub-checks it records, what it says, and what it leaves alone."""
import numpy as np
import pytest

from autograder.checks.backward import check_backward, reference_gradients
from autograder.checks.compare import Tally
from autograder.nbgrader_bridge import in_process_student
from dl import layers
from tests.autograder.test_checks_normalization import bug, source


def student_with(*sources: str):
    """A student whose functions are the reference sources of the dropout, affine and batchnorm layers, then ``sources``."""
    names = ("affine_forward", "affine_backward", "dropout_forward", "dropout_backward", "batchnorm_forward", "batchnorm_backward")
    namespace: dict = {}
    exec("import numpy as np\n" + "\n\n".join([*(source(name) for name in names), *sources]), namespace)
    return in_process_student(namespace)


def affine_case(rng, x_dtype=np.float64):
    x, w, b = rng.standard_normal((3, 2, 2)).astype(x_dtype), rng.standard_normal((4, 5)), rng.standard_normal(5)
    return (x, w, b), rng.standard_normal((3, 5))


def test_a_correct_layer_passes_every_sub_check():
    tally = Tally()
    args, dout = affine_case(np.random.default_rng(0))
    got, expected = check_backward(tally, student_with(), "affine_forward", "affine_backward", args, dout, ("dx", "dw", "db"),
                                   "x (3, 2, 2)", reference=layers, tol=1e-7)
    assert (tally.passed, tally.total) == (3, 3)
    for value, ref in zip(got, expected):
        np.testing.assert_allclose(value, ref, rtol=1e-12)


def test_float32_inputs_add_a_dtype_sub_check():
    tally = Tally()
    args, dout = affine_case(np.random.default_rng(1), np.float32)
    promoted = bug("affine_backward", "return dx, dw, db", "return dx.astype(np.float64), dw, db")
    check_backward(tally, student_with(promoted), "affine_forward", "affine_backward", args, dout.astype(np.float32),
                   ("dx", "dw", "db"), "float32 x (3, 2, 2)", reference=layers, tol=1e-4)
    assert (tally.passed, tally.total) == (3, 4)
    assert tally.failures == ["dx has dtype float64 for float32 inputs (float32 x (3, 2, 2)); keep the dtype of x"]


def test_a_wrong_gradient_fails_against_the_reference():
    tally = Tally()
    args, dout = affine_case(np.random.default_rng(2))
    wrong = bug("affine_backward", "db = dout.sum(axis=0)", "db = dout.mean(axis=0)")
    check_backward(tally, student_with(wrong), "affine_forward", "affine_backward", args, dout, ("dx", "dw", "db"),
                   "x (3, 2, 2)", reference=layers, tol=1e-7)
    assert (tally.passed, tally.total) == (2, 3)
    assert tally.failures[0].startswith("db differs from the expected value on x (3, 2, 2): rel_error")


def test_a_broken_forward_costs_the_backward_nothing():
    """The backward gets the reference forward's cache: the student's forward is never run."""
    tally = Tally()
    args, dout = affine_case(np.random.default_rng(6))
    broken = bug("affine_forward", "cache = (x, w, b)", "cache = None")
    check_backward(tally, student_with(broken), "affine_forward", "affine_backward", args, dout, ("dx", "dw", "db"),
                   "x (3, 2, 2)", reference=layers, tol=1e-7)
    assert (tally.passed, tally.total) == (3, 3)


def test_a_known_bug_is_named():
    tally = Tally()
    args, dout = affine_case(np.random.default_rng(7))
    flat = bug("affine_backward", "dx = (dout @ w.T).reshape(x.shape)", "dx = dout @ w.T")
    check_backward(tally, student_with(flat), "affine_forward", "affine_backward", args, dout, ("dx", "dw", "db"),
                   "x (3, 2, 2)", reference=layers, tol=1e-7,
                   bugs=lambda expected: {"dx": {"your dx equals the right answer without the reshape to x's shape":
                                                 expected[0].reshape(len(expected[0]), -1)}})
    assert tally.failures == ["dx has shape (3, 4); expected (3, 2, 2), the shape of x, on x (3, 2, 2); "
                              "your dx equals the right answer without the reshape to x's shape"]


def test_a_backward_returning_the_wrong_number_of_gradients_fails_the_whole_case():
    tally = Tally()
    args, dout = affine_case(np.random.default_rng(3))
    two = bug("affine_backward", "return dx, dw, db", "return dx, dw")
    assert check_backward(tally, student_with(two), "affine_forward", "affine_backward", args, dout, ("dx", "dw", "db"),
                          "x (3, 2, 2)", reference=layers, tol=1e-7) is None
    assert (tally.passed, tally.total) == (0, 3)
    assert tally.failures == ["affine_backward on x (3, 2, 2): affine_backward returned a tuple of 2 items; expected a tuple (dx, dw, db)"]


def test_a_single_gradient_is_the_return_value_itself():
    tally = Tally()
    rng = np.random.default_rng(4)
    x, dout = rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    param = {"mode": "train", "p": 0.5, "seed": 7}
    check_backward(tally, student_with(), "dropout_forward", "dropout_backward", (x, param), dout, ("dx",),
                   "x (4, 5)", reference=layers, tol=1e-7)
    assert (tally.passed, tally.total) == (1, 1)


def test_the_reference_leaves_the_global_rng_and_the_arguments_alone():
    rng = np.random.default_rng(5)
    x, gamma, beta, dout = rng.standard_normal((4, 3)), rng.standard_normal(3), rng.standard_normal(3), rng.standard_normal((4, 3))
    bn_param = {"mode": "train"}
    np.random.seed(11)
    expected_draw = np.random.rand()
    np.random.seed(11)
    reference_gradients(layers, "dropout_forward", "dropout_backward", (x, {"mode": "train", "p": 0.5, "seed": 1}), dout)
    reference_gradients(layers, "batchnorm_forward", "batchnorm_backward", (x, gamma, beta, bn_param), dout)
    assert np.random.rand() == expected_draw
    assert bn_param == {"mode": "train"}  # the running statistics went into a copy
