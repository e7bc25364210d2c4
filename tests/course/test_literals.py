"""literals: values written as source that reads back bit for bit."""
import numpy as np
import pytest

from course.build.literals import MAX_ELEMENTS, LiteralError, same_value, to_literal


def roundtrip(value):
    text = to_literal(value)
    return text, eval(text, {"np": np})


@pytest.mark.parametrize("value", [
    0.1, -0.0, 1e-300, 2.302545844500738, float("nan"), float("-inf"), 3, True, None,
    np.float64(1 / 3), np.int64(7), np.bool_(False), np.float32(0.1),
    [1.5, (2, 3)], (1,), (),
    np.random.default_rng(0).standard_normal((3, 4)),
    np.array([np.nan, np.inf, -np.inf, 0.0]),
    np.random.default_rng(1).standard_normal(7).astype(np.float32),
    np.arange(6, dtype=np.int32).reshape(2, 3), np.array([True, False]), np.array(2.5),
    np.zeros((0, 3)), np.zeros((2, 0), dtype=np.int64), np.float16([0.1, 65504]),
])
def test_values_read_back_exactly(value):
    _, back = roundtrip(value)
    assert same_value(value, back)


def test_float64_arrays_have_no_dtype_and_others_keep_theirs():
    assert to_literal(np.array([0.5, 1.0])) == "np.array([0.5, 1.0])"
    assert to_literal(np.array([0.1], dtype=np.float32)) == "np.array([0.1], dtype=np.float32)"
    assert to_literal(np.array([1, 2])) == "np.array([1, 2], dtype=np.int64)"
    assert to_literal(np.array([[True]])) == "np.array([[True]], dtype=bool)"


def test_python_scalars_are_their_repr():
    rng = np.random.default_rng(3)
    x = float(rng.standard_normal())
    assert to_literal(x) == repr(x) and to_literal(np.float64(x)) == repr(x)
    assert to_literal(float("nan")) == 'float("nan")'


def test_too_big_and_unsupported_values_are_refused():
    with pytest.raises(LiteralError, match=f"{MAX_ELEMENTS + 1} numbers, over the limit of {MAX_ELEMENTS}"):
        to_literal(np.zeros(MAX_ELEMENTS + 1))
    with pytest.raises(LiteralError, match="over the limit"):
        to_literal([np.zeros(600), np.zeros(600)])
    with pytest.raises(LiteralError, match="dtype complex128 cannot be written"):
        to_literal(np.array([1j]))
    with pytest.raises(LiteralError, match="type builtins.str cannot be written"):
        to_literal("text")


def test_long_matrices_get_one_row_per_line_at_the_given_indent():
    text = to_literal(np.arange(30.0).reshape(3, 10), indent="    ")
    assert text.splitlines()[0] == "np.array(["
    assert text.splitlines()[1].startswith("        [0.0, 1.0")
    assert text.splitlines()[-1] == "    ])"
