"""Static figures: visualize_grid layout, the training-history and sweep plots, imshow_no_ax, the
normalization comparison."""
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from dl.layers import spatial_batchnorm_forward, spatial_groupnorm_forward  # noqa: E402
from dl.vis import (  # noqa: E402
    NORMALIZATIONS,
    imshow_no_ax,
    normalization_groups,
    plot_normalization_groups,
    plot_solver_comparison,
    plot_training_history,
    plot_weight_scale_sweep,
    visualize_grid,
)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _run(seed: int, epochs: int = 3) -> SimpleNamespace:
    """A stand-in for a trained Solver: seeded histories of the right lengths."""
    rng = np.random.default_rng(seed)
    return SimpleNamespace(loss_history=list(rng.random(10)), train_acc_history=list(rng.random(epochs + 1)),
                           val_acc_history=list(rng.random(epochs + 1)))


def test_grid_layout_and_rescaling():
    rng = np.random.default_rng(0)
    Xs = rng.standard_normal((5, 3, 4, 2))  # N, H, W, C: a 3 x 3 grid with 4 empty cells
    grid = visualize_grid(Xs, ubound=255.0, padding=1)
    assert grid.shape == (3 * 3 + 2, 3 * 4 + 2, 2)
    for index, image in enumerate(Xs):
        row, col = divmod(index, 3)
        tile = grid[row * 4:row * 4 + 3, col * 5:col * 5 + 4]
        np.testing.assert_allclose(tile, 255.0 * (image - image.min()) / (image.max() - image.min()))
        assert tile.min() == 0.0 and tile.max() == 255.0
    assert not grid[3].any() and not grid[:, 4].any()  # padding rows and columns stay 0
    assert not grid[8:, 5:].any()  # unused cells stay 0


def test_constant_image_and_custom_bound():
    Xs = np.stack([np.full((2, 2, 1), 7.0), np.arange(4.0).reshape(2, 2, 1)])
    grid = visualize_grid(Xs, ubound=1.0, padding=0)
    assert grid.shape == (4, 4, 1)
    assert not grid[:2, :2].any()
    np.testing.assert_allclose(grid[:2, 2:, 0], [[0, 1 / 3], [2 / 3, 1]])


def test_plot_training_history_labels_markers_and_legend():
    norm_runs, baseline = [_run(1), _run(2), _run(3)], _run(4)
    ax = plot_training_history("Train accuracy", "Epoch", baseline, norm_runs, lambda s: s.train_acc_history,
                               bl_marker="-^", bn_marker="-o", labels=[5, 10, 50])
    assert ax is plt.gca()
    assert ax.get_title() == "Train accuracy" and ax.get_xlabel() == "Epoch"
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["with_norm5", "with_norm10", "with_norm50", "baseline5"]
    for line, run in zip(lines, [*norm_runs, baseline]):
        np.testing.assert_array_equal(line.get_ydata(), run.train_acc_history)
    assert [line.get_marker() for line in lines] == ["o", "o", "o", "^"]
    legend = ax.get_legend()
    assert [text.get_text() for text in legend.get_texts()] == ["with_norm5", "with_norm10", "with_norm50", "baseline5"]
    assert legend._ncols == 4  # one column per line


def test_plot_training_history_without_labels():
    ax = plot_training_history("Loss", "Iteration", _run(0), [_run(1)], lambda s: s.loss_history)
    assert [line.get_label() for line in ax.get_lines()] == ["with_norm", "baseline"]
    assert [line.get_marker() for line in ax.get_lines()] == [".", "."]


def test_plot_solver_comparison_three_panels_one_line_per_run():
    fig = plot_solver_comparison({"sgd": _run(0), "adam": _run(1)}, title="Update rules")
    assert len(fig.axes) == 3
    labels = [[line.get_label() for line in ax.get_lines()] for ax in fig.axes]
    assert labels == [["loss_sgd", "loss_adam"], ["train_acc_sgd", "train_acc_adam"],
                      ["val_acc_sgd", "best_val_acc_sgd", "val_acc_adam", "best_val_acc_adam"]]
    assert fig._suptitle.get_text() == "Update rules"
    # one legend, naming the runs, on the loss panel
    assert [text.get_text() for text in fig.axes[0].get_legend().get_texts()] == ["sgd", "adam"]
    assert [ax.get_legend() for ax in fig.axes[1:]] == [None, None]


def test_plot_weight_scale_sweep_axes():
    rng = np.random.default_rng(0)
    scales = np.logspace(-4, 0, num=3)
    keys = ("best_val_acc", "best_train_acc", "final_train_loss")
    results = {"weight_scales": scales,
               "baseline": {key: rng.random(3) for key in keys}, "batchnorm": {key: rng.random(3) for key in keys}}
    fig = plot_weight_scale_sweep(results)
    assert len(fig.axes) == 3
    for ax, key in zip(fig.axes, keys):
        assert ax.get_xscale() == "log"
        lines = ax.get_lines()
        assert [line.get_label() for line in lines] == ["baseline", "batchnorm"]
        assert [text.get_text() for text in ax.get_legend().get_texts()] == ["baseline", "batchnorm"]
        np.testing.assert_array_equal(lines[0].get_xdata(), scales)
        np.testing.assert_array_equal(lines[0].get_ydata(), results["baseline"][key])
        np.testing.assert_array_equal(lines[1].get_ydata(), results["batchnorm"][key])
    assert fig.axes[2].get_ylim() == (1.0, 3.5)


@pytest.mark.parametrize("shape", [(4, 5), (4, 5, 3)])
def test_imshow_no_ax_normalizes_to_uint8_and_hides_axes(shape):
    img = np.random.default_rng(0).standard_normal(shape) * 7 - 3
    shown = imshow_no_ax(img)
    data = np.asarray(shown.get_array())
    assert data.dtype == np.uint8 and data.shape == shape
    assert data.min() == 0 and data.max() == 255
    np.testing.assert_array_equal(data, np.rint(255 * (img - img.min()) / (img.max() - img.min())))
    assert not plt.gca().axison


def test_imshow_no_ax_keeps_values_without_normalize_and_rejects_bad_shapes():
    img = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    np.testing.assert_array_equal(np.asarray(imshow_no_ax(img, normalize=False).get_array()), img)
    with pytest.raises(ValueError, match=r"\(H, W\) or \(H, W, 3\)"):
        imshow_no_ax(np.zeros((2, 2, 4)))


def _normalize(method: str, x: np.ndarray, G: int) -> np.ndarray:
    """x (N, C, H, W) normalised by the reference layer that implements ``method`` (gamma 1, beta 0)."""
    C = x.shape[1]
    if method == "batch":
        return spatial_batchnorm_forward(x, np.ones(C), np.zeros(C), {"mode": "train"})[0]
    groups = {"layer": 1, "instance": C, "group": G}[method]
    return spatial_groupnorm_forward(x, np.ones((1, C, 1, 1)), np.zeros((1, C, 1, 1)), groups, {})[0]


@pytest.mark.parametrize("method", NORMALIZATIONS)
def test_normalization_groups_are_the_sets_the_layers_standardise(method):
    """The figure draws what the reference layers compute: each drawn set comes out with mean 0 and
    std 1, and there are as many sets as the method has statistics."""
    N, C, H, W, G = 3, 6, 4, 5, 2
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, C, H, W)) * rng.uniform(1, 5, size=(N, C, 1, 1)) + rng.normal(0, 10, size=(N, C, 1, 1))
    out = _normalize(method, x, G)
    groups = normalization_groups(method, N, C, G)
    assert groups.shape == (N, C)
    expected_sets = {"batch": C, "layer": N, "instance": N * C, "group": N * G}[method]
    assert sorted(np.unique(groups)) == list(range(expected_sets))
    for g in range(expected_sets):
        values = out[groups == g]  # (cells in the set, H, W)
        assert abs(values.mean()) < 1e-9
        assert values.std() == pytest.approx(1.0, abs=1e-5)  # eps = 1e-5 shrinks it a little


def test_normalization_groups_refuses_unknown_methods_and_uneven_groups():
    with pytest.raises(ValueError, match="one of batch, layer, instance, group"):
        normalization_groups("weight", 2, 4)
    with pytest.raises(ValueError, match="C = 6 to be a multiple of G = 4"):
        normalization_groups("group", 2, 6, G=4)


def test_plot_normalization_groups_has_one_titled_panel_per_method():
    fig = plot_normalization_groups(N=2, C=4, G=2)
    titles = [ax.get_title() for ax in fig.axes]
    assert [t.split()[0] for t in titles] == ["Batch", "Layer", "Instance", "Group"]
    assert "G = 2" in titles[3]
    assert all(ax.images[0].get_array().shape[:2] == (2, 4) for ax in fig.axes)


def test_a_star_marks_the_best_val_accuracy_so_far_in_the_runs_colour():
    run = _run(0)
    run.val_acc_history = [0.2, 0.5, 0.4, 0.5]
    fig = plot_solver_comparison({"sgd": run})
    val, best = fig.axes[2].get_lines()
    assert list(best.get_xdata()) == [1] and list(best.get_ydata()) == [0.5]  # the first of the equal best
    assert best.get_marker() == "*" and best.get_color() == val.get_color()
    run.val_acc_history = []
    fig = plot_solver_comparison({"sgd": run})
    assert len(fig.axes[2].get_lines()[1].get_xdata()) == 0  # no star before the first check
