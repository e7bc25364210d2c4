"""Live training curves for any training loop: a Solver callback or ``record(...)`` calls."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from matplotlib.figure import Figure

from dl.vis import (
    draw_training_history, fit_training_axes, legend_training_runs, set_training_history, style_training_axes,
    training_history_lines,
)
from dl.widgets import frontend
from dl.widgets.budget import RedrawBudget, default_budget
from dl.widgets.view import FigureView


@dataclass
class History:
    """A run fed through :meth:`TrainingDashboard.record`: the same fields as a Solver's."""

    loss_history: list = field(default_factory=list)
    train_acc_history: list = field(default_factory=list)
    val_acc_history: list = field(default_factory=list)


class TrainingDashboard:
    """Live training curves: loss per iteration, train and val accuracy per epoch, one line per run,
    and a star on each run's best val accuracy so far.

    As a :class:`dl.solver.Solver` callback, one label per run::

        dashboard = TrainingDashboard("Update rules")
        for rule in ["sgd", "adam"]:
            solver = Solver(model, data, update_rule=rule, callbacks=[dashboard.callback(rule)])
            solver.train()

    (``callbacks=[dashboard]`` is the same with the label ``run``), or from any loop, e.g. a
    PyTorch one: ``dashboard.record("adam", loss=loss.item())`` per iteration and
    ``dashboard.record("adam", train_acc=..., val_acc=...)`` per epoch.

    The curves are shown in the output of the cell that trains (see :mod:`dl.widgets.view`):
    redrawn live a few times a second at most and for at most a tenth of the training time,
    and left as a static figure when the cell ends. A dashboard used again in a later cell opens
    a new view there, holding every run so far; the earlier cell keeps its final figure (the
    views share one Figure, which is drawn faster once it has been drawn). Where widgets do not
    render, the output is a PNG redrawn at most every five seconds, within the same budget.

    Args:
    - title: figure title.
    - figsize: figure size in inches (drawn at 72 dpi).
    - budget: makes the redraw budget of each view (:class:`dl.widgets.budget.RedrawBudget`).
    - check_label: the x label of the accuracy panels, one point per check of the training loop
      (``"Epoch"`` for a Solver; a loop that checks every few iterations says so).

    Attributes: ``runs`` maps each label to its histories (the Solver itself for a callback).
    """

    def __init__(self, title: str | None = None, figsize=(9, 7.5), budget: Callable[[], RedrawBudget] = default_budget,
                 check_label: str = "Epoch"):
        self.title = title
        self.check_label = check_label
        self.figsize = figsize
        self.budget = budget
        self.runs: dict[str, object] = {}
        self.view: FigureView | None = None  # the view of the cell that last trained
        self._figure: Figure | None = None  # the views' figure, made by the first
        self._lines: dict[str, list] = {}  # each run's lines in it (dl.vis.training_history_lines)

    def callback(self, label: str = "run") -> Callable[[object], None]:
        """A callable for ``Solver(callbacks=[...])`` that shows the solver's histories as ``label``."""

        def update(solver) -> None:
            self.runs[label] = solver
            self._refresh()

        return update

    def __call__(self, solver) -> None:
        """Use the dashboard itself as a Solver callback (one run, labelled ``run``)."""
        self.callback("run")(solver)

    def record(self, label: str = "run", loss: float | None = None, train_acc: float | None = None, val_acc: float | None = None) -> None:
        """Append the given values to the histories of ``label`` (a new run on first use)."""
        run = self.runs.setdefault(label, History())
        if not isinstance(run, History):
            raise ValueError(f"run {label!r} is fed by a Solver callback; record() needs a label of its own")
        for history, value in [(run.loss_history, loss), (run.train_acc_history, train_acc), (run.val_acc_history, val_acc)]:
            if value is not None:
                history.append(float(value))
        self._refresh()

    def close(self) -> None:
        """Leave the current view as a static figure now (it does so by itself when its cell ends)."""
        if self.view is not None:
            self.view.finish()

    def figure(self) -> Figure:
        """All runs so far as a new static Figure (not attached to pyplot)."""
        fig = Figure(figsize=self.figsize)
        draw_training_history(fig.subplots(3, 1), self.runs, self.check_label)
        self._decorate(fig)
        return fig

    def describe(self) -> str:
        return f"TrainingDashboard({self.title!r}: {', '.join(self.runs) or 'no runs yet'})"

    def _refresh(self) -> None:
        if self.view is None or self.view.finished:
            if self._figure is None:
                self._figure = Figure(figsize=self.figsize, dpi=72)
                style_training_axes(self._figure.subplots(3, 1), self.check_label)
                self._decorate(self._figure)
            self.view = FigureView(self._figure, self._update_artists, frontend.current_frontend(), self.describe, budget=self.budget)
        self.view.refresh()

    def _update_artists(self) -> None:
        axes = self._figure.axes
        new_runs = [label for label in self.runs if label not in self._lines]
        for label in new_runs:
            self._lines[label] = training_history_lines(axes, label)
        for label, run in self.runs.items():
            set_training_history(self._lines[label], run)
        fit_training_axes(axes)
        if new_runs:
            legend_training_runs(axes, self._lines)

    def _decorate(self, fig: Figure) -> None:
        if self.title:
            fig.suptitle(self.title)
        # Fixed margins: tight_layout would measure every label again, as long as a redraw.
        fig.subplots_adjust(left=0.1, right=0.97, bottom=0.07, top=0.93 if self.title else 0.97, hspace=0.4)
