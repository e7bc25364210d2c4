"""One matplotlib figure shown in one cell's output: live while it runs, a plain PNG once it ends.

Every widget of :mod:`dl.widgets` draws through a :class:`FigureView`:

- It opens in the cell that is running when it first draws, and draws only into that output (a
  display id of its own), so a second run in another cell gets a view of its own.
- Where widgets render (an IPython kernel with ipywidgets) it shows an ``ipywidgets.Image`` (above
  it, optional controls such as an explorer's sliders) and redraws it in place as the
  :class:`~dl.widgets.budget.RedrawBudget` allows. An explorer's bundle also holds a PNG of its
  first state for front ends without a widget manager.
- :meth:`FigureView.finish` draws the final state and replaces the live output with that PNG alone
  (``image/png``), so a saved or reopened notebook shows the figure, never "model not found".
  Training views finish when their cell ends; explorers when closed.
- Elsewhere (no ipywidgets, a terminal IPython) it shows only that final PNG; outside IPython
  (a script) nothing, and :attr:`FigureView.figure` holds the result.

The figure is drawn on its own Agg canvas at a small dpi and encoded with fast PNG compression;
callers update its artists in place (``Line2D.set_data``, ``AxesImage.set_data``) rather than
rebuilding axes, which keeps one redraw at a few tens of milliseconds.
"""
from __future__ import annotations

import base64
import io
import uuid
from typing import Callable

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from dl.widgets.budget import RedrawBudget, default_budget
from dl.widgets.frontend import Frontend, widget_view


def render_png(figure: Figure) -> bytes:
    """The figure drawn on its Agg canvas (at ``figure.dpi``) as PNG bytes."""
    canvas = figure.canvas if isinstance(figure.canvas, FigureCanvasAgg) else FigureCanvasAgg(figure)
    canvas.draw()
    width, height = canvas.get_width_height(physical=True)
    pixels = Image.frombuffer("RGBA", (width, height), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
    buffer = io.BytesIO()
    pixels.convert("RGB").save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def png_bundle(png: bytes, text: str) -> dict:
    """A display bundle of a static figure."""
    return {"image/png": base64.b64encode(png).decode("ascii"), "text/plain": text}


class FigureView:
    """Show ``figure`` in the cell running when it first draws (see the module docstring).

    Args:
    - figure: the figure to show.
    - update: brings the figure's artists up to date; called before each drawing, inside the
      time the budget counts (so data are copied into artists only when they are drawn).
    - frontend: where to show it (:func:`dl.widgets.frontend.current_frontend`); ``None``: nowhere.
    - describe: returns the ``text/plain`` of the output, e.g. ``"TrainingDashboard(sgd, adam)"``.
    - controls: a widget shown above the figure while live (an explorer's controls), or ``None``.
    - finish_with_cell: finish when the cell that opened the view ends (training views).
    - budget: makes a :class:`RedrawBudget` when the view opens; default
      :func:`~dl.widgets.budget.default_budget`.

    Attributes: ``png`` (the last PNG drawn), ``finished``, ``budget`` (``None`` until opened).
    """

    def __init__(
        self,
        figure: Figure,
        update: Callable[[], None],
        frontend: Frontend | None,
        describe: Callable[[], str],
        controls=None,
        finish_with_cell: bool = True,
        budget: Callable[[], RedrawBudget] = default_budget,
    ):
        if not isinstance(figure.canvas, FigureCanvasAgg):
            FigureCanvasAgg(figure)  # a canvas kept across views keeps its renderer and its caches
        self.figure = figure
        self.update = update
        self.frontend = frontend
        self.describe = describe
        self.controls = controls
        self.finish_with_cell = finish_with_cell
        self.display_id = uuid.uuid4().hex
        self.png = b""
        self.finished = False
        self.budget: RedrawBudget | None = None
        self._make_budget = budget
        self._image = None  # the live ipywidgets.Image, once open
        self._box = None  # the controls and the image, when there are controls

    @property
    def live(self) -> bool:
        return self.frontend is not None and self.frontend.live

    def refresh(self, force: bool = False) -> bool:
        """Redraw now if the budget allows it (always if ``force``); returns whether it redrew.

        The first call opens the view in the running cell, drawn at once if ``force`` (an
        explorer), else at the first redraw the budget allows. Without a live front end nothing
        is drawn before :meth:`finish`.
        """
        if self.finished:
            raise RuntimeError("this view has finished; the widget opens a new one for a new run")
        if self.budget is None:
            self._open(draw=force)
            return force and self.live
        if not self.live or not (force or self.budget.allows()):
            return False
        with self.budget.spend():
            self._image.value = self._draw()
        return True

    def finish(self) -> None:
        """Draw the final state and leave it as a static PNG in the cell's output."""
        if self.finished:
            return
        self.finished = True
        if self.budget is None:
            self._draw()
        else:
            with self.budget.spend():
                self._draw()
        if self.frontend is None:
            return
        bundle = png_bundle(self.png, self.describe())
        if self._image is None:
            self.frontend.show(bundle, self.display_id)
            return
        self.frontend.replace(bundle, self.display_id)
        for widget in (self._box, self._image):
            if widget is not None:
                widget.close()
        self._image = self._box = None

    def _open(self, draw: bool) -> None:
        self.budget = self._make_budget()
        if self.frontend is not None and self.finish_with_cell:
            self.frontend.on_cell_end(self.finish)
        if not self.live:
            return
        import ipywidgets

        if draw:
            with self.budget.spend():
                self._draw()
        self._image = shown = ipywidgets.Image(value=self.png, format="png")
        if self.controls is not None:
            self._box = shown = ipywidgets.VBox([self.controls, self._image])
        bundle = png_bundle(self.png, self.describe()) if draw else {"text/plain": self.describe()}
        bundle.update(widget_view(shown))
        self.frontend.show(bundle, self.display_id)

    def _draw(self) -> bytes:
        self.update()
        self.png = render_png(self.figure)
        return self.png
