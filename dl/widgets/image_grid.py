"""A grid of images refreshed while code runs: GAN samples, saliency maps, filters."""
from __future__ import annotations

from typing import Callable

import numpy as np
from matplotlib.figure import Figure

from dl.vis import visualize_grid
from dl.widgets import frontend
from dl.widgets.budget import RedrawBudget, default_budget
from dl.widgets.view import FigureView


class ImageGrid:
    """Show the latest batch of images as one tiled grid, redrawn in place::

        grid = ImageGrid("Generator samples")
        for step in range(num_steps):
            ...
            if step % 50 == 0:
                grid.update(fake_images, title=f"step {step}")

    Each image is min-max scaled on its own (:func:`dl.vis.visualize_grid`). The grid lives in
    the output of the cell that calls :meth:`update`; it is redrawn as its redraw budget allows
    and ends as a static figure of the last images when the cell ends (see
    :mod:`dl.widgets.view`; where widgets do not render it is a PNG redrawn every few seconds);
    updates from a later cell open a new grid there.

    Args:
    - title: figure title (each :meth:`update` may replace it).
    - figsize: figure size in inches (drawn at 72 dpi).
    - cmap: colour map of one-channel images.
    - budget: makes the redraw budget of each view.
    """

    def __init__(self, title: str | None = None, figsize=(6, 6), cmap: str = "gray", budget: Callable[[], RedrawBudget] = default_budget):
        self.title = title
        self.figsize = figsize
        self.cmap = cmap
        self.budget = budget
        self.images: np.ndarray | None = None
        self.view: FigureView | None = None
        self._axes_image = None

    def update(self, images, title: str | None = None) -> None:
        """Show ``images``: shape (N, H, W) or (N, H, W, 1) grey, or (N, H, W, 3) colour (copied)."""
        images = np.array(images, dtype=np.float64)
        if images.ndim == 3:
            images = images[..., None]
        if images.ndim != 4 or images.shape[-1] not in (1, 3) or len(images) == 0:
            raise ValueError(
                f"images must have shape (N, H, W), (N, H, W, 1) or (N, H, W, 3) with N > 0, got {images.shape}; "
                "for channels-first (N, C, H, W) pass images.transpose(0, 2, 3, 1)"
            )
        self.images = images
        if title is not None:
            self.title = title
        if self.view is None or self.view.finished:
            fig = Figure(figsize=self.figsize, dpi=72)
            ax = fig.add_axes((0, 0, 1, 0.93))
            ax.axis("off")
            self._axes_image = None
            self.view = FigureView(fig, self._update_artists, frontend.current_frontend(), self.describe, budget=self.budget)
        self.view.refresh()

    def close(self) -> None:
        """Leave the grid as a static figure now (it does so by itself when its cell ends)."""
        if self.view is not None:
            self.view.finish()

    def describe(self) -> str:
        shape = None if self.images is None else self.images.shape
        return f"ImageGrid({self.title!r}, images of shape {shape})"

    def _update_artists(self) -> None:
        grid = visualize_grid(self.images, ubound=1.0)
        grid = grid[..., 0] if grid.shape[-1] == 1 else grid
        fig = self.view.figure
        if self._axes_image is None or self._axes_image.get_array().shape != grid.shape:
            ax = fig.axes[0]
            ax.clear()
            ax.axis("off")
            self._axes_image = ax.imshow(grid, cmap=self.cmap, vmin=0.0, vmax=1.0)
        else:
            self._axes_image.set_data(grid)
        fig.suptitle(self.title or "")
