"""The shared backward sub-check: which sub-checks it records, what it says, and what it leaves alone."""
import numpy as np
import pytest

from autograder.checks.backward import cache_mismatch, check_backward, reference_gradients
from autograder.checks.compare import Tally
from autograder.checks.registry import Part
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


def test_a_cache_is_compared_with_the_documented_one_item_by_item_naming_the_item():
    x, w = np.arange(6.0).reshape(2, 3), np.ones((3, 2), dtype=np.float32)
    expected = (x, w, {"stride": 1, "mode": "train"}, None)
    items = ("x", "w", "param", "nothing")

    def check(got):
        return cache_mismatch("layer_forward", got, expected, items, "x (2, 3)", 1e-7)

    assert check(expected) is None
    assert check([x, w.copy(), {"stride": 1, "mode": "train", "extra": 0}, None]) is None  # a list, a dict with more keys
    assert check((x, w)) == ("the cache of layer_forward is a tuple of 2 items on x (2, 3); "
                             "its docstring specifies the tuple (x, w, param, nothing)")
    for got, words in [
        ((x.ravel(), w, expected[2], None), "cache[0] (x) has shape (6,); expected (2, 3)"),
        ((x, w.astype(np.float64), expected[2], None), "cache[1] (w) has dtype float64; its docstring specifies float32"),
        ((x + 1, w, expected[2], None), "cache[0] (x) differs from the expected value: rel_error"),
        ((None, w, expected[2], None), "cache[0] (x) is None; its docstring specifies an array of shape (2, 3)"),
        ((x, w, {"stride": 1}, None), "cache[2] (param) lacks the keys ['mode']"),
        ((x, w, {"stride": 2, "mode": "train"}, None), "cache[2] (param)['stride'] differs"),
        ((x, w, {"stride": 1, "mode": "test"}, None), "cache[2] (param)['mode'] is 'test'; expected 'train'"),
        ((x, w, expected[2], x), "cache[3] (nothing) is an array of shape (2, 3); its docstring specifies None here"),
    ]:
        message = check(got)
        assert message.startswith(words), message
        assert message.endswith(" on x (2, 3) (the cache must be (x, w, param, nothing), in this order: the backward pass reads it)")


def test_a_cache_that_is_one_value_or_none_is_held_to_its_docstring_too():
    x = np.arange(6.0).reshape(2, 3)
    assert cache_mismatch("relu_forward", x.copy(), x, "x, the input unchanged", "x (2, 3)", 1e-7) is None
    assert cache_mismatch("relu_forward", np.maximum(x - 2, 0), x, "x, the input unchanged", "x (2, 3)", 1e-7).endswith(
        " on x (2, 3) (the cache must be x, the input unchanged, as the docstring of relu_forward says: the backward pass reads it)")
    assert cache_mismatch("batchnorm_forward", None, None, ("x_hat",), "x", 1e-7) is None
    assert cache_mismatch("batchnorm_forward", (x,), None, ("x_hat",), "x", 1e-7) == (
        "the cache of batchnorm_forward is a tuple of 1 items on x; its docstring specifies None here")


def test_gradients_can_count_in_parts_of_their_own():
    """Each gradient in its part; a backward that raises charges every part its own sub-checks."""
    parts = {"dx": Part(1, "dx"), "dw": Part(1, "dw"), "db": Part(1, "db"), "float32": Part(1, "dtypes")}
    args, dout = affine_case(np.random.default_rng(8))
    args, dout = tuple(a.astype(np.float32) for a in args), dout.astype(np.float32)
    wrong_db = bug("affine_backward", "db = dout.sum(axis=0)", "db = dout.mean(axis=0)")
    tally = Tally(parts)
    check_backward(tally, student_with(wrong_db), "affine_forward", "affine_backward", args, dout, ("dx", "dw", "db"), "x (3, 2, 2)",
                   reference=layers, tol=1e-4, parts={"dx": "dx", "dw": "dw", "db": "db", "dtype": "float32"})
    assert tally.recorded == {"dx": 1, "dw": 1, "db": 1, "float32": 1}
    assert tally.passed_by_part == {"dx": 1, "dw": 1, "db": 0, "float32": 1}
    raising = bug("affine_backward", "return dx, dw, db", "raise ValueError('unfinished')")
    tally = Tally(parts)
    check_backward(tally, student_with(raising), "affine_forward", "affine_backward", args, dout, ("dx", "dw", "db"), "x (3, 2, 2)",
                   reference=layers, tol=1e-4, parts={"dx": "dx", "dw": "dw", "db": "db", "dtype": "float32"})
    assert tally.recorded == {"dx": 1, "dw": 1, "db": 1, "float32": 1} and tally.passed == 0
