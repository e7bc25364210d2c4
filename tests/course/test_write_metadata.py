"""write_metadata: nbgrader schema-3 metadata per role (docs/authoring.md table) and the notebook's metadata.dl."""
from course.build.assign_roles import assign_roles
from course.build.inline_references import inline_references
from course.build.write_metadata import write_metadata
from tests.course.conftest import run_steps, source_notebook


def test_cell_metadata_follows_the_table(course):
    nb, ctx = source_notebook(course)
    nb = run_steps(nb, ctx, [assign_roles, inline_references, write_metadata])
    got = {c.id: c.metadata.get("nbgrader") for c in nb.cells}
    base = {"schema_version": 3}
    assert got == {
        "tiny-prose-1": None,
        "tiny-setup-1": {**base, "grade_id": "tiny-setup-1", "locked": True, "solution": False, "grade": False},
        "t1-tiny-relu_forward": {**base, "grade_id": "t1-tiny-relu_forward", "solution": True, "grade": False, "locked": False},
        "t1-tiny-affine_forward": {**base, "grade_id": "t1-tiny-affine_forward", "solution": True, "grade": False, "locked": False},
        "tiny-provide-1": {**base, "grade_id": "tiny-provide-1", "locked": True, "solution": False, "grade": False},
        "tiny-check-1": {**base, "grade_id": "tiny-check-1", "locked": True, "solution": False, "grade": False},
        "t1-tiny-relu_forward-tests": {**base, "grade_id": "t1-tiny-relu_forward-tests", "grade": True, "solution": False, "locked": True, "points": 1},
        "t1-tiny-affine_forward-tests": {**base, "grade_id": "t1-tiny-affine_forward-tests", "grade": True, "solution": False, "locked": True, "points": 2},
        "t1-tiny-best": {**base, "grade_id": "t1-tiny-best", "solution": True, "grade": False, "locked": False},
        "tiny-exercise-1": {**base, "grade_id": "tiny-exercise-1", "solution": True, "grade": False, "locked": False},
        "t1-tiny-q1": {**base, "grade_id": "t1-tiny-q1", "solution": True, "grade": True, "locked": False, "points": 1},
    }


def test_notebook_metadata(course):
    nb, ctx = source_notebook(course)
    nb = run_steps(nb, ctx, [assign_roles, inline_references, write_metadata])
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert nb.metadata["dl"] == {
        "assignment": "t1",
        "notebook": "Tiny",
        "generated_by": "dl-course build",
        "source": "course/t1/Tiny.py",
        "units": {"t1-tiny-relu_forward": ["relu_forward"], "t1-tiny-affine_forward": ["affine_forward"]},
        "provided": ["affine_relu_forward"],
    }
