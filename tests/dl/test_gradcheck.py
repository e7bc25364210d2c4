"""The numerical-gradient tools and the two relative-error definitions."""
import numpy as np
import pytest
import torch

from dl.gradcheck import (
    compute_numeric_gradient,
    eval_numerical_gradient,
    eval_numerical_gradient_array,
    grad_check_sparse,
    rel_error,
    rel_error_max,
)


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
