"""Live views that update while code runs, with a static fallback.

A live view is displayed once and then redrawn in place. Its display bundle holds both an
ipywidgets view (rendered live by JupyterLab, Notebook 7, VS Code and Colab) and a PNG of the same
figure, which front ends without a widget manager show instead: nbconvert and nbmake execution,
GitHub, static HTML. The PNG is refreshed at every redraw, so the fallback always shows the
latest state.
"""
from __future__ import annotations

import base64
import io
import time
from dataclasses import dataclass, field

import numpy as np
from matplotlib.figure import Figure

from dl.fast_layers import conv_forward_fast
from dl.vis import draw_training_history


@dataclass
class _Run:
    loss_history: list = field(default_factory=list)
    train_acc_history: list = field(default_factory=list)
    val_acc_history: list = field(default_factory=list)


def _figure_png(fig: Figure, dpi: int = 72) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


class TrainingDashboard:
    """Live training curves: loss per iteration, train and val accuracy per epoch, one line per run.

    Use it as a :class:`dl.solver.Solver` callback, once per run::

        dashboard = TrainingDashboard("Update rules")
        for rule in ["sgd", "adam"]:
            solver = Solver(model, data, update_rule=rule, callbacks=[dashboard.callback(rule)])
            solver.train()

    or feed it from any loop (e.g. a PyTorch one) with :meth:`record`.

    Args:
    - title: figure title.
    - min_interval: seconds between two redraws caused by loss updates alone; a new accuracy
      value always redraws, so the last epoch is always shown.
    - figsize: figure size in inches.
    """

    def __init__(self, title: str | None = None, min_interval: float = 0.5, figsize=(12, 10)):
        import ipywidgets

        self.title = title
        self.min_interval = min_interval
        self.figsize = figsize
        self.runs: dict[str, _Run] = {}
        self._image = ipywidgets.Image(format="png")
        self._png = b""
        self._handle = None
        self._last_draw = float("-inf")

    def callback(self, label: str = "run"):
        """A callable for ``Solver(callbacks=[...])`` that records the solver's histories as ``label``."""

        def update(solver) -> None:
            run = self.runs.setdefault(label, _Run())
            new_accuracy = len(solver.val_acc_history) != len(run.val_acc_history)
            run.loss_history = list(solver.loss_history)
            run.train_acc_history = list(solver.train_acc_history)
            run.val_acc_history = list(solver.val_acc_history)
            self._refresh(force=new_accuracy)

        return update

    def __call__(self, solver) -> None:
        """Use the dashboard itself as a callback (one run, labelled ``run``)."""
        self.callback("run")(solver)

    def record(self, label: str = "run", loss: float | None = None, train_acc: float | None = None, val_acc: float | None = None) -> None:
        """Append values for ``label`` from any training loop; accuracy values force a redraw."""
        run = self.runs.setdefault(label, _Run())
        if loss is not None:
            run.loss_history.append(float(loss))
        if train_acc is not None:
            run.train_acc_history.append(float(train_acc))
        if val_acc is not None:
            run.val_acc_history.append(float(val_acc))
        self._refresh(force=train_acc is not None or val_acc is not None)

    def figure(self) -> Figure:
        """The current state as a new matplotlib Figure (not attached to pyplot)."""
        fig = Figure(figsize=self.figsize)
        axes = fig.subplots(3, 1)
        draw_training_history(axes, self.runs)
        if self.title:
            fig.suptitle(self.title)
        fig.tight_layout()
        return fig

    def _refresh(self, force: bool) -> None:
        now = time.monotonic()
        if not force and now - self._last_draw < self.min_interval:
            return
        self._last_draw = now
        self._png = _figure_png(self.figure())
        self._image.value = self._png  # a live widget view redraws from this
        if self._handle is None:
            self._handle = _display(self)
        elif force:
            # Re-sending the bundle refreshes the static fallback; only on accuracy checks, so live
            # views do not flicker at every loss update. The last iteration always forces.
            self._handle.update(self)

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        bundle = dict(self._image._repr_mimebundle_(include=include, exclude=exclude) or {})
        bundle["text/plain"] = f"TrainingDashboard({', '.join(self.runs) or 'no runs yet'})"
        if self._png:
            bundle["image/png"] = base64.b64encode(self._png).decode("ascii")
        return bundle


class KernelEditor:
    """Edit a 3x3 convolution kernel and watch each photo's response change.

    A 3x3 grid of number fields holds the kernel and a drop-down picks the input channel it is
    applied to: red, green, blue, or all three (the same kernel on each, summed). Every edit
    recomputes the responses with :func:`dl.fast_layers.conv_forward_fast` (one filter, bias 0,
    stride 1, pad 1, so each response has the photo's size) and redraws them in place::

        KernelEditor(course_photos())  # the last line of a cell displays it

    Where widgets do not render (nbconvert, GitHub, static HTML) the display shows a PNG of the
    responses as they were when the editor was displayed.

    Args:
    - images: shape (N, 3, H, W), channels R, G, B (e.g. :func:`dl.data.course_photos`).
    - kernel: shape (3, 3); default the horizontal-edge kernel ``[[1, 2, 1], [0, 0, 0],
      [-1, -2, -1]]``.
    - channel: ``'R'``, ``'G'``, ``'B'`` or ``'RGB'`` (all three). Default ``'B'``.

    Attributes:
    - cells: 3x3 nested list of ``ipywidgets.FloatText``, ``cells[row][col]`` holding
      ``kernel[row, col]``.
    - channel_picker: the ``ipywidgets.Dropdown`` of the channel.
    - widget: the whole editor as one ipywidgets box.
    """

    CHANNELS = {"R": (0,), "G": (1,), "B": (2,), "RGB": (0, 1, 2)}
    _CHANNEL_NAMES = {"R": "red", "G": "green", "B": "blue", "RGB": "all three"}

    def __init__(self, images: np.ndarray, kernel: np.ndarray | None = None, channel: str = "B"):
        import ipywidgets

        images = np.asarray(images, dtype=np.float64)
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"images must have shape (N, 3, H, W), got {images.shape}")
        if kernel is None:
            kernel = [[1, 2, 1], [0, 0, 0], [-1, -2, -1]]
        kernel = np.asarray(kernel, dtype=np.float64)
        if kernel.shape != (3, 3):
            raise ValueError(f"kernel must have shape (3, 3), got {kernel.shape}")
        if channel not in self.CHANNELS:
            raise ValueError(f"channel must be one of {list(self.CHANNELS)}, got {channel!r}")

        self.images = images
        self.cells = [
            [ipywidgets.FloatText(value=float(kernel[row, col]), step=0.1, layout=ipywidgets.Layout(width="80px"))
             for col in range(3)]
            for row in range(3)
        ]
        self.channel_picker = ipywidgets.Dropdown(
            options=[(name, key) for key, name in self._CHANNEL_NAMES.items()], value=channel, description="channel"
        )
        self._image = ipywidgets.Image(format="png")
        for control in [*(cell for row in self.cells for cell in row), self.channel_picker]:
            control.observe(self._on_change, names="value")
        grid = ipywidgets.GridBox(
            [cell for row in self.cells for cell in row],
            layout=ipywidgets.Layout(grid_template_columns="repeat(3, 84px)"),
        )
        self.widget = ipywidgets.VBox([ipywidgets.HBox([grid, self.channel_picker]), self._image])
        self._png = b""
        self._refresh()

    @property
    def kernel(self) -> np.ndarray:
        """The current kernel, shape (3, 3)."""
        return np.array([[cell.value for cell in row] for row in self.cells], dtype=np.float64)

    @property
    def channel(self) -> str:
        """The current channel: ``'R'``, ``'G'``, ``'B'`` or ``'RGB'``."""
        return self.channel_picker.value

    def weights(self) -> np.ndarray:
        """The conv filter, shape (1, 3, 3, 3): the kernel on the chosen channel(s), zeros elsewhere."""
        w = np.zeros((1, 3, 3, 3))
        w[0, list(self.CHANNELS[self.channel])] = self.kernel
        return w

    def response(self) -> np.ndarray:
        """Each image's response to the current filter, shape (N, H, W)."""
        out, _ = conv_forward_fast(self.images, self.weights(), np.zeros(1), {"stride": 1, "pad": 1})
        return out[:, 0]  # (N, 1, H, W) -> (N, H, W)

    def figure(self) -> Figure:
        """The responses side by side, each min-max scaled to grey, as a new Figure (not in pyplot)."""
        responses = self.response()
        fig = Figure(figsize=(4 * len(responses), 4.4))
        axes = fig.subplots(1, len(responses), squeeze=False)[0]
        for index, (ax, response) in enumerate(zip(axes, responses)):
            ax.imshow(response, cmap="gray")
            ax.set_title(f"image {index}")
            ax.axis("off")
        fig.suptitle(f"Kernel on the {self._CHANNEL_NAMES[self.channel]} channel")
        fig.tight_layout()
        return fig

    def _on_change(self, change) -> None:
        self._refresh()

    def _refresh(self) -> None:
        self._png = _figure_png(self.figure())
        self._image.value = self._png  # a live widget view redraws from this

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        bundle = dict(self.widget._repr_mimebundle_(include=include, exclude=exclude) or {})
        bundle["text/plain"] = f"KernelEditor(kernel={self.kernel.tolist()}, channel={self.channel!r})"
        bundle["image/png"] = base64.b64encode(self._png).decode("ascii")
        return bundle


def _display(obj):
    """Display ``obj`` with a display id so it can be updated; ``None`` outside IPython."""
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        return None
    if get_ipython() is None:
        return None
    return display(obj, display_id=True)
