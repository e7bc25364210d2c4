"""Write the hidden test cell of each unit (``tests="<grade_id>"``), as docs/authoring.md specifies.

A unit whose source has no ``tests`` cell (an artifact unit's training cell, typically) gets one
right after its answer cell: the tests cell carries the unit's points in nbgrader.

nbgrader keeps the hidden part in the gradebook and strips it from the release; ``nbgrader
autograde`` puts it back and runs the autograder's checks of the unit in the student's kernel.
"""
from __future__ import annotations

from nbformat import NotebookNode
from nbformat.v4 import new_code_cell

from autograder.units import Unit
from course.build.context import BuildContext, dl_meta, role

TEMPLATE = '''\
# Hidden checks of {what} run here when the notebook is graded.
### BEGIN HIDDEN TESTS
from autograder.nbgrader_bridge import run_unit_checks
run_unit_checks("{grade_id}", globals())
### END HIDDEN TESTS'''


def test_source(unit: Unit) -> str:
    what = unit.names[0] if unit.names else f"the artifact {unit.artifact}"
    return TEMPLATE.format(what=what, grade_id=unit.grade_id)


def generate_tests(nb: NotebookNode, ctx: BuildContext) -> NotebookNode:
    """Fill every ``tests`` cell; a unit whose source has none gets one right after its answer cell."""
    have = {dl_meta(c)["unit"] for c in nb.cells if role(c) == "tests"}
    for index in reversed(range(len(nb.cells))):
        cell = nb.cells[index]
        if role(cell) == "unit" and dl_meta(cell)["unit"] not in have:
            tests = new_code_cell(metadata={"dl": {"role": "tests", "unit": dl_meta(cell)["unit"]}})
            nb.cells.insert(index + 1, tests)
            ctx.lines.insert(index + 1, None)
    for cell in nb.cells:
        if role(cell) == "tests":
            cell.source = test_source(ctx.notebook.unit(dl_meta(cell)["unit"]))
    return nb
