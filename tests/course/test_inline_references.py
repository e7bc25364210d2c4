"""inline_references: unit cells get the reference with markers, provide cells the code without markers."""
import inspect
import textwrap

import pytest

import dl.layer_utils
import dl.layers
from course.build.assign_roles import assign_roles
from course.build.context import BuildError
from course.build.inline_references import inline_references, object_source, parse_provide
from tests.course.conftest import TINY, run_steps, source_notebook


def inlined(course, text=TINY):
    nb, ctx = source_notebook(course, text=text)
    return run_steps(nb, ctx, [assign_roles, inline_references]), ctx


def test_unit_cells_get_the_reference_source_with_its_markers(course):
    nb, _ = inlined(course)
    relu = next(c for c in nb.cells if c.metadata["dl"].get("unit") == "t1-tiny-relu_forward" and c.metadata["dl"]["role"] == "unit")
    assert relu.source == inspect.getsource(dl.layers.relu_forward).rstrip("\n")
    assert "    ### BEGIN SOLUTION\n" in relu.source and "    ### END SOLUTION\n" in relu.source


def test_artifact_unit_cells_are_copied(course):
    nb, _ = inlined(course)
    best = next(c for c in nb.cells if c.metadata["dl"].get("unit") == "t1-tiny-best")
    assert best.source == "learning_rate = None\n### BEGIN SOLUTION\nlearning_rate = 1e-3\n### END SOLUTION"


def test_provide_cells_get_the_named_objects_and_record_their_names(course):
    nb, ctx = inlined(course)
    provide = next(c for c in nb.cells if c.metadata["dl"]["role"] == "provide")
    assert provide.source == inspect.getsource(dl.layer_utils.affine_relu_forward).rstrip("\n")
    assert provide.metadata["dl"] == {"role": "provide"}
    assert ctx.provided == ["affine_relu_forward"]


def test_provided_code_keeps_the_solution_code_without_markers(course):
    text = TINY.replace('provide="dl.layer_utils:affine_relu_forward"', 'provide="dl.layer_utils:affine_relu_forward,dl.layers:softmax_loss,affine_backward"')
    nb, ctx = inlined(course, text)
    provide = next(c for c in nb.cells if c.metadata["dl"]["role"] == "provide")
    reference = inspect.getsource(dl.layers.softmax_loss)
    assert "SOLUTION" not in provide.source
    kept = [line for line in reference.splitlines() if "### " not in line]
    assert "\n".join(kept) in provide.source
    assert ctx.provided == ["affine_relu_forward", "softmax_loss", "affine_backward"]


def test_a_module_constant_can_be_provided():
    source = object_source("dl.utils", "SMOKE_ENV")
    assert source == 'SMOKE_ENV = "DL_SMOKE"'


def test_parse_provide():
    assert parse_provide("dl.a:x, y,dl.b:z") == [("dl.a", "x"), ("dl.a", "y"), ("dl.b", "z")]
    with pytest.raises(ValueError, match='is not "dl.module:name,name,..."'):
        parse_provide("x,y")


@pytest.mark.parametrize("spec, message", [
    ("dl.layer_utils:nothing_here", r'line 15 \(cell 5\): module dl.layer_utils has no "nothing_here"'),
    ("numpy:maximum", r"outside the dl package"),
])
def test_unknown_provided_object_names_the_cell(course, spec, message):
    with pytest.raises(BuildError, match=message):
        inlined(course, TINY.replace("dl.layer_utils:affine_relu_forward", spec))


def test_a_reference_without_solution_region_is_refused(course):
    # svm_loss has no solution markers: inlining it as a unit would publish its body.
    course.notebooks["Tiny"].units[0] = type(course.notebooks["Tiny"].units[0])(
        "t1-tiny-relu_forward", 1, (), "dl.layers:svm_loss")
    with pytest.raises(BuildError, match=r"the reference dl.layers:svm_loss has no ### BEGIN SOLUTION / ### END SOLUTION region"):
        inlined(course)


def test_source_is_dedented():
    assert object_source("dl.layers", "relu_forward") == textwrap.dedent(inspect.getsource(dl.layers.relu_forward)).rstrip("\n")
