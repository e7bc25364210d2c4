"""Provided experiments of the BatchNormalization notebook: batch size and weight scale.

Both functions train the network class the notebook passes in (the student's own
``FullyConnectedNet``), so the experiments exercise the student's normalization branch. The class
must accept ``model_class(hidden_dims, weight_scale=..., normalization=...)`` and follow the model
contract of :mod:`dl.solver`.

``data`` is a dict with ``X_train`` (N_train, 3, 32, 32), ``y_train`` (N_train,), ``X_val`` and
``y_val``, as returned by :func:`dl.data.get_cifar10_data`; only its first ``num_train`` training
images are used, and all of its validation images.

Randomness: both functions seed numpy's global RNG with :data:`SEED` (see each docstring for
when), so weights, minibatches and accuracy subsamples are reproducible.

Smoke mode is the caller's: the notebook passes its ``SMOKE`` flag as ``smoke``, which shrinks
the defaults (fewer batch sizes or weight scales, one epoch); explicit sizes are always kept.
Nothing here reads the environment.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
from tqdm.auto import tqdm

from dl.solver import Solver

SEED = 231
NORMALIZATION_MODES = ("batchnorm", "layernorm")

SolverCallback = Callable[[Solver], None]


def _first_training_images(data: dict, num_train: int) -> dict:
    """``data`` restricted to its first ``num_train`` training rows (validation kept whole)."""
    return {
        "X_train": data["X_train"][:num_train],
        "y_train": data["y_train"][:num_train],
        "X_val": data["X_val"],
        "y_val": data["y_val"],
    }


def run_batchsize_experiments(
    normalization_mode: str,
    data: dict,
    model_class: type,
    *,
    update_rule: str | Callable,
    smoke: bool,
    batch_sizes: Sequence[int] | None = None,
    num_epochs: int | None = None,
    num_train: int = 1000,
    callback: Callable[[str], SolverCallback] | None = None,
) -> tuple[list[Solver], Solver, list[int]]:
    """Train normalized nets at several batch sizes and one plain net at the smallest.

    Every net is ``model_class([100] * 5, weight_scale=2e-2, normalization=...)`` trained with
    ``update_rule`` (learning rate ``10**-3.5``; the notebook passes its Adam) on the first ``num_train`` training images, without log
    lines. ``np.random.seed(231)`` is called before each net is built, so every run starts from
    the same weights and is reproducible on its own.

    Inputs:
    - normalization_mode: ``'batchnorm'`` or ``'layernorm'``, the normalization of the nets
      compared across batch sizes.
    - data: dict with ``X_train``, ``y_train``, ``X_val``, ``y_val`` (see the module docstring).
    - model_class: the network class to train (the notebook's ``FullyConnectedNet``).
    - update_rule: passed to :class:`dl.solver.Solver`; a callable (the notebook passes the
      student's own ``adam``) or the name of a rule in :mod:`dl.optim`.
    - smoke: the notebook's smoke-mode flag; it shrinks the defaults below.
    - batch_sizes: batch sizes of the normalized runs; the baseline uses the first one.
      Default ``[5, 10, 50]`` (smoke: ``[5, 50]``).
    - num_epochs: epochs per run. Default 10 (smoke: 1).
    - num_train: number of training images used.
    - callback: optional factory ``callback(label) -> solver_callback`` for live plots, e.g.
      ``TrainingDashboard(...).callback``; called with ``'with_norm<batch size>'`` for each
      normalized run and ``'baseline<batch size>'`` for the baseline.

    Returns a tuple of:
    - norm_solvers: list of trained :class:`dl.solver.Solver`, one per batch size, in the
      order of ``batch_sizes``, with ``normalization=normalization_mode``.
    - baseline_solver: the trained Solver of the net with ``normalization=None`` at
      ``batch_sizes[0]``.
    - batch_sizes: the batch sizes used, as a list.
    """
    if normalization_mode not in NORMALIZATION_MODES:
        raise ValueError(
            f"normalization_mode must be one of {NORMALIZATION_MODES}, got {normalization_mode!r}"
        )
    if batch_sizes is None:
        batch_sizes = [5, 50] if smoke else [5, 10, 50]
    batch_sizes = [int(size) for size in batch_sizes]
    if not batch_sizes:
        raise ValueError("batch_sizes must hold at least one batch size")
    if num_epochs is None:
        num_epochs = 1 if smoke else 10
    small_data = _first_training_images(data, num_train)

    def train(normalization: str | None, batch_size: int, label: str) -> Solver:
        np.random.seed(SEED)
        model = model_class([100] * 5, weight_scale=2e-2, normalization=normalization)
        solver = Solver(
            model, small_data, num_epochs=num_epochs, batch_size=batch_size,
            update_rule=update_rule, optim_config={"learning_rate": 10**-3.5}, verbose=False,
            callbacks=[callback(label)] if callback is not None else (),
        )
        solver.train()
        return solver

    baseline_solver = train(None, batch_sizes[0], f"baseline{batch_sizes[0]}")
    norm_solvers = [train(normalization_mode, size, f"with_norm{size}") for size in batch_sizes]
    return norm_solvers, baseline_solver, batch_sizes


def weight_scale_sweep(
    data: dict,
    model_class: type,
    *,
    update_rule: str | Callable,
    smoke: bool,
    weight_scales: Sequence[float] | None = None,
    num_epochs: int | None = None,
    num_train: int = 1000,
    progress: bool = True,
) -> dict:
    """Train a net with batchnorm and one without at each weight-initialisation scale.

    For each scale, ``model_class([50] * 7, weight_scale=scale, normalization='batchnorm')`` and
    then the same with ``normalization=None`` are trained with ``update_rule`` (learning rate
    1e-3; the notebook passes its Adam), batch size 50, on the first ``num_train`` training images, without log lines.
    ``np.random.seed(231)`` is called once, at the start, so the whole sweep is reproducible.
    Prints ``Running weight scale i / n`` before each scale and, with ``progress``, shows a
    ``tqdm.auto`` progress bar.

    Inputs:
    - data: dict with ``X_train``, ``y_train``, ``X_val``, ``y_val`` (see the module docstring).
    - model_class: the network class to train (the notebook's ``FullyConnectedNet``).
    - update_rule: passed to :class:`dl.solver.Solver`; a callable (the notebook passes the
      student's own ``adam``) or the name of a rule in :mod:`dl.optim`.
    - smoke: the notebook's smoke-mode flag; it shrinks the defaults below.
    - weight_scales: the scales, shape (S,). Default ``np.logspace(-4, 0, num=20)`` (smoke:
      ``np.logspace(-4, 0, num=3)``).
    - num_epochs: epochs per run. Default 10 (smoke: 1).
    - num_train: number of training images used.
    - progress: show the progress bar.

    Returns a dict with
    - ``'weight_scales'``: float array of shape (S,);
    - ``'baseline'`` and ``'batchnorm'``: each a dict of float arrays of shape (S,):
      ``'best_val_acc'`` (the solver's best validation accuracy), ``'best_train_acc'``
      (the maximum of its training-accuracy history) and ``'final_train_loss'`` (the mean of
      its last 100 training losses).
    """
    if weight_scales is None:
        weight_scales = np.logspace(-4, 0, num=3 if smoke else 20)
    weight_scales = np.asarray(weight_scales, dtype=np.float64)
    if weight_scales.ndim != 1 or weight_scales.size == 0:
        raise ValueError(f"weight_scales must be a non-empty 1-D sequence, got shape {weight_scales.shape}")
    if num_epochs is None:
        num_epochs = 1 if smoke else 10
    small_data = _first_training_images(data, num_train)
    runs = {"batchnorm": "batchnorm", "baseline": None}  # result key -> normalization
    results = {
        key: {name: np.zeros(len(weight_scales)) for name in ("best_val_acc", "best_train_acc", "final_train_loss")}
        for key in runs
    }

    np.random.seed(SEED)
    for i, scale in enumerate(tqdm(weight_scales, desc="weight scales", disable=not progress)):
        tqdm.write(f"Running weight scale {i + 1} / {len(weight_scales)}")
        for key, normalization in runs.items():
            model = model_class([50] * 7, weight_scale=scale, normalization=normalization)
            solver = Solver(
                model, small_data, num_epochs=num_epochs, batch_size=50, update_rule=update_rule,
                optim_config={"learning_rate": 1e-3}, verbose=False,
            )
            solver.train()
            results[key]["best_val_acc"][i] = solver.best_val_acc
            results[key]["best_train_acc"][i] = max(solver.train_acc_history)
            results[key]["final_train_loss"][i] = np.mean(solver.loss_history[-100:])
    return {"weight_scales": weight_scales, **results}
