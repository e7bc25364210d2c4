"""Static matplotlib figures used by the notebooks and the demo.

Live (ipywidgets) views live in :mod:`dl.widgets`; they fall back to these figures where widgets
cannot render.
"""
from __future__ import annotations

from typing import Callable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator


def setup_notebook() -> None:
    """Matplotlib defaults for every notebook: figure size (10, 8), nearest interpolation, grey map."""
    plt.rcParams["figure.figsize"] = (10.0, 8.0)
    plt.rcParams["image.interpolation"] = "nearest"
    plt.rcParams["image.cmap"] = "gray"


TRAINING_PANELS = (("Training loss", "Iteration"), ("Training accuracy", "Epoch"), ("Validation accuracy", "Epoch"))
MAX_TICK_INTERVALS = 4  # per axis: every tick label is text to lay out at each redraw of a live view


def style_training_axes(axes, check_label: str = "Epoch") -> None:
    """Label the three axes of :data:`TRAINING_PANELS` and give them a grid and at most five ticks
    per axis (integers along x). ``check_label``: the x label of the accuracy panels, whose points
    are the training loop's checks (a Solver checks once an epoch)."""
    for ax, (ylabel, xlabel) in zip(axes, TRAINING_PANELS):
        ax.set_xlabel(check_label if xlabel == "Epoch" else xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(linestyle="--", linewidth=0.5)
        ax.xaxis.set_major_locator(MaxNLocator(MAX_TICK_INTERVALS, integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(MAX_TICK_INTERVALS))


def training_history_lines(axes, label: str) -> list:
    """Add one run's (empty) lines to the axes of :data:`TRAINING_PANELS`.

    Returns the Line2D of the loss (dots), train accuracy, val accuracy, and the best val accuracy
    so far (a star on the val line), labelled ``loss_<label>``, ``train_acc_<label>``,
    ``val_acc_<label>`` and ``best_val_acc_<label>``; fill them with :func:`set_training_history`.
    Each axes' colour cycle gives a run the same colour in all three panels.
    """
    ax_loss, ax_train, ax_val = axes
    val = ax_val.plot([], [], "-o", label=f"val_acc_{label}")[0]
    return [
        ax_loss.plot([], [], "o", markersize=2, label=f"loss_{label}")[0],
        ax_train.plot([], [], "-o", label=f"train_acc_{label}")[0],
        val,
        ax_val.plot([], [], "*", markersize=15, color=val.get_color(), markeredgecolor="black", zorder=3,
                    label=f"best_val_acc_{label}")[0],
    ]


def set_training_history(lines, run) -> None:
    """Put a run's histories into its lines (x: the index in each history), and the star on its best val accuracy.

    ``run`` is anything with ``loss_history``, ``train_acc_history`` and ``val_acc_history`` (a
    :class:`dl.solver.Solver`, or a live dashboard's record). The star marks the first check with
    the highest val accuracy so far (none before the first check).
    """
    histories = (run.loss_history, run.train_acc_history, run.val_acc_history)
    for line, history in zip(lines, histories):
        line.set_data(np.arange(len(history)), history)
    val = run.val_acc_history
    best = [int(np.argmax(val))] if len(val) else []
    lines[3].set_data(best, [val[i] for i in best])


def fit_training_axes(axes) -> None:
    """Fit the limits of the three axes to their lines."""
    for ax in axes:
        ax.relim()
        ax.autoscale_view()


def legend_training_runs(axes, lines: Mapping[str, list]) -> None:
    """One legend naming the runs (``lines``: each run's label -> its lines), on the loss axes."""
    if lines:
        axes[0].legend([run_lines[0] for run_lines in lines.values()], list(lines), loc="upper right",
                       ncol=min(len(lines), 4), markerscale=4)


def draw_training_history(axes, runs: Mapping[str, object], check_label: str = "Epoch") -> None:
    """Draw runs on three axes: loss per iteration, train and val accuracy per check, one legend.

    Inputs:
    - axes: three matplotlib Axes (loss, train accuracy, val accuracy).
    - runs: maps a label to anything with ``loss_history``, ``train_acc_history`` and
      ``val_acc_history`` (a :class:`dl.solver.Solver`, or a live dashboard's record).
    - check_label: the x label of the accuracy panels (:func:`style_training_axes`).
    """
    style_training_axes(axes, check_label)
    lines = {label: training_history_lines(axes, label) for label in runs}
    for label, run in runs.items():
        set_training_history(lines[label], run)
    fit_training_axes(axes)
    legend_training_runs(axes, lines)


def plot_solver_comparison(solvers: Mapping[str, object], title: str | None = None):
    """Compare training runs: loss per iteration, train and val accuracy per epoch.

    Inputs:
    - solvers: maps a label (e.g. an update rule's name) to a trained :class:`dl.solver.Solver`,
      or to anything with ``loss_history``, ``train_acc_history`` and ``val_acc_history``.
    - title: optional figure title.

    Returns the matplotlib Figure: three stacked axes (15 x 15 inches) with one line per run,
    labelled ``loss_<label>``, ``train_acc_<label>`` and ``val_acc_<label>``, and one legend
    naming the runs.
    """
    fig, axes = plt.subplots(3, 1, figsize=(15, 15))
    draw_training_history(axes, solvers)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_training_history(
    title: str,
    label: str,
    baseline,
    norm_solvers: Sequence[object],
    plot_fn: Callable[[object], Sequence[float]],
    bl_marker: str = ".",
    bn_marker: str = ".",
    labels: Sequence[object] | None = None,
):
    """Plot one history of normalized runs against a baseline run on the current axes.

    Used with :func:`dl.experiments.run_batchsize_experiments`, e.g. train accuracy per epoch::

        plot_training_history("Train accuracy", "Epoch", baseline, norm_solvers,
                              lambda s: s.train_acc_history, bl_marker="-^", bn_marker="-o",
                              labels=batch_sizes)

    Inputs:
    - title: axes title.
    - label: x-axis label.
    - baseline: the run without normalization (a :class:`dl.solver.Solver` or anything
      ``plot_fn`` accepts).
    - norm_solvers: the normalized runs, one line each.
    - plot_fn: maps a run to the sequence of values to plot.
    - bl_marker, bn_marker: matplotlib format strings of the baseline and normalized lines.
    - labels: one label suffix per normalized run (e.g. its batch size); the baseline takes
      ``labels[0]``. Without labels the lines are called ``with_norm`` and ``baseline``.

    Lines are labelled ``with_norm<labels[i]>`` and ``baseline<labels[0]>``, normalized runs
    first; the legend puts every line in its own column. Returns the Axes.
    """
    ax = plt.gca()
    ax.set_title(title)
    ax.set_xlabel(label)
    for i, solver in enumerate(norm_solvers):
        suffix = "" if labels is None else str(labels[i])
        ax.plot(plot_fn(solver), bn_marker, label=f"with_norm{suffix}")
    suffix = "" if labels is None else str(labels[0])
    ax.plot(plot_fn(baseline), bl_marker, label=f"baseline{suffix}")
    ax.legend(ncol=len(norm_solvers) + 1)
    return ax


def plot_weight_scale_sweep(results: Mapping[str, object]):
    """Summarise :func:`dl.experiments.weight_scale_sweep` against the weight scale (log axis).

    Inputs:
    - results: the dict that ``weight_scale_sweep`` returns: ``weight_scales`` (S,) and, for
      ``baseline`` and ``batchnorm``, arrays (S,) ``best_val_acc``, ``best_train_acc`` and
      ``final_train_loss``.

    Returns the matplotlib Figure: three stacked semilogx axes (best validation accuracy, best
    training accuracy, final training loss with y-limits 1.0 to 3.5), each with one line per
    key, labelled ``baseline`` and ``batchnorm``.
    """
    scales = results["weight_scales"]
    fig, axes = plt.subplots(3, 1, figsize=(15, 15))
    panels = [
        ("best_val_acc", "Best validation accuracy"),
        ("best_train_acc", "Best training accuracy"),
        ("final_train_loss", "Final training loss"),
    ]
    for ax, (key, name) in zip(axes, panels):
        for run in ("baseline", "batchnorm"):
            ax.semilogx(scales, results[run][key], "-o", label=run)
        ax.set_title(f"{name} vs. weight initialisation scale")
        ax.set_xlabel("Weight initialisation scale")
        ax.set_ylabel(name)
        ax.legend()
    axes[2].set_ylim(1.0, 3.5)
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


def imshow_no_ax(img: np.ndarray, normalize: bool = True):
    """Show one image on the current axes, without ticks or frame.

    Inputs:
    - img: shape (H, W) (drawn with the current colormap) or (H, W, 3) (RGB).
    - normalize: min-max rescale to 0..255 and round to uint8 first (a constant image becomes
      0). Without it an RGB image must already be uint8 in 0..255 or float in 0..1, as
      matplotlib expects.

    Returns the matplotlib AxesImage.
    """
    img = np.asarray(img)
    if not (img.ndim == 2 or (img.ndim == 3 and img.shape[2] == 3)):
        raise ValueError(f"img must have shape (H, W) or (H, W, 3), got {img.shape}")
    if normalize:
        low, high = float(img.min()), float(img.max())
        scaled = 255.0 * (img - low) / (high - low) if high > low else np.zeros(img.shape)
        img = np.rint(scaled).astype(np.uint8)
    shown = plt.imshow(img)
    plt.gca().axis("off")
    return shown


NORMALIZATIONS = ("batch", "layer", "instance", "group")


def normalization_groups(method: str, N: int, C: int, G: int = 1) -> np.ndarray:
    """Which channels of which examples share one mean and variance under a normalization.

    For activations of shape (N, C, H, W) every normalization below pools all H x W positions of
    a channel; they differ in which (example, channel) pairs they pool together:

    - ``'batch'``: one set per channel, across the N examples (spatial batch normalization);
    - ``'layer'``: one set per example, all its channels;
    - ``'instance'``: one set per example and channel;
    - ``'group'``: one set per example and group of C / G consecutive channels.

    Returns an int array of shape (N, C) whose equal entries are normalised together, numbered
    0, 1, ... in row-major order of first appearance. Raises ValueError for an unknown method
    or when C is not a multiple of G.
    """
    if method not in NORMALIZATIONS:
        raise ValueError(f"method must be one of {', '.join(NORMALIZATIONS)}; got {method!r}")
    if method == "group" and (G < 1 or C % G):
        raise ValueError(f"group normalization needs C = {C} to be a multiple of G = {G}")
    n, c = np.meshgrid(np.arange(N), np.arange(C), indexing="ij")  # (N, C) each
    if method == "batch":
        return c
    if method == "layer":
        return n
    if method == "instance":
        return n * C + c
    return n * G + c // (C // G)


def plot_normalization_groups(N: int = 3, C: int = 6, G: int = 2):
    """Compare batch, layer, instance and group normalization in one figure.

    Four panels, one per method of :func:`normalization_groups`: a grid of N examples (rows) by
    C channels (columns), each cell standing for the H x W values of one channel of one example,
    coloured by the set of values that share one mean and variance. Group normalization uses G
    groups. Returns the matplotlib Figure.
    """
    titles = {
        "batch": "Batch norm: each channel,\nacross the batch",
        "layer": "Layer norm: each example,\nall its channels",
        "instance": "Instance norm: each channel\nof each example",
        "group": f"Group norm: each group of {C // G}\nchannels of each example (G = {G})",
    }
    colours = plt.get_cmap("tab20")  # ten hues, each dark then light: the dark ones first
    fig, axes = plt.subplots(1, len(NORMALIZATIONS), figsize=(16, 3.6))
    for ax, method in zip(axes, NORMALIZATIONS):
        groups = normalization_groups(method, N, C, G)
        ax.imshow(colours((2 * groups + groups // 10) % 20), aspect="equal")
        ax.set_xticks(np.arange(C), [str(i) for i in range(C)])
        ax.set_yticks(np.arange(N), [str(i) for i in range(N)])
        ax.set_xticks(np.arange(C + 1) - 0.5, minor=True)
        ax.set_yticks(np.arange(N + 1) - 0.5, minor=True)
        ax.grid(which="minor", color="white", linewidth=2)
        ax.tick_params(which="minor", length=0)
        ax.set_xlabel("channel")
        ax.set_ylabel("example")
        ax.set_title(titles[method])
    fig.suptitle("One colour = one set of values normalised together (each cell: the H × W values of a channel)")
    fig.tight_layout()
    return fig
