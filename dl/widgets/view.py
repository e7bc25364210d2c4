"""One matplotlib figure shown in one cell's output: redrawn while it runs, a plain PNG once it ends.

Every widget of :mod:`dl.widgets` draws through a :class:`FigureView`:

- It opens in the cell that is running when it first draws, and draws only into that output (a
  display id of its own), so a second run in another cell gets a view of its own.
- Where widgets render (an IPython kernel with ipywidgets) a training view shows an
  ``ipywidgets.Image`` and redraws it in place as the :class:`~dl.widgets.budget.RedrawBudget`
  allows.
- Otherwise, where outputs can be replaced (a kernel without ipywidgets), and for explorers
  everywhere, the output is a plain PNG replaced in place by each redraw (``update_display``):
  a saved notebook holds the figure as it was last drawn. Training views then redraw at most
  every :data:`STATIC_INTERVAL` seconds, within the same budget, so a long run still shows its
  progress.
- :meth:`FigureView.finish` draws the final state and leaves the output as that PNG alone
  (``image/png``), so a saved or reopened notebook shows the figure, never "model not found".
  Training views finish when their cell ends; explorers when another cell runs or when closed.
- In a terminal IPython only the final figure is shown; outside IPython (a script) nothing, and
  :attr:`FigureView.figure` holds the result.

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

STATIC_INTERVAL = 5.0  # seconds between the redraws of a training view shown as a plain PNG


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
    - widget: show an ``ipywidgets.Image`` where widgets render (training views); ``False``: a
      PNG replaced in place everywhere (explorers, whose controls are shown apart).
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
        widget: bool = True,
        finish_with_cell: bool = True,
        budget: Callable[[], RedrawBudget] = default_budget,
    ):
        if not isinstance(figure.canvas, FigureCanvasAgg):
            FigureCanvasAgg(figure)  # a canvas kept across views keeps its renderer and its caches
        self.figure = figure
        self.update = update
        self.frontend = frontend
        self.describe = describe
        self.widget = widget
        self.finish_with_cell = finish_with_cell
        self.display_id = uuid.uuid4().hex
        self.png = b""
        self.finished = False
        self.budget: RedrawBudget | None = None
        self._make_budget = budget
        self._image = None  # the live ipywidgets.Image, once open
        self._shown = False  # whether the output under display_id exists

    @property
    def live(self) -> bool:
        """Whether it is redrawn while it runs (an Image widget, or a PNG replaced in place)."""
        return self.frontend is not None and (self.frontend.updates or self.frontend.live)

    def refresh(self, force: bool = False) -> bool:
        """Redraw now if the budget allows it (always if ``force``); returns whether it redrew.

        The first call opens the view in the running cell, drawn at once if ``force`` (an
        explorer), else at the first redraw the budget allows. Without a live front end nothing
        is drawn before :meth:`finish`.
        """
        if self.finished:
            raise RuntimeError("this view has finished; the widget opens a new one for a new run")
        if self.budget is None:
            self._open()
        if not self.live or not (force or self.budget.allows()):
            return False
        with self.budget.spend():
            png = self._draw()
            if self._image is not None:
                self._image.value = png
            else:
                self._publish(png_bundle(png, self.describe()))
        return True

    def finish(self, redraw: bool = True) -> None:
        """Leave the final state as a static PNG in the cell's output: drawn again unless
        ``redraw`` is false and the PNG shown is already current (an explorer's last change)."""
        if self.finished:
            return
        self.finished = True
        if redraw or not self.png:
            if self.budget is None:
                self._draw()
            else:
                with self.budget.spend():
                    self._draw()
        elif self._image is None and self._shown:
            return  # the PNG shown is the final one
        if self.frontend is None:
            return
        self._publish(png_bundle(self.png, self.describe()))
        if self._image is not None:
            self._image.close()
            self._image = None

    def _open(self) -> None:
        self.budget = self._make_budget()
        if self.frontend is not None and self.finish_with_cell:
            self.frontend.on_cell_end(self.finish)
        if not self.live:
            return
        if not (self.widget and self.frontend.live):
            self.budget.min_interval = max(self.budget.min_interval, STATIC_INTERVAL)  # forced redraws ignore it
            return
        import ipywidgets

        self._image = ipywidgets.Image(value=b"", format="png")
        self._publish({"text/plain": self.describe(), **widget_view(self._image)})

    def _publish(self, bundle: dict) -> None:
        """Show ``bundle`` as this view's output, or replace the output shown."""
        if self._shown:
            self.frontend.replace(bundle, self.display_id)
        else:
            self.frontend.show(bundle, self.display_id)
            self._shown = True

    def _draw(self) -> bytes:
        self.update()
        self.png = render_png(self.figure)
        return self.png
