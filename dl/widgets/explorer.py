"""A figure redrawn from the values of a few controls: sliders, drop-downs, number fields."""
from __future__ import annotations

from typing import Callable, Mapping

from matplotlib.figure import Figure

from dl.widgets import frontend
from dl.widgets.budget import RedrawBudget
from dl.widgets.view import FigureView


class Explorer:
    """Redraw a figure whenever one of ``controls`` changes::

        Explorer({"sigma": ipywidgets.FloatSlider(1.0, min=0.1, max=5)}, draw=show_blur)

    where ``show_blur(fig, values)`` draws ``values["sigma"]``'s picture on ``fig``. The last
    expression of a cell (or ``display(explorer)``) shows the controls above the figure in that
    cell's output; every change redraws it in place. Sliders update when released
    (``continuous_update`` is turned off), so each value shown is drawn. :meth:`close` leaves the
    output as a static figure of the current values, which a saved notebook keeps. Where widgets
    do not render the output is that static figure from the start.

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
        self.view = FigureView(
            self.figure, self._update_artists, frontend.current_frontend(), self.describe, controls=self.layout,
            finish_with_cell=False, budget=lambda: RedrawBudget(max_share=1.0, min_interval=0.0),
        )
        self.view.refresh(force=True)
        if not self.view.live:
            self.view.finish()

    def close(self) -> None:
        """Leave the output as a static figure of the current values."""
        if self.view is not None:
            self.view.finish()

    def _ipython_display_(self) -> None:
        self.show()

    def _on_change(self, change) -> None:
        if self.view is not None and not self.view.finished:
            self.view.refresh(force=True)

    def _update_artists(self) -> None:
        self.draw(self.figure, self.values)
