"""Make every notebook start in the right folder on Google Colab (:mod:`dl.colab`).

- The step :func:`prepend_colab_setup` writes the source of :func:`dl.colab.colab_setup` and a
  call naming this course, assignment and notebook at the top of the setup cell, which must be
  the notebook's first code cell: nothing may import ``dl`` before it has run. It has no
  top-level imports, so the grader and ``import_notebook``, which take only the import statements
  of a setup cell (:func:`dl.program.assemble`), never run it.
- :func:`marker_outputs` is the marker file (:data:`dl.colab.MARKER`) the build writes into
  ``source_notebooks/<a>/``, which nbgrader copies into the release: the course and assignment ids
  by which ``colab_setup`` finds the folder in the student's Drive, and the requirements of
  ``dl`` (from the ``dl-course`` distribution's metadata, i.e. ``pyproject.toml``) that it
  installs where Colab cannot import them.
"""
from __future__ import annotations

import json

from nbformat import NotebookNode

from course.build.context import BuildContext, BuildError, role
from course.build.inline_references import object_source
from course.build.requirements import module_requirements
from course.manifest import Course
from dl.colab import MARKER

# Requirements whose module is not named like the package (pip name, lower case -> module).

COMMENT = """\
# On Google Colab, colab_setup finds this assignment's folder in your Drive, works there and
# installs what Colab lacks. Anywhere else (JupyterLab, VS Code, Jupyter) it does nothing.
"""


def prepend_colab_setup(nb: NotebookNode, ctx: BuildContext) -> NotebookNode:
    code = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"]
    setups = [i for i in code if role(nb.cells[i]) == "setup"]
    if code and not setups:
        raise BuildError(f'{ctx.where(code[0])}: the notebook has no role="setup" cell; start its code with '
                         '# %% role="setup" (imports and data), which Colab needs to run first')
    if code and setups[0] != code[0]:
        raise BuildError(f'{ctx.where(code[0])}: code before the role="setup" cell ({ctx.where(setups[0])}); '
                         "the setup cell must be the first code cell (in Colab it makes dl importable)")
    if setups:
        cell = nb.cells[setups[0]]
        names = {"marker": MARKER, "course": ctx.course.id, "assignment": ctx.notebook.assignment,
                 "notebook": ctx.notebook.output.name}
        call = f"colab_setup({', '.join(f'{key}={json.dumps(value)}' for key, value in names.items())})"
        cell.source = f"{COMMENT}{object_source('dl.colab', 'colab_setup')}\n\n\n{call}\n\n{cell.source}"
    return nb


def marker_outputs(course: Course, assignment: str) -> dict[str, bytes]:
    """``source_notebooks/<assignment>/<MARKER>`` -> its bytes (sorted JSON, so identical on every machine)."""
    marker = {"course": course.id, "assignment": assignment, "requirements": module_requirements()}
    text = json.dumps(marker, indent=1, sort_keys=True) + "\n"
    return {f"source_notebooks/{assignment}/{MARKER}": text.encode("utf-8")}
