"""Where a view is shown: the cell output of the running IPython kernel, if there is one.

A view talks to the front end through a few operations: ``show`` a display bundle under a display
id, ``replace`` that output by another bundle, ``on_cell_end`` to be called back once when the
running cell finishes, ``on_next_cell`` to be called back once when the next cell starts after
that, and two flags: ``live``, whether widgets can render here at all, and ``updates``, whether an
output can be replaced after it is shown (a kernel's outputs can; a terminal's printed text
cannot). Only this module knows about IPython; the views take a :class:`Frontend` so that tests
can drive them without one.

Widgets are shown by their view bundle (``application/vnd.jupyter.widget-view+json`` with the
model id), published like any other output. That is what ipywidgets 7 (Colab) and 8 both publish
for a widget, and it lets us give the output a display id, which ``display(widget)`` does not on
ipywidgets 7 (its widgets display themselves through ``_ipython_display_``).
"""
from __future__ import annotations

from typing import Callable, Protocol

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


class Frontend(Protocol):
    """What a view needs from the notebook front end (see the module docstring)."""

    live: bool
    updates: bool

    def show(self, bundle: dict, display_id: str) -> None: ...

    def replace(self, bundle: dict, display_id: str) -> None: ...

    def on_cell_end(self, callback: Callable[[], None]) -> None: ...

    def on_next_cell(self, callback: Callable[[], None]) -> None: ...


class IPythonFrontend:
    """The cell outputs of an IPython shell.

    ``live`` is true in a kernel (the shell has a ``kernel``, so widget comms reach the front end)
    with ipywidgets installed; ``updates`` in any kernel. In a kernel without ipywidgets a view is
    a PNG replaced now and then; in a terminal IPython only its final figure is shown.
    """

    def __init__(self, shell):
        self.shell = shell
        self.updates = getattr(shell, "kernel", None) is not None
        self.live = self.updates and _ipywidgets_installed()

    def show(self, bundle: dict, display_id: str) -> None:
        from IPython.display import display

        display(bundle, raw=True, display_id=display_id)

    def replace(self, bundle: dict, display_id: str) -> None:
        from IPython.display import update_display

        update_display(bundle, raw=True, display_id=display_id)

    def on_cell_end(self, callback: Callable[[], None]) -> None:
        events = self.shell.events

        def once(*_result) -> None:
            events.unregister("post_run_cell", once)
            callback()

        events.register("post_run_cell", once)

    def on_next_cell(self, callback: Callable[[], None]) -> None:
        """``callback()`` when the next cell starts, once the running one has ended. Only cells
        count: a widget's messages (a moved slider) and the silent code some front ends run do not."""
        events = self.shell.events

        def once(*_info) -> None:
            events.unregister("pre_run_cell", once)
            callback()

        self.on_cell_end(lambda: events.register("pre_run_cell", once))


def current_frontend() -> Frontend | None:
    """The running IPython shell's front end, or ``None`` outside IPython (a plain script)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    return None if shell is None else IPythonFrontend(shell)


def widget_view(widget) -> dict:
    """The view part of a display bundle for an ipywidgets widget (the same on ipywidgets 7 and 8)."""
    return {WIDGET_VIEW: {"version_major": 2, "version_minor": 0, "model_id": widget.model_id}}


def _ipywidgets_installed() -> bool:
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True
