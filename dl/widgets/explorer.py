"""A figure redrawn from the values of a few controls: sliders, drop-downs, number fields."""
from __future__ import annotations

import uuid
from typing import Callable, Mapping

from matplotlib.figure import Figure

from dl.widgets import frontend
from dl.widgets.frontend import Frontend, widget_view
from dl.widgets.view import FigureView


class Explorer:
    """Redraw a figure whenever one of ``controls`` changes::

        Explorer({"sigma": ipywidgets.FloatSlider(1.0, min=0.1, max=5)}, draw=show_blur)

    where ``show_blur(fig, values)`` draws ``values["sigma"]``'s picture on ``fig``. The last
    expression of a cell (or ``display(explorer)``) shows it in that cell's output: the controls,
    and below them the figure, a plain PNG that every change redraws in place. Sliders update when
    released (``continuous_update`` is turned off), so each value shown is drawn.

    The figure is an image, not a widget, so a notebook saved at any time shows it as last drawn.
    The controls are a widget, whose model dies with the kernel: so that a saved notebook does not
    show "Error displaying widget: model not found" in their place, the explorer ends as soon as
    another cell runs (or on :meth:`close`): the controls become a line of text naming the values
    the figure shows. Run its cell again to explore again. Where widgets do not render the output
    is the static figure of the first values from the start.

    Args:
    - controls: maps a name to an ipywidgets control with a ``value``.
    - draw: ``draw(fig, values)`` draws on ``fig`` (the same Figure every time: create the axes
      once, when ``fig.axes`` is empty, and update their artists afterwards) for ``values``, a
      dict of each control's current value.
    - figsize: figure size in inches (drawn at 72 dpi).
    - layout: the widget that arranges the controls; default one below the other.
    - describe: the output's ``text/plain``; default lists the values.
    """

    def __init__(
        self,
        controls: Mapping[str, object],
        draw: Callable[[Figure, dict], None],
        figsize=(8, 4),
        layout=None,
        describe: Callable[[], str] | None = None,
    ):
        import ipywidgets

        self.controls = dict(controls)
        self.draw = draw
        self.figure = Figure(figsize=figsize, dpi=72)
        self.layout = layout if layout is not None else ipywidgets.VBox(list(self.controls.values()))
        self.describe = describe or (lambda: f"Explorer({self.values})")
        self.view: FigureView | None = None
        self._controls_shown: tuple[Frontend, str] | None = None  # where the live controls are shown
        for control in self.controls.values():
            if control.has_trait("continuous_update"):
                control.continuous_update = False
            control.observe(self._on_change, names="value")

    @property
    def values(self) -> dict:
        """Each control's current value, by name."""
        return {name: control.value for name, control in self.controls.items()}

    def show(self) -> None:
        """Show the explorer in the running cell's output (a view shown earlier becomes static)."""
        self.close()
        shown = frontend.current_frontend()
        # every change redraws (refresh(force=True)): the budget only counts the time
        self.view = FigureView(self.figure, self._update_artists, shown, self.describe, widget=False, finish_with_cell=False)
        if shown is None or not shown.live:
            self.view.finish()
            return
        display_id = uuid.uuid4().hex
        shown.show({"text/plain": self.describe(), **widget_view(self.layout)}, display_id)
        self._controls_shown = (shown, display_id)
        self.view.refresh(force=True)
        shown.on_next_cell(self.close)

    def close(self) -> None:
        """Leave the output as a static figure of the current values, the controls as their text."""
        if self.view is None or self.view.finished:
            return
        self.view.finish(redraw=False)
        if self._controls_shown is not None:
            shown, display_id = self._controls_shown
            shown.replace({"text/plain": f"{self.describe()}; static now: run this cell again to explore"}, display_id)
            self._controls_shown = None

    def _ipython_display_(self) -> None:
        self.show()

    def _on_change(self, change) -> None:
        if self.view is not None and not self.view.finished:
            self.view.refresh(force=True)

    def _update_artists(self) -> None:
        self.draw(self.figure, self.values)
