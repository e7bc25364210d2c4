"""literals: values rounded to a documented precision and written as source that reads back bit for bit."""
import numpy as np
import pytest
import torch

from course.build.literals import (MAX_ELEMENTS, SIGNIFICANT_DIGITS, LiteralError, round_float, rounded, same_value,
                                   to_literal)


def roundtrip(value):
    text = to_literal(value)
    return text, eval(text, {"np": np, "torch": torch})


@pytest.mark.parametrize("value", [
    0.1, -0.0, 1e-300, 2.302545844500738, float("nan"), float("-inf"), 3, True, None,
    np.float64(1 / 3), np.int64(7), np.bool_(False), np.float32(0.1),
    [1.5, (2, 3)], (1,), (), "text with 'quotes' and é", {"loss": 2.5, "shape": (2, 3), "mask": np.array([True])},
    np.random.default_rng(0).standard_normal((3, 4)),
    np.array([np.nan, np.inf, -np.inf, 0.0]),
    np.random.default_rng(1).standard_normal(7).astype(np.float32),
    np.arange(6, dtype=np.int32).reshape(2, 3), np.array([True, False]), np.array(2.5),
    np.zeros((0, 3)), np.zeros((2, 0), dtype=np.int64), np.float16([0.1, 65504]),
    np.array([np.finfo(np.float64).max, np.finfo(np.float32).tiny]),
    torch.from_numpy(np.random.default_rng(2).standard_normal((2, 3))).float(),
    torch.tensor([1, 2], dtype=torch.int64), torch.tensor(2.5, dtype=torch.float64), torch.zeros(0, 2),
    torch.tensor([True, False]), torch.tensor([float("nan"), float("-inf")]),
])
def test_values_read_back_exactly_as_the_rounded_value(value):
    text, back = roundtrip(value)
    assert same_value(rounded(value), back), text
    assert to_literal(back) == text  # rounding a written value again changes nothing


def test_floats_keep_the_documented_significant_digits():
    assert SIGNIFICANT_DIGITS[np.dtype(np.float64)] == 11 and SIGNIFICANT_DIGITS[np.dtype(np.float32)] == 6
    assert to_literal(1.4983496695842708) == to_literal(1.4983496695842702) == "1.4983496696"
    assert to_literal(np.float32(0.123456789)) == "np.float32(0.123457)"
    assert to_literal(np.array([1 / 3, -2e-20, 12345678.9012345])) == "np.array([0.33333333333, -2e-20, 12345678.901])"
    assert to_literal(torch.tensor([1 / 3])) == "torch.tensor([0.333333], dtype=torch.float32)"


def test_rounding_stays_well_inside_the_tightest_check_tolerance():
    """affine_forward's check expects rel_error about 1e-9: the rounding must cost far less."""
    x = np.random.default_rng(4).standard_normal(10_000) * 10.0 ** np.random.default_rng(5).integers(-30, 30, 10_000)
    back = eval(to_literal(x[:MAX_ELEMENTS]), {"np": np})
    rel = np.abs(back - x[:MAX_ELEMENTS]) / (np.abs(back) + np.abs(x[:MAX_ELEMENTS]))
    assert rel.max() <= 2.5e-11


def test_noise_of_a_few_ulps_rarely_changes_the_written_digits():
    """The machine-dependence the rounding removes: values apart by 2 ulps print alike nearly always."""
    x = np.random.default_rng(6).standard_normal(100_000)
    noisy = np.nextafter(np.nextafter(x, np.inf), np.inf)
    flipped = sum(round_float(a) != round_float(b) for a, b in zip(x.tolist(), noisy.tolist()))
    assert flipped <= 10  # about 1e-5 of the values sit that close to an 11-digit rounding boundary


def test_float64_arrays_have_no_dtype_and_others_keep_theirs():
    assert to_literal(np.array([0.5, 1.0])) == "np.array([0.5, 1.0])"
    assert to_literal(np.array([0.1], dtype=np.float32)) == "np.array([0.1], dtype=np.float32)"
    assert to_literal(np.array([1, 2])) == "np.array([1, 2], dtype=np.int64)"
    assert to_literal(np.array([[True]])) == "np.array([[True]], dtype=bool)"
    assert to_literal(torch.tensor([[1.5]], dtype=torch.float64)) == "torch.tensor([[1.5]], dtype=torch.float64)"


def test_tensors_are_written_for_the_cpu_without_gradient_tracking():
    t = torch.tensor([0.25, 0.5], requires_grad=True) * 2
    assert to_literal(t) == "torch.tensor([0.5, 1.0], dtype=torch.float32)"


def test_python_scalars_are_their_rounded_repr():
    rng = np.random.default_rng(3)
    x = float(rng.standard_normal())
    assert to_literal(x) == repr(float(f"{x:.10e}")) == to_literal(np.float64(x))
    assert to_literal(float("nan")) == 'float("nan")'
    assert to_literal({"a": [1, "b"]}) == "{'a': [1, 'b']}"


def test_too_big_and_unsupported_values_are_refused():
    with pytest.raises(LiteralError, match=f"{MAX_ELEMENTS + 1} numbers, over the limit of {MAX_ELEMENTS}"):
        to_literal(np.zeros(MAX_ELEMENTS + 1))
    with pytest.raises(LiteralError, match="over the limit"):
        to_literal([np.zeros(600), np.zeros(600)])
    with pytest.raises(LiteralError, match="over the limit"):
        to_literal({"a": torch.zeros(2000)})
    with pytest.raises(LiteralError, match="dtype complex128 cannot be written"):
        to_literal(np.array([1j]))
    with pytest.raises(LiteralError, match="type builtins.set cannot be written"):
        to_literal({1, 2})
    with pytest.raises(LiteralError, match="dict keys must be strings"):
        to_literal({1: 2.0})
    with pytest.raises(LiteralError, match="tensors of dtype torch.bfloat16"):
        to_literal(torch.zeros(2, dtype=torch.bfloat16))


def test_long_matrices_get_one_row_per_line_at_the_given_indent():
    text = to_literal(np.arange(30.0).reshape(3, 10), indent="    ")
    assert text.splitlines()[0] == "np.array(["
    assert text.splitlines()[1].startswith("        [0.0, 1.0")
    assert text.splitlines()[-1] == "    ])"
