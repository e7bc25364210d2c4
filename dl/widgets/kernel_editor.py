"""Edit a 3x3 convolution kernel and watch its response on photos: an :class:`~dl.widgets.explorer.Explorer`."""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from dl.fast_layers import conv_forward_fast
from dl.widgets.explorer import Explorer


class KernelEditor:
    """Edit a 3x3 convolution kernel and watch each photo's response change.

    A 3x3 grid of number fields holds the kernel and a drop-down picks the input channel it is
    applied to: red, green, blue, or all three (the same kernel on each, summed). Every edit
    recomputes the responses with :func:`dl.fast_layers.conv_forward_fast` (one filter, bias 0,
    stride 1, pad 1, so each response has the photo's size) and redraws them in place::

        KernelEditor(course_photos())  # the last line of a cell displays it

    The responses are a PNG redrawn in place, so a saved notebook shows the last ones; the
    fields become a line of text naming the kernel once another cell runs (or on :meth:`close`),
    and running the cell again brings them back (see :class:`~dl.widgets.explorer.Explorer`).
    Where widgets do not render the output is the PNG of the first responses.

    Args:
    - images: shape (N, 3, H, W), channels R, G, B (e.g. :func:`dl.data.course_photos`).
    - kernel: shape (3, 3); default the horizontal-edge kernel ``[[1, 2, 1], [0, 0, 0],
      [-1, -2, -1]]``.
    - channel: ``'R'``, ``'G'``, ``'B'`` or ``'RGB'`` (all three). Default ``'B'``.

    Attributes:
    - cells: 3x3 nested list of ``ipywidgets.FloatText``, ``cells[row][col]`` holding
      ``kernel[row, col]``.
    - channel_picker: the ``ipywidgets.Dropdown`` of the channel.
    - explorer: the :class:`~dl.widgets.explorer.Explorer` that shows the controls and responses.
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
        grid = ipywidgets.GridBox(
            [cell for row in self.cells for cell in row],
            layout=ipywidgets.Layout(grid_template_columns="repeat(3, 84px)"),
        )
        controls = {f"k{row}{col}": self.cells[row][col] for row in range(3) for col in range(3)}
        controls["channel"] = self.channel_picker
        self.explorer = Explorer(
            controls, self._draw, figsize=(4 * len(images), 4.4),
            layout=ipywidgets.HBox([grid, self.channel_picker]), describe=self._describe,
        )

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
        fig = Figure(figsize=self.explorer.figure.get_size_inches())
        self._draw(fig)
        return fig

    def show(self) -> None:
        """Show the editor in the running cell's output (the last line of a cell does this)."""
        self.explorer.show()

    def close(self) -> None:
        """Leave the output as a static figure of the current responses, the fields as text."""
        self.explorer.close()

    def _ipython_display_(self) -> None:
        self.show()

    def _draw(self, fig: Figure, values: dict | None = None) -> None:
        responses = self.response()
        if not fig.axes:
            for index, ax in enumerate(fig.subplots(1, len(responses), squeeze=False)[0]):
                ax.imshow(responses[index], cmap="gray")
                ax.set_title(f"image {index}")
                ax.axis("off")
            fig.tight_layout(rect=(0, 0, 1, 0.92))
        for ax, response in zip(fig.axes, responses):
            shown = ax.images[0]
            shown.set_data(response)
            shown.autoscale()  # min-max scale each response to the grey map
        fig.suptitle(f"Kernel on the {self._CHANNEL_NAMES[self.channel]} channel")

    def _describe(self) -> str:
        return f"KernelEditor(kernel={self.kernel.tolist()}, channel={self.channel!r})"
