"""Live views: state, redraw policy and the static fallback in the display bundle."""
import base64

import numpy as np
import pytest

from dl.fast_layers import conv_forward_fast
from dl.models import FullyConnectedNet
from dl.solver import Solver
from dl.widgets import KernelEditor, TrainingDashboard

PNG_MAGIC = b"\x89PNG"


def test_solver_callback_records_histories_and_renders_fallback():
    rng = np.random.default_rng(0)
    data = {"X_train": rng.standard_normal((40, 6)), "y_train": rng.integers(3, size=40),
            "X_val": rng.standard_normal((10, 6)), "y_val": rng.integers(3, size=10)}
    dashboard = TrainingDashboard("test", min_interval=3600)  # only accuracy checks redraw
    for rule in ("sgd", "adam"):
        np.random.seed(0)
        solver = Solver(FullyConnectedNet([5], input_dim=6, num_classes=3), data, update_rule=rule,
                        num_epochs=2, batch_size=10, verbose=False, callbacks=[dashboard.callback(rule)])
        solver.train()
        assert dashboard.runs[rule].loss_history == solver.loss_history
        assert dashboard.runs[rule].val_acc_history == solver.val_acc_history
    bundle = dashboard._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle  # live view where widgets render
    assert base64.b64decode(bundle["image/png"]).startswith(PNG_MAGIC)  # fallback elsewhere
    assert "sgd, adam" in bundle["text/plain"]
    assert dashboard._image.value == base64.b64decode(bundle["image/png"])


def test_loss_updates_are_throttled_but_accuracy_always_redraws():
    dashboard = TrainingDashboard(min_interval=3600)
    dashboard.record(loss=2.0)  # the first value draws
    first = dashboard._png
    dashboard.record(loss=1.0)
    assert dashboard._png == first  # throttled
    dashboard.record(train_acc=0.5, val_acc=0.4)
    assert dashboard._png != first
    assert dashboard.runs["run"].loss_history == [2.0, 1.0]


def test_figure_has_three_panels_with_labelled_lines():
    dashboard = TrainingDashboard()
    dashboard.record("adam", loss=1.0, train_acc=0.2, val_acc=0.1)
    fig = dashboard.figure()
    labels = [line.get_label() for ax in fig.axes for line in ax.get_lines()]
    assert labels == ["loss_adam", "train_acc_adam", "val_acc_adam"]


def _direct_response(images, kernel, channels):
    """The response computed without the editor: the kernel on ``channels``, zeros elsewhere."""
    w = np.zeros((1, 3, 3, 3))
    for c in channels:
        w[0, c] = kernel
    out, _ = conv_forward_fast(images, w, np.zeros(1), {"stride": 1, "pad": 1})
    return out[:, 0]


@pytest.mark.parametrize("channel, channels", [("R", [0]), ("G", [1]), ("B", [2]), ("RGB", [0, 1, 2])])
def test_kernel_editor_response_matches_direct_convolution(channel, channels):
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (2, 3, 9, 7))
    kernel = rng.standard_normal((3, 3))
    editor = KernelEditor(images, kernel=kernel, channel=channel)
    response = editor.response()
    assert response.shape == (2, 9, 7)
    np.testing.assert_allclose(response, _direct_response(images, kernel, channels), rtol=1e-12, atol=1e-9)


def test_kernel_editor_default_is_horizontal_edges_on_blue():
    editor = KernelEditor(np.zeros((1, 3, 4, 4)))
    np.testing.assert_array_equal(editor.kernel, [[1, 2, 1], [0, 0, 0], [-1, -2, -1]])
    assert editor.channel == "B"


def test_editing_a_cell_or_the_channel_updates_response_and_image():
    rng = np.random.default_rng(1)
    images = rng.uniform(0, 255, (2, 3, 8, 8))
    editor = KernelEditor(images)
    first_png = editor._image.value
    kernel = editor.kernel
    kernel[1, 1] = 4.0
    editor.cells[1][1].value = 4.0  # what typing into the middle field does
    np.testing.assert_allclose(editor.response(), _direct_response(images, kernel, [2]), rtol=1e-12, atol=1e-9)
    assert editor._image.value != first_png  # redrawn
    editor.channel_picker.value = "R"
    np.testing.assert_allclose(editor.response(), _direct_response(images, kernel, [0]), rtol=1e-12, atol=1e-9)


def test_kernel_editor_bundle_has_widget_view_and_png_fallback():
    editor = KernelEditor(np.random.default_rng(2).uniform(0, 255, (2, 3, 6, 6)), channel="G")
    editor.cells[0][0].value = -1.0
    bundle = editor._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    png = base64.b64decode(bundle["image/png"])
    assert png.startswith(PNG_MAGIC) and png == editor._image.value  # the latest state
    assert "channel='G'" in bundle["text/plain"]


@pytest.mark.parametrize("kwargs, match", [
    ({"images": np.zeros((2, 1, 4, 4))}, r"images must have shape \(N, 3, H, W\)"),
    ({"kernel": np.zeros((2, 2))}, r"kernel must have shape \(3, 3\)"),
    ({"channel": "X"}, "channel must be one of"),
])
def test_kernel_editor_rejects_bad_arguments(kwargs, match):
    arguments = {"images": np.zeros((1, 3, 4, 4)), **kwargs}
    with pytest.raises(ValueError, match=match):
        KernelEditor(**arguments)
