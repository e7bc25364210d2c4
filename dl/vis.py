"""Static matplotlib figures used by the notebooks and the demo.

Live (ipywidgets) views live in :mod:`dl.widgets`; they fall back to these figures where widgets
cannot render.
"""
from __future__ import annotations

from typing import Mapping

import matplotlib.pyplot as plt
import numpy as np


def setup_notebook() -> None:
    """Matplotlib defaults for every notebook: figure size (10, 8), nearest interpolation, grey map."""
    plt.rcParams["figure.figsize"] = (10.0, 8.0)
    plt.rcParams["image.interpolation"] = "nearest"
    plt.rcParams["image.cmap"] = "gray"


def draw_training_history(axes, runs: Mapping[str, object]) -> None:
    """Draw runs on three axes: loss per iteration, train and val accuracy per check.

    Inputs:
    - axes: three matplotlib Axes (loss, train accuracy, val accuracy).
    - runs: maps a label to anything with ``loss_history``, ``train_acc_history`` and
      ``val_acc_history`` (a :class:`dl.solver.Solver`, or a live dashboard's record).
    """
    ax_loss, ax_train, ax_val = axes
    for label, run in runs.items():
        ax_loss.plot(run.loss_history, "o", markersize=2, label=f"loss_{label}")
        ax_train.plot(run.train_acc_history, "-o", label=f"train_acc_{label}")
        ax_val.plot(run.val_acc_history, "-o", label=f"val_acc_{label}")
    for ax, ylabel, xlabel in [
        (ax_loss, "Training loss", "Iteration"),
        (ax_train, "Training accuracy", "Epoch"),
        (ax_val, "Validation accuracy", "Epoch"),
    ]:
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(linestyle="--", linewidth=0.5)
        if runs:
            ax.legend(loc="upper right" if ax is ax_loss else "lower right", ncol=2)


def plot_training_history(solvers: Mapping[str, object], title: str | None = None):
    """Compare training runs: loss per iteration, train and val accuracy per epoch.

    Inputs:
    - solvers: maps a label (e.g. an update rule's name) to a trained :class:`dl.solver.Solver`,
      or to anything with ``loss_history``, ``train_acc_history`` and ``val_acc_history``.
    - title: optional figure title.

    Returns the matplotlib Figure: three stacked axes (15 x 15 inches) with one line per run,
    labelled ``loss_<label>``, ``train_acc_<label>`` and ``val_acc_<label>``.
    """
    fig, axes = plt.subplots(3, 1, figsize=(15, 15))
    draw_training_history(axes, solvers)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def visualize_grid(Xs: np.ndarray, ubound: float = 255.0, padding: int = 1) -> np.ndarray:
    """Tile a batch of images into one square grid image, each rescaled to [0, ubound].

    Every image is min-max normalised on its own (a constant image becomes 0), then placed row by
    row in a ``ceil(sqrt(N)) x ceil(sqrt(N))`` grid with ``padding`` pixels of 0 between
    neighbours; unused cells stay 0. Typical use: first-layer conv filters,
    ``visualize_grid(W1.transpose(0, 2, 3, 1))``.

    Inputs:
    - Xs: images, shape (N, H, W, C).
    - ubound: value of each image's maximum after rescaling.
    - padding: pixels between neighbouring images.

    Returns:
    - grid: float array of shape (G * H + (G - 1) * padding, G * W + (G - 1) * padding, C),
      G = ceil(sqrt(N)).
    """
    N, H, W, C = Xs.shape
    G = int(np.ceil(np.sqrt(N)))
    grid = np.zeros((G * H + (G - 1) * padding, G * W + (G - 1) * padding, C))
    for index, image in enumerate(Xs):
        row, col = divmod(index, G)
        low, high = float(image.min()), float(image.max())
        scaled = ubound * (image - low) / (high - low) if high > low else np.zeros(image.shape)
        top, left = row * (H + padding), col * (W + padding)
        grid[top:top + H, left:left + W] = scaled
    return grid
