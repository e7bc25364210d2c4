"""validate_notebook: the end validator catches what nbgrader or the grader would trip over."""
import pytest

from course.build import STEPS, BuildError
from course.build.validate_notebook import validate_notebook
from tests.course.conftest import run_steps, source_notebook


@pytest.fixture
def built(course):
    nb, ctx = source_notebook(course)
    return run_steps(nb, ctx, STEPS), ctx


def test_the_built_notebook_passes(built):
    validate_notebook(*built)


def test_duplicated_unit_cell(built):
    nb, ctx = built
    copy = nb.cells[2].copy()
    copy["id"] = "another"
    nb.cells.append(copy)
    with pytest.raises(BuildError, match=r"unit cell of t1-tiny-relu_forward appears 2 times in the generated notebook"):
        validate_notebook(nb, ctx)


def test_duplicate_grade_id_is_refused_by_nbgrader_rules(built):
    nb, ctx = built
    nb.cells[1].metadata["nbgrader"]["grade_id"] = "t1-tiny-relu_forward"
    with pytest.raises(BuildError, match="nbgrader rejects the generated metadata: Duplicate grade id: t1-tiny-relu_forward"):
        validate_notebook(nb, ctx)


def test_leftover_reference_value(built):
    nb, ctx = built
    nb.cells[1].source += "\nreference_value(1)"
    with pytest.raises(BuildError, match=r"cell 2\): reference_value\( is left"):
        validate_notebook(nb, ctx)


def test_points_missing_on_a_grade_cell(built):
    nb, ctx = built
    del next(c for c in nb.cells if c.metadata["dl"]["role"] == "tests").metadata["nbgrader"]["points"]
    with pytest.raises(BuildError, match="does not have points"):
        validate_notebook(nb, ctx)
