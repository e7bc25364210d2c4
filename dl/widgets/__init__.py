"""Live views that update while code runs and end as static figures.

- :class:`TrainingDashboard` (:mod:`dl.widgets.dashboard`): training curves of any loop.
- :class:`ImageGrid` (:mod:`dl.widgets.image_grid`): a refreshing grid of images.
- :class:`Explorer` (:mod:`dl.widgets.explorer`): a figure driven by sliders and other controls;
  :class:`KernelEditor` (:mod:`dl.widgets.kernel_editor`) is one.

Each draws through :class:`dl.widgets.view.FigureView`: bound to the cell that runs it, redrawn
within a :class:`dl.widgets.budget.RedrawBudget`, left as a plain PNG when it ends (an explorer:
when another cell runs), and, where widgets cannot render (:mod:`dl.widgets.frontend`), a PNG
redrawn every few seconds.
"""
from dl.widgets.dashboard import TrainingDashboard
from dl.widgets.explorer import Explorer
from dl.widgets.image_grid import ImageGrid
from dl.widgets.kernel_editor import KernelEditor

__all__ = ["Explorer", "ImageGrid", "KernelEditor", "TrainingDashboard"]
