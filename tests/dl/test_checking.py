"""dl.checking: the phrasing of a shape mismatch and the visible checks' helper."""
import numpy as np
import pytest

from dl.checking import check_close, shape_mismatch
from dl.gradcheck import rel_error


def test_shape_mismatch_names_both_shapes_and_what_the_expected_one_belongs_to():
    assert shape_mismatch("dx", (10, 6), (10, 2, 3), "x") == "dx has shape (10, 6); expected (10, 2, 3), the shape of x"
    assert shape_mismatch("db", (1, 5), (5,)) == "db has shape (1, 5); expected (5,)"
    assert shape_mismatch("dx", np.zeros((2, 3)).shape, [2, 3], "x") is None


def test_check_close_prints_the_relative_error_when_the_shapes_agree(capsys):
    rng = np.random.default_rng(0)
    expected = rng.standard_normal((4, 3))
    got = expected + 1e-9
    assert check_close("dx", got, expected, like="x") == rel_error(got, expected)
    assert capsys.readouterr().out == f"dx error: {rel_error(got, expected)}\n"
    check_close("out", got, expected, label="affine_forward difference:")
    assert capsys.readouterr().out.startswith("affine_forward difference: ")


@pytest.mark.parametrize("got, printed", [
    (np.zeros((10, 6)), "dx has shape (10, 6); expected (10, 2, 3), the shape of x"),
    (np.zeros((1, 10, 2, 3)), "dx has shape (1, 10, 2, 3); expected (10, 2, 3), the shape of x"),
    (None, "dx is None; expected an array of shape (10, 2, 3), the shape of x"),
    ((np.zeros((10, 2, 3)),), "dx is a tuple; expected an array of shape (10, 2, 3), the shape of x"),
])
def test_check_close_explains_a_wrong_shape_instead_of_broadcasting(capsys, got, printed):
    assert check_close("dx", got, np.ones((10, 2, 3)), like="x") is None
    assert capsys.readouterr().out == printed + "\n"


def test_a_bias_gradient_of_shape_1_m_does_not_pass():
    """(1, M) against (M,) would broadcast; the check says what is wrong instead."""
    db = np.arange(5.0)
    assert check_close("db", db.reshape(1, 5), db, like="b") is None
