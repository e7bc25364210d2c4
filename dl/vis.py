"""Static matplotlib figures used by the notebooks and the demo.

Live (ipywidgets) views live in :mod:`dl.widgets`; they fall back to these figures where widgets
cannot render.
"""
from __future__ import annotations

from typing import Mapping

import matplotlib.pyplot as plt


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
