"""assign_roles: header options -> metadata.dl roles; typos fail with the source line."""
import pytest

from course.build.assign_roles import assign_roles
from course.build.context import BuildError
from tests.course.conftest import source_notebook


def test_every_cell_gets_a_role(course):
    nb, ctx = source_notebook(course)
    nb = assign_roles(nb, ctx)
    roles = [c.metadata["dl"] for c in nb.cells]
    assert roles == [
        {"role": "prose"}, {"role": "setup"},
        {"role": "unit", "unit": "t1-tiny-relu_forward"}, {"role": "unit", "unit": "t1-tiny-affine_forward"},
        {"role": "provide", "provide": "dl.layer_utils:affine_relu_forward"}, {"role": "check"},
        {"role": "tests", "unit": "t1-tiny-relu_forward"}, {"role": "tests", "unit": "t1-tiny-affine_forward"},
        {"role": "unit", "unit": "t1-tiny-best"}, {"role": "exercise"},
        {"role": "question", "question": "t1-tiny-q1"},
    ]
    assert all(set(c.metadata) == {"dl"} for c in nb.cells)


def test_plain_code_cells_and_tags_are_kept(course):
    nb, ctx = source_notebook(course, text='# %% tags=["slow"]\nrun()\n')
    nb = assign_roles(nb, ctx)
    assert nb.cells[0].metadata == {"tags": ["slow"], "dl": {"role": "code"}}


@pytest.mark.parametrize("header, message", [
    ('# %% rol="check"', r"course/t1/Tiny.py line 3 \(cell 2\): unknown cell header key 'rol'; use one of role, unit"),
    ('# %% role="chek"', r'line 3 \(cell 2\): unknown role "chek"; roles are setup, check, exercise'),
    ('# %% unit="t1-tiny-relu"', r'line 3 \(cell 2\): unit="t1-tiny-relu" is not a unit of Tiny in course/manifest.toml; known: t1-tiny-relu_forward'),
    ('# %% tests="t1-tiny-q1"', r'tests="t1-tiny-q1" is not a unit of Tiny'),
    ('# %% question="t1-tiny-q1"', r'question="t1-tiny-q1" marks a written answer; put it on a markdown cell'),
    ('# %% [markdown] question="t1-tiny-q9"', r'question="t1-tiny-q9" is not a question of Tiny in course/manifest.toml; known: t1-tiny-q1'),
    ('# %% [markdown] role="check"', r'role="check" belongs on a code cell'),
    ('# %% role="check" unit="t1-tiny-relu_forward"', r"a cell has one role, this header gives role and unit"),
    ("# %% unit=t1-tiny-relu_forward", r"cannot read the cell header options 'unit=t1-tiny-relu_forward'; write them as key=\"value\""),
])
def test_errors_name_source_line_and_fix(course, header, message):
    nb, ctx = source_notebook(course, text=f"# %%\nx = 1\n{header}\ny = 2\n")
    with pytest.raises(BuildError, match=message):
        assign_roles(nb, ctx)
