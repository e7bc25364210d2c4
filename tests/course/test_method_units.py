"""Method-level units (``reference = "module:Class.method"``): built as the class's cell, matched by the class name."""
import inspect

import nbformat

from autograder.extraction import code_units
from course.build.assign_roles import assign_roles
from course.build.inline_references import inline_references
from course.build.stub_solutions import stub_solutions
from course.manifest import load_manifest, resolve_reference
from dl.models.fc_net import FullyConnectedNet
from dl.program import find_unit_cells
from tests.course.conftest import LATER, MANIFEST, run_steps, source_notebook, write_course

GRADE_ID = "t2-later-loss"
METHOD_MANIFEST = MANIFEST.replace('grade_id = "t2-later-softmax_loss"', f'grade_id = "{GRADE_ID}"').replace(
    'reference = "dl.layers:softmax_loss"', 'reference = "dl.models.fc_net:FullyConnectedNet.loss"')
METHOD_SOURCE = LATER.replace("t2-later-softmax_loss", GRADE_ID).replace(
    "expected = reference_value(softmax_loss(x, y)[0])", "model = FullyConnectedNet([5], input_dim=4, num_classes=4)")


def method_course(tmp_path):
    write_course(tmp_path, METHOD_MANIFEST, sources={"t1/Tiny": "# %%\n", "t2/Later": METHOD_SOURCE})
    return load_manifest(tmp_path)


def test_resolve_reference_finds_the_method_in_its_class():
    assert resolve_reference("dl.models.fc_net:FullyConnectedNet.loss") is FullyConnectedNet.__dict__["loss"]


def test_the_answer_cell_of_a_method_unit_is_its_whole_class_with_markers(tmp_path):
    course = method_course(tmp_path)
    nb, ctx = source_notebook(course, "Later")
    nb = run_steps(nb, ctx, [assign_roles, inline_references])
    cell = next(c for c in nb.cells if c.metadata["dl"].get("unit") == GRADE_ID and c.metadata["dl"]["role"] == "unit")
    assert cell.source == inspect.getsource(FullyConnectedNet).rstrip("\n")
    assert cell.source.startswith("class FullyConnectedNet") and "### BEGIN SOLUTION" in cell.source


def test_the_student_edition_says_where_the_method_is_implemented(tmp_path):
    edition = stub_solutions(method_course(tmp_path), "t1")  # t1 does not reveal t2
    assert 'raise NotImplementedError("FullyConnectedNet.loss is implemented in Later.ipynb (assignment t2)")' in edition["models/fc_net.py"]


def test_the_grader_finds_a_method_unit_by_its_class_when_metadata_is_lost(tmp_path):
    unit = method_course(tmp_path).notebooks["Later"].unit(GRADE_ID)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import numpy as np"),
                nbformat.v4.new_code_cell("def loss(X, y=None):\n    return 0.0"),  # a function named like the method is not it
                nbformat.v4.new_code_cell(inspect.getsource(FullyConnectedNet))]
    found = find_unit_cells(nb, code_units([unit]), "Later.ipynb")
    assert found.cells[GRADE_ID].index == 2 and found.cells[GRADE_ID].matched_by == "names"
