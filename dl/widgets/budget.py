"""How often a live view may redraw: a few times a second, and never for more than a share of the time.

A view asks :meth:`RedrawBudget.allows` before each redraw and measures the redraw inside
:meth:`RedrawBudget.spend`. A redraw is allowed when at least ``min_interval`` seconds have passed
since the view opened or the last redraw ended, and the time spent redrawing so far, plus this
redraw and one more (each as long as the last one), is at most ``max_share`` of the time since the
view opened. That reserve pays for the final state, which is drawn regardless of the budget
(:meth:`spend` without :meth:`allows`). So a slow redraw (a big figure, a loaded machine) simply
makes redraws rarer, and a run long enough to afford live redraws (``2 / max_share`` redraw
times) runs at most ``max_share`` slower because of all its redraws, the final one included, as
long as redraws cost about the same (the first one's cost is not known beforehand:
``expected_cost``). A shorter run is drawn once, at its end: that one redraw is its whole cost.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Callable, Iterator

_measured_cost = 0.0  # seconds of the last redraw timed on the real clock in this process


class RedrawBudget:
    """Time spent redrawing a view, against the time since it opened.

    Args:
    - max_share: largest fraction of the elapsed time spent redrawing. Default 0.1.
    - min_interval: seconds between the end of one redraw and the next. Default 0.25.
    - clock: seconds as a float, monotonic; default :func:`time.perf_counter` (tests pass a fake).
    - expected_cost: seconds one redraw is expected to take before one is measured (e.g. what the
      last view's took), so that the reserve for the final state holds from the start.
    """

    def __init__(
        self,
        max_share: float = 0.1,
        min_interval: float = 0.25,
        clock: Callable[[], float] = time.perf_counter,
        expected_cost: float = 0.0,
    ):
        if not 0 < max_share <= 1:
            raise ValueError(f"max_share must be in (0, 1], got {max_share}")
        self.max_share = max_share
        self.min_interval = min_interval
        self.clock = clock
        self.opened = clock()
        self.spent = 0.0
        self.redraws = 0
        self._last_end = self.opened
        self._last_cost = expected_cost

    def allows(self) -> bool:
        """Whether a redraw now keeps within both limits."""
        now = self.clock()
        affordable = self.spent + 2 * self._last_cost <= self.max_share * (now - self.opened)
        return affordable and now - self._last_end >= self.min_interval

    @contextmanager
    def spend(self) -> Iterator[None]:
        """Count the time of the enclosed redraw."""
        start = self.clock()
        try:
            yield
        finally:
            self._last_end = self.clock()
            self._last_cost = self._last_end - start
            self.spent += self._last_cost
            self.redraws += 1
            if self.clock is time.perf_counter:
                global _measured_cost
                _measured_cost = self._last_cost


def default_budget() -> RedrawBudget:
    """A view's budget: at most 10% of the time, 4 redraws a second, each expected to cost what the
    last redraw in this process did (a new view of a short run then waits for its final state)."""
    return RedrawBudget(expected_cost=_measured_cost)
