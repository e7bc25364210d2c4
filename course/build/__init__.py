"""The build: notebook sources in ``course/`` -> nbgrader source notebooks in ``source_notebooks/``.

The steps and their order are in :mod:`course.build.pipeline`; the release (``course.release``)
reuses :mod:`course.build.solution_regions` to write the student edition of ``dl``.
"""
from course.build.context import BuildError
from course.build.pipeline import STEPS, BuildReport, build_all, build_notebook

__all__ = ["STEPS", "BuildError", "BuildReport", "build_all", "build_notebook"]
