"""Numerical gradients and relative errors, for numpy and for torch.

The relative errors form one family, built on one shape-checked difference (:func:`_differences`);
its members must not be confused (CURRICULUM §2.1):

- :func:`rel_error` is element-wise: ``max |x - y| / max(1e-8, |x| + |y|)``. Every numpy notebook
  uses it.
- :func:`rel_error_max` is global: ``max |x - y| / max(clamp(|x| + |y|, min=eps))``.
- :func:`rel_error_scaled` measures ``got`` against the size of ``expected``:
  ``max |got - expected| / max(1e-8, max |expected|)``. The autograder uses it: a correct answer
  summed in another order can differ from the reference on an element that is almost zero, which
  the element-wise form would count as a large error.

All three refuse arrays of different shapes instead of broadcasting them.

The numerical-gradient functions perturb ``x`` **in place** and restore it afterwards, so a
function that closes over ``x`` instead of using its argument still sees the perturbation.
Our own checks always use the argument (``lambda xx: layer(xx, w, b)[0]``).
:func:`check_model_gradients` runs the check of every parameter of a model.
"""
from __future__ import annotations

from typing import Callable

import numpy as np


def _to_numpy(a) -> np.ndarray:
    """A float64 numpy view of a numpy array, a torch tensor (detached, on CPU) or a scalar."""
    if hasattr(a, "detach"):  # a torch tensor; checked by duck type so numpy code needs no torch
        a = a.detach().cpu().numpy()
    return np.asarray(a, dtype=np.float64)


def _differences(x, y) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``|x - y|``, ``|x|`` and ``|y|`` as float64 arrays of the inputs' common shape.

    Raises ValueError when the shapes differ: a (1, M) array compared with an (M,) one would
    otherwise broadcast to (M, M) and measure something else.
    """
    x, y = _to_numpy(x), _to_numpy(y)
    if x.shape != y.shape:
        raise ValueError(f"relative error of arrays whose shapes {x.shape} and {y.shape} differ; "
                         f"compare arrays of the same shape (reshape or index the one that is off)")
    return np.abs(x - y), np.abs(x), np.abs(y)


def rel_error(x, y) -> float:
    """Maximum element-wise relative error ``|x - y| / max(1e-8, |x| + |y|)``.

    Inputs:
    - x, y: numpy arrays, torch tensors or Python scalars of the same shape.

    Returns:
    - a Python float; 0.0 for identical (or empty) inputs.
    """
    difference, size_x, size_y = _differences(x, y)
    return float(np.max(difference / np.maximum(1e-8, size_x + size_y), initial=0.0))


def rel_error_max(x, y, eps: float = 1e-10) -> float:
    """Global relative error ``max |x - y| / max(clamp(|x| + |y|, min=eps))``.

    Inputs:
    - x, y: torch tensors or numpy arrays of the same shape; integer and boolean inputs are
      accepted (booleans count as 0/1).
    - eps: lower bound of the denominator.

    Returns:
    - a Python float; exactly 0.0 for identical inputs.
    """
    difference, size_x, size_y = _differences(x, y)
    return float(difference.max(initial=0.0) / np.maximum(eps, (size_x + size_y).max(initial=0.0)))


def rel_error_scaled(got, expected, floor: float = 1e-8) -> float:
    """Largest difference relative to the largest expected magnitude: ``max |got - expected| / max(floor, max |expected|)``.

    Inputs:
    - got, expected: numpy arrays, torch tensors or Python scalars of the same shape.
    - floor: lower bound of the denominator, so that an expected array of zeros is usable.

    Returns:
    - a Python float; 0.0 for identical (or empty) inputs.
    """
    difference, _, size_expected = _differences(got, expected)
    return float(difference.max(initial=0.0) / np.maximum(floor, size_expected.max(initial=0.0)))


def _evaluate_around(f, x: np.ndarray, ix: tuple, h: float):
    """``(f(x + h e_ix), f(x - h e_ix))``, perturbing ``x[ix]`` in place and restoring it.

    Array results are copied, since ``f`` may return a view of its input.
    """
    def copy(value):
        return np.array(value, dtype=np.float64) if isinstance(value, np.ndarray) else value

    old = x[ix]
    x[ix] = old + h
    pos = copy(f(x))
    x[ix] = old - h
    neg = copy(f(x))
    x[ix] = old
    return pos, neg


def eval_numerical_gradient(
    f: Callable[[np.ndarray], float], x: np.ndarray, verbose: bool = True, h: float = 1e-5
) -> np.ndarray:
    """Centred-difference gradient of a scalar function at x.

    Inputs:
    - f: function taking one array (x itself is passed, perturbed in place) and returning a scalar.
    - x: float array of any shape; restored to its original values before returning.
    - verbose: print each index and its numerical gradient.
    - h: step size.

    Returns:
    - grad: same shape as x, ``(f(x + h e_i) - f(x - h e_i)) / (2h)`` for every element i.
    """
    grad = np.zeros_like(x, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    while not it.finished:
        ix = it.multi_index
        fxph, fxmh = _evaluate_around(f, x, ix, h)
        grad[ix] = (fxph - fxmh) / (2 * h)
        if verbose:
            print(ix, grad[ix])
        it.iternext()
    return grad


def eval_numerical_gradient_array(
    f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, df: np.ndarray, h: float = 1e-5
) -> np.ndarray:
    """Numerical gradient of ``sum(f(x) * df)`` for an array-valued f (a backward pass check).

    Inputs:
    - f: function taking one array (x itself, perturbed in place) and returning an array.
    - x: float array of any shape; restored before returning.
    - df: upstream gradient, same shape as ``f(x)``.
    - h: step size.

    Returns:
    - grad: same shape as x.
    """
    grad = np.zeros_like(x, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    while not it.finished:
        ix = it.multi_index
        pos, neg = _evaluate_around(f, x, ix, h)
        grad[ix] = np.sum((np.asarray(pos, dtype=np.float64) - neg) * df) / (2 * h)
        it.iternext()
    return grad


def grad_check_sparse(
    f: Callable[[np.ndarray], float],
    x: np.ndarray,
    analytic_grad: np.ndarray,
    num_checks: int = 10,
    h: float = 1e-5,
    rng: np.random.Generator | None = None,
) -> list[float]:
    """Compare numerical and analytic gradients at a few random elements of x, printing each.

    Inputs:
    - f: scalar function of x (x is perturbed in place and restored).
    - x: float array of any shape.
    - analytic_grad: same shape as x.
    - num_checks: number of random elements to check.
    - h: step size.
    - rng: generator choosing the elements; ``None`` uses numpy's global RNG.

    Returns:
    - the relative error of each checked element, in the order printed.
    """
    errors = []
    for _ in range(num_checks):
        flat = rng.integers(x.size) if rng is not None else np.random.randint(x.size)
        ix = np.unravel_index(flat, x.shape)
        fxph, fxmh = _evaluate_around(f, x, ix, h)
        numerical = (fxph - fxmh) / (2 * h)
        analytic = analytic_grad[ix]
        error = rel_error(numerical, analytic)
        errors.append(error)
        print(f"numerical: {numerical:f} analytic: {analytic:f}, relative error: {error:e}")
    return errors


def check_model_gradients(model, X: np.ndarray, y: np.ndarray, h: float = 1e-5) -> dict[str, float]:
    """Compare a model's analytic gradients with numerical ones, one parameter at a time.

    For every name in ``model.params`` that ``model.loss`` returns a gradient for (in sorted
    order), prints ``<name> relative error: <error>``, where the error is :func:`rel_error`
    between the centred-difference gradient of the loss and the analytic one.

    Inputs:
    - model: follows the model contract of :mod:`dl.solver`: ``model.params`` maps names to
      arrays, ``model.loss(X, y)`` returns ``(loss, grads)`` with ``grads[name]`` shaped like
      ``model.params[name]``. Each parameter is perturbed in place and restored.
    - X: inputs, shape (N, ...) as the model expects; y: labels, shape (N,).
    - h: step of the centred differences.

    Returns:
    - a dict mapping each checked name to its relative error, in the printed order.
    """
    _, grads = model.loss(X, y)
    errors = {}
    for name in sorted(grads):
        param = model.params[name]
        if np.shape(grads[name]) != np.shape(param):
            raise ValueError(f"model.loss returned grads[{name!r}] of shape {np.shape(grads[name])} for "
                             f"params[{name!r}] of shape {np.shape(param)}; each gradient has its parameter's shape")

        def loss_at(value, name=name):
            model.params[name] = value  # the very array being perturbed
            return model.loss(X, y)[0]

        numerical = eval_numerical_gradient(loss_at, param, verbose=False, h=h)
        errors[name] = rel_error(numerical, grads[name])
        print(f"{name} relative error: {errors[name]:.2e}")
    return errors


def compute_numeric_gradient(f, x, dLdf=None, h: float = 1e-7):
    """Numerical gradient of ``sum(f(x) * dLdf)`` with respect to a torch tensor x.

    Inputs:
    - f: function of one tensor returning a tensor (x itself is passed, perturbed in place).
    - x: torch tensor of any shape; use float64 on CPU for meaningful results. Restored afterwards.
    - dLdf: upstream gradient shaped like ``f(x)``; ``None`` means all ones.
    - h: step size.

    Returns:
    - grad: torch tensor shaped like x.
    """
    import torch

    if not x.is_contiguous():
        raise ValueError("compute_numeric_gradient perturbs x in place and needs a contiguous tensor; pass x.contiguous()")
    with torch.no_grad():
        flat_x = x.view(-1)  # shares storage with x
        y = f(x)
        if dLdf is None:
            dLdf = torch.ones_like(y)
        grad = torch.zeros_like(flat_x)
        for i in range(flat_x.numel()):
            old = flat_x[i].item()
            flat_x[i] = old + h
            pos = f(x).clone()
            flat_x[i] = old - h
            neg = f(x).clone()
            flat_x[i] = old
            grad[i] = ((pos - neg) * dLdf).sum() / (2 * h)
    return grad.view_as(x)
