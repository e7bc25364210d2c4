"""Live views: state, redraw policy and the static fallback in the display bundle."""
import base64

import numpy as np

from dl.models import FullyConnectedNet
from dl.solver import Solver
from dl.widgets import TrainingDashboard

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
