"""Tiny FullyConnectedNets notebooks for the grader tests, built with nbformat from the ``dl`` sources.

The release notebook has the cell roles and metadata of docs/authoring.md: a setup cell (imports,
then data loading that the grader must never run), one answer cell per unit (the reference
source with each solution region replaced by a stub), a provided cell, check cells and hidden
test cells. A submission is the release with answer cells filled in: by default with the
reference sources (solution markers removed), or with any source a test passes.
"""
from __future__ import annotations

import copy
import inspect
import random
import re
from pathlib import Path

import nbformat

from autograder.manifest import read_units
from autograder.units import Unit
from dl import layer_utils, layers, optim
from dl.models import fc_net

NOTEBOOK = "FullyConnectedNets"
UNITS: list[Unit] = read_units()[NOTEBOOK]
CODE_UNITS = [u for u in UNITS if u.names]
SOLUTION_REGION = re.compile(r"^([ \t]*)### BEGIN SOLUTION\n.*?^[ \t]*### END SOLUTION\n", re.S | re.M)
MARKER_LINE = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION\n", re.M)

SETUP = """\
import numpy as np
import matplotlib.pyplot as plt

from dl.data import get_cifar10_data
from dl.gradcheck import eval_numerical_gradient, eval_numerical_gradient_array, rel_error
from dl.models.fc_net import save_fc_net
from dl.solver import Solver
from dl.utils import smoke_mode
from dl.vis import setup_notebook

setup_notebook()
data = get_cifar10_data()  # the grader takes only the imports of this cell
for name, array in data.items():
    print(f"{name}: {array.shape}")
"""

def _object(reference: str):
    module, name = reference.split(":")
    return getattr({"dl.layers": layers, "dl.optim": optim, "dl.models.fc_net": fc_net}[module], name)


def reference_source(unit: Unit) -> str:
    """The unit's reference source from ``dl`` with its solution marker lines removed."""
    return MARKER_LINE.sub("", inspect.getsource(_object(unit.reference)))


def stub_source(unit: Unit) -> str:
    """What the release gives the student: the reference with each solution region stubbed."""
    source = inspect.getsource(_object(unit.reference))
    return SOLUTION_REGION.sub(lambda m: f"{m.group(1)}# YOUR CODE HERE\n{m.group(1)}raise NotImplementedError\n", source)


def _cell(kind: str, source: str, role: str, unit: str | None = None, nbgrader: dict | None = None):
    make = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
    cell = make(source)
    cell.metadata["dl"] = {"role": role, **({"unit": unit} if unit else {})}
    if nbgrader:
        cell.metadata["nbgrader"] = {"schema_version": 3, **nbgrader}
    return cell


def _unit_cell(unit: Unit, source: str):
    return _cell("code", source, "unit", unit.grade_id,
                 {"grade_id": unit.grade_id, "solution": True, "grade": False, "locked": False})


def release_notebook() -> nbformat.NotebookNode:
    """The release notebook as students receive it."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["dl"] = {"assignment": "a1", "notebook": NOTEBOOK, "generated_by": "tests"}
    cells = [_cell("markdown", "# Fully connected networks", "prose"),
             _cell("code", SETUP, "setup", nbgrader={"grade_id": "fc-setup-1", "locked": True, "solution": False, "grade": False})]
    for unit in UNITS:
        if unit.names == ("softmax_loss",):
            provided = "\n\n".join(MARKER_LINE.sub("", inspect.getsource(f))
                                   for f in (layer_utils.affine_relu_forward, layer_utils.affine_relu_backward))
            cells.append(_cell("code", provided, "provide",
                               nbgrader={"grade_id": "fc-provide-1", "locked": True, "solution": False, "grade": False}))
        if unit.names:
            cells.append(_cell("markdown", f"Implement `{unit.names[0]}`.", "prose"))
            cells.append(_unit_cell(unit, stub_source(unit)))
            cells.append(_cell("code", f"assert False, 'visible check of {unit.names[0]}: never run by the grader'", "check"))
        else:
            cells.append(_cell("code", "raise RuntimeError('the training search must never run in the grader')", "unit", unit.grade_id,
                               {"grade_id": unit.grade_id, "solution": True, "grade": False, "locked": False}))
        cells.append(_cell("code", f"# Hidden checks of {unit.grade_id} run here when the notebook is graded.", "tests", unit.grade_id,
                           {"grade_id": f"{unit.grade_id}-tests", "grade": True, "solution": False, "locked": True, "points": unit.points}))
    nb.cells = cells
    return nb


def submission(answers: dict[str, str] | None = None, release: nbformat.NotebookNode | None = None) -> nbformat.NotebookNode:
    """The release with every answer cell filled: ``answers[grade_id]``, else the reference source."""
    nb = copy.deepcopy(release or release_notebook())
    answers = answers or {}
    for cell in nb.cells:
        unit_id = cell.metadata.get("dl", {}).get("unit")
        if cell.metadata.get("dl", {}).get("role") == "unit" and unit_id in {u.grade_id for u in CODE_UNITS}:
            unit = next(u for u in CODE_UNITS if u.grade_id == unit_id)
            cell.source = answers.get(unit_id, reference_source(unit))
    return nb


def unit_cell_indices(nb: nbformat.NotebookNode, grade_id: str) -> list[int]:
    return [i for i, c in enumerate(nb.cells) if c.metadata.get("dl", {}).get("unit") == grade_id and c.metadata["dl"]["role"] == "unit"]


def strip_metadata(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """What Colab or VS Code may leave: cells without their dl and nbgrader metadata."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        cell.metadata = {}
    return nb


def shuffled(nb: nbformat.NotebookNode, seed: int) -> nbformat.NotebookNode:
    nb = copy.deepcopy(nb)
    random.Random(seed).shuffle(nb.cells)
    return nb


def replace_once(source: str, old: str, new: str) -> str:
    """``source`` with ``old`` replaced; fails loudly if the reference no longer contains it."""
    assert source.count(old) == 1, f"expected exactly one {old!r} in the reference source"
    return source.replace(old, new)


def write(nb: nbformat.NotebookNode, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def unit(grade_id: str) -> Unit:
    return next(u for u in UNITS if u.grade_id == grade_id)
