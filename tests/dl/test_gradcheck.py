"""The numerical-gradient tools, the relative-error family and the model gradient check."""
import re

import numpy as np
import pytest
import torch

from dl.gradcheck import (
    check_model_gradients,
    compute_numeric_gradient,
    eval_numerical_gradient,
    eval_numerical_gradient_array,
    grad_check_sparse,
    rel_error,
    rel_error_max,
    rel_error_scaled,
)
from dl.models import FullyConnectedNet


def test_scalar_gradient_of_known_function_and_restores_x():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4))
    before = x.copy()
    grad = eval_numerical_gradient(lambda a: np.sum(a**3), x, verbose=False)
    # centred differences of a^3 are off by exactly h^2 = 1e-10, plus rounding
    np.testing.assert_allclose(grad, 3 * before**2, rtol=0, atol=1e-8)
    np.testing.assert_array_equal(x, before)


def test_gradient_perturbs_in_place_for_closures():
    """Does a function that ignores its argument still see the perturbation (legacy checks)?"""
    x = np.array([1.0, 2.0])
    grad = eval_numerical_gradient(lambda _: float(np.sum(x**2)), x, verbose=False)
    np.testing.assert_allclose(grad, [2.0, 4.0], rtol=1e-8)


def test_array_gradient_is_vector_jacobian_product():
    rng = np.random.default_rng(1)
    x, df = rng.standard_normal(5), rng.standard_normal(5)
    grad = eval_numerical_gradient_array(np.sin, x, df)
    np.testing.assert_allclose(grad, np.cos(x) * df, rtol=1e-8)


def test_array_gradient_copes_with_functions_returning_views():
    x, df = np.arange(4.0), np.ones(4)
    grad = eval_numerical_gradient_array(lambda a: a, x, df)  # the identity returns x itself
    np.testing.assert_allclose(grad, np.ones(4), rtol=1e-8)


def test_grad_check_sparse_reports_small_errors(capsys):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 4))
    errors = grad_check_sparse(lambda a: float(np.sum(a**2)), x, 2 * x, num_checks=5, rng=rng)
    assert len(errors) == 5 and max(errors) < 1e-8
    assert capsys.readouterr().out.count("relative error") == 5


def test_rel_error_elementwise_definition():
    assert rel_error(np.array([1.0, 100.0]), np.array([1.1, 100.0])) == pytest.approx(0.1 / 2.1)
    assert rel_error(0.0, 0.0) == 0.0
    assert rel_error(torch.tensor([2.0]), np.array([2.0])) == 0.0
    assert isinstance(rel_error(np.ones(2), np.ones(2)), float)


def test_rel_error_max_global_definition():
    x, y = torch.tensor([1.0, 100.0]), torch.tensor([1.1, 100.0])
    assert rel_error_max(x, y) == pytest.approx(0.1 / 200.0)
    ints = torch.tensor([3, 4], dtype=torch.int64)
    assert rel_error_max(ints, ints) == 0.0
    mask = torch.tensor([True, False])
    assert rel_error_max(mask.int(), mask.int()) == 0.0
    assert rel_error_max(mask, ~mask) == pytest.approx(1.0)


def test_rel_error_scaled_measures_against_the_largest_expected_magnitude():
    expected = np.array([1.0, 1e-6])
    got = expected + [0.0, 1e-9]
    assert rel_error_scaled(got, expected) == pytest.approx(1e-9)  # no trap at an almost-zero element
    assert rel_error(got, expected) == pytest.approx(1e-9 / (2e-6 + 1e-9))  # where the element-wise form sees 5e-4
    assert rel_error_scaled(np.array([3.0, 0.0]), np.array([2.0, 0.0])) == pytest.approx(0.5)
    assert rel_error_scaled(np.zeros(0), np.zeros(0)) == 0.0
    assert rel_error_scaled(1e-9, 0.0) == pytest.approx(0.1)  # the floor 1e-8 of the denominator


@pytest.mark.parametrize("relative", [rel_error, rel_error_max, rel_error_scaled])
@pytest.mark.parametrize("shapes", [((10, 6), (10, 2, 3)), ((1, 4), (4,)), ((3,), ())])
def test_relative_errors_refuse_to_broadcast(relative, shapes):
    """Is a (1, M) array against an (M,) one an error naming both shapes, rather than an (M, M) comparison?"""
    first, second = shapes
    with pytest.raises(ValueError, match=rf"shapes {re.escape(str(first))} and {re.escape(str(second))} differ"):
        relative(np.ones(first), np.ones(second))


def test_rel_error_accepts_same_shaped_tensors_arrays_and_scalars():
    assert rel_error(torch.ones(2, 3, dtype=torch.float64), np.ones((2, 3))) == 0.0
    assert rel_error(2.0, np.float64(2.0)) == 0.0
    assert rel_error(np.zeros(0), np.zeros(0)) == 0.0


def test_check_model_gradients_of_a_correct_model(capsys):
    np.random.seed(0)  # FullyConnectedNet draws its weights from numpy's global RNG
    model = FullyConnectedNet([10, 8], input_dim=4, num_classes=3, weight_scale=5e-1, reg=0.3, dtype=np.float64)
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((3, 4)), rng.integers(0, 3, size=3)
    before = {name: value.copy() for name, value in model.params.items()}
    errors = check_model_gradients(model, X, y)
    assert list(errors) == sorted(model.params)
    assert max(errors.values()) < 1e-5  # centred differences (h = 1e-5) of a small ReLU net
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"{name} relative error: {error:.2e}" for name, error in errors.items()]
    for name, value in model.params.items():  # every perturbation was undone
        np.testing.assert_array_equal(value, before[name])


class _WrongBiasGradient(FullyConnectedNet):
    """A broken model: the gradient of b2 is twice what it should be."""

    def loss(self, X, y=None):
        result = super().loss(X, y)
        if y is None:
            return result
        loss, grads = result
        return loss, {**grads, "b2": 2 * grads["b2"]}


def test_check_model_gradients_finds_the_wrong_parameter(capsys):
    np.random.seed(0)
    model = _WrongBiasGradient([6, 5], input_dim=4, num_classes=3, weight_scale=5e-1, dtype=np.float64)
    X, y = np.random.default_rng(1).standard_normal((3, 4)), np.random.default_rng(2).integers(0, 3, size=3)
    errors = check_model_gradients(model, X, y)
    assert errors["b2"] == pytest.approx(1 / 3, rel=1e-4)  # |g - 2g| / (|g| + |2g|)
    assert max(error for name, error in errors.items() if name != "b2") < 1e-5
    assert "b2 relative error: 3.33e-01" in capsys.readouterr().out


class _FlatWeightGradient(FullyConnectedNet):
    """A broken model: the gradient of W1 comes back flattened."""

    def loss(self, X, y=None):
        result = super().loss(X, y)
        if y is None:
            return result
        loss, grads = result
        return loss, {**grads, "W1": grads["W1"].ravel()}


def test_check_model_gradients_names_a_gradient_of_the_wrong_shape():
    np.random.seed(0)
    model = _FlatWeightGradient([6], input_dim=4, num_classes=3, dtype=np.float64)
    X, y = np.ones((2, 4)), np.array([0, 2])
    with pytest.raises(ValueError, match=r"grads\['W1'\] of shape \(24,\) for params\['W1'\] of shape \(4, 6\)"):
        check_model_gradients(model, X, y)


def test_grad_check_sparse_uses_rel_error(capsys):
    x = np.array([[1.0, -2.0]])
    errors = grad_check_sparse(lambda a: float(np.sum(a**2)), x, np.array([[2.0, -3.0]]), num_checks=4,
                               rng=np.random.default_rng(3))
    assert all(error in (pytest.approx(0.0, abs=1e-9), pytest.approx(1 / 7, rel=1e-6)) for error in errors)


def test_compute_numeric_gradient_matches_autograd():
    torch.manual_seed(0)
    x = torch.randn(3, 4, dtype=torch.float64)
    dLdf = torch.randn(3, 4, dtype=torch.float64)
    grad = compute_numeric_gradient(torch.tanh, x, dLdf)
    x_req = x.clone().requires_grad_()
    torch.tanh(x_req).backward(dLdf)
    assert rel_error(grad, x_req.grad) < 1e-6  # h = 1e-7 centred differences in float64


def test_compute_numeric_gradient_rejects_non_contiguous():
    x = torch.randn(3, 4, dtype=torch.float64).t()
    with pytest.raises(ValueError, match="contiguous"):
        compute_numeric_gradient(torch.tanh, x)
