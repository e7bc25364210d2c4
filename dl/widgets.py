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

from matplotlib.figure import Figure

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
