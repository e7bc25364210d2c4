"""A notebook that uses an earlier one: its checks see the earlier notebook's reference code, and a
unit written in the earlier notebook's cell has only a tests cell here."""
import pytest

from course.build import BuildError, build_notebook
from course.manifest import load_manifest
from tests.course.conftest import LATER, TINY, write_course
from tests.course.test_manifest import SECOND

SECOND_SOURCE = '''\
# %% role="setup"
import numpy as np
from dl.notebook_import import import_notebook

tiny = import_notebook("Tiny.ipynb")  # the build and the grader run Tiny's graded cells instead
relu_forward = tiny.relu_forward

# %% role="check"
x = np.linspace(-1, 1, num=5)
print(relu_forward(x)[0], reference_value(relu_forward(x)[0]))

# %% tests="t1-second-relu_forward"
'''


def course_with_second(tmp_path, source=SECOND_SOURCE):
    write_course(tmp_path, SECOND.replace("planned = true\n", ""), {"t1/Tiny": TINY, "t2/Later": LATER, "t1/Second": source})
    return load_manifest(tmp_path)


def test_checks_run_with_the_used_notebooks_reference_code(tmp_path):
    course = course_with_second(tmp_path)
    nb = build_notebook(course, course.notebooks["Second"])
    check = next(c for c in nb.cells if c.metadata["dl"]["role"] == "check")
    assert "np.array([0.0, 0.0, 0.0, 0.5, 1.0])" in check.source  # relu_forward of the Tiny notebook, computed
    tests = [c for c in nb.cells if c.metadata["dl"]["role"] == "tests"]
    assert [c.metadata["nbgrader"]["grade_id"] for c in tests] == ["t1-second-relu_forward-tests"]
    assert 'run_unit_checks("t1-second-relu_forward", globals())' in tests[0].source
    assert nb.metadata["dl"]["units"] == {}  # the unit's code lives in Tiny, not here


@pytest.mark.parametrize("change, message", [
    (lambda s: s + '\n# %% unit="t1-second-relu_forward"\n',
     r"unit t1-second-relu_forward is written in the cell of t1-tiny-relu_forward .* it has no answer cell here"),
    (lambda s: s.replace('# %% tests="t1-second-relu_forward"\n', ""),
     r'unit t1-second-relu_forward needs exactly one cell # %% tests="t1-second-relu_forward" \(found 0\)'),
])
def test_a_unit_written_elsewhere_has_only_a_tests_cell(tmp_path, change, message):
    course = course_with_second(tmp_path, change(SECOND_SOURCE))
    with pytest.raises(BuildError, match=message):
        build_notebook(course, course.notebooks["Second"])
