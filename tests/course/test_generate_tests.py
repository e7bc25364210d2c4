"""generate_tests: hidden test cells exactly as docs/authoring.md gives them; a missing one is added."""
from course.build.assign_roles import assign_roles
from course.build.generate_tests import generate_tests
from tests.course.conftest import TINY, run_steps, source_notebook

DOCUMENTED = '''\
# Hidden checks of relu_forward run here when the notebook is graded.
### BEGIN HIDDEN TESTS
from autograder.nbgrader_bridge import run_unit_checks
run_unit_checks("t1-tiny-relu_forward", globals())
### END HIDDEN TESTS'''


def cells_with_tests_role(nb):
    return [(i, c) for i, c in enumerate(nb.cells) if c.metadata["dl"]["role"] == "tests"]


def test_tests_cell_source_is_the_documented_one(course):
    nb, ctx = source_notebook(course)
    nb = run_steps(nb, ctx, [assign_roles, generate_tests])
    cells = dict((c.metadata["dl"]["unit"], c.source) for _, c in cells_with_tests_role(nb))
    assert cells["t1-tiny-relu_forward"] == DOCUMENTED
    assert cells["t1-tiny-best"].startswith("# Hidden checks of the artifact t1_best run here")


def test_a_missing_tests_cell_follows_its_answer_cell(course):
    nb, ctx = source_notebook(course, text=TINY.replace('# %% tests="t1-tiny-relu_forward"\n', ""))
    count = len(nb.cells)
    nb = run_steps(nb, ctx, [assign_roles, generate_tests])
    assert len(nb.cells) == count + 2 and len(ctx.lines) == len(nb.cells)  # relu_forward and the artifact unit
    answer = next(i for i, c in enumerate(nb.cells) if c.metadata["dl"] == {"role": "unit", "unit": "t1-tiny-relu_forward"})
    assert nb.cells[answer + 1].metadata["dl"] == {"role": "tests", "unit": "t1-tiny-relu_forward"}
    assert ctx.where(answer + 1) == f"course/t1/Tiny.py cell {answer + 2}"
    assert ctx.where(answer) == "course/t1/Tiny.py line 10 (cell 3)"
