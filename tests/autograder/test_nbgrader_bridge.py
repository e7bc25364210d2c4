"""The nbgrader path: hidden test cells run the same checks in the student's kernel."""
import numpy as np
import pytest

from autograder.checks import REGISTRY
from autograder.manifest import find_unit, read_units
from autograder.nbgrader_bridge import run_unit_checks
from tests.autograder import notebooks
from tests.autograder.notebooks import CODE_UNITS, reference_source, replace_once, unit

SETUP_IMPORTS = "import numpy as np\n"


def kernel(**replaced) -> dict:
    """The globals of a kernel that ran the setup imports, the provided cell and every answer cell."""
    namespace: dict = {}
    provided = next(c.source for c in notebooks.release_notebook().cells if c.metadata["dl"]["role"] == "provide")
    sources = [SETUP_IMPORTS, provided] + [replaced.get(u.grade_id, reference_source(u)) for u in CODE_UNITS]
    for source in sources:
        exec(compile(source, "<kernel cell>", "exec"), namespace)
    return namespace


def test_every_check_named_in_the_manifest_is_registered():
    named = {check for units in read_units().values() for u in units for check in u.checks}
    assert named and named <= set(REGISTRY), named - set(REGISTRY)


def test_units_are_found_in_the_manifest_by_grade_id():
    assert find_unit("a1-fc-FullyConnectedNet").checks == ("fc_net_params", "fc_net_loss")
    with pytest.raises(KeyError, match="no graded unit 'a1-fc-nothing'"):
        find_unit("a1-fc-nothing")


@pytest.mark.parametrize("grade_id", [u.grade_id for u in CODE_UNITS])
def test_the_reference_passes_every_hidden_test_cell(grade_id):
    assert run_unit_checks(grade_id, kernel()) == 1.0


def test_a_bug_fails_its_hidden_test_cell_with_the_checks_message():
    wrong = replace_once(reference_source(unit("a1-fc-relu_backward")), "dx = dout * (x > 0)", "dx = dout * (x >= 0)")
    namespace = kernel(**{"a1-fc-relu_backward": wrong})
    with pytest.raises(AssertionError, match="a1-fc-relu_backward: passed 2 of 3 hidden sub-checks. dx is not 0"):
        run_unit_checks("a1-fc-relu_backward", namespace)
    assert run_unit_checks("a1-fc-relu_forward", namespace) == 1.0


def test_a_missing_definition_fails_with_a_clear_message():
    namespace = kernel()
    del namespace["adam"]
    with pytest.raises(AssertionError, match="`adam` is not defined; run the cell that defines it"):
        run_unit_checks("a1-fc-adam", namespace)


def test_the_kernels_arrays_are_not_shared_with_the_checks():
    """Student code that changes its inputs in place cannot change the expected values."""
    namespace = kernel()
    reference = namespace["affine_forward"]

    def mutating(x, w, b):
        out = reference(x, w, b)
        x[...] = 0
        w[...] = 0
        return out

    namespace["affine_forward"] = mutating
    assert run_unit_checks("a1-fc-affine_forward", namespace) == 1.0


def test_artifact_units_read_the_artifacts_folder(model_artifacts, held_out):
    assert run_unit_checks("a1-fc-best_model", {}, artifacts_dir=model_artifacts, data=held_out) == 1.0
    with pytest.raises(AssertionError, match="missing from your submission"):
        run_unit_checks("a1-fc-best_model", {}, artifacts_dir=model_artifacts.parent / "nowhere", data=held_out)


def test_an_explicit_unit_skips_the_manifest(tmp_path):
    namespace = {"np": np}
    exec(reference_source(unit("a1-fc-relu_forward")), namespace)
    assert run_unit_checks("a1-fc-relu_forward", namespace, unit=unit("a1-fc-relu_forward"), manifest=tmp_path / "none.toml") == 1.0
