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
def test_the_reference_earns_every_point_of_every_hidden_test_cell(grade_id, capsys):
    assert run_unit_checks(grade_id, kernel()) == unit(grade_id).points
    assert capsys.readouterr() == ("", "")  # stderr output would make nbgrader give the cell 0


def test_a_bug_earns_partial_credit_and_prints_the_checks_message(capsys):
    """The cell's value is the points earned, which nbgrader takes as partial credit."""
    wrong = replace_once(reference_source(unit("a1-fc-relu_backward")), "dx = dout * (x > 0)", "dx = dout * (x >= 0)")
    namespace = kernel(**{"a1-fc-relu_backward": wrong})
    # The part "dx is 0 where x == 0 exactly" weighs a quarter of the unit (docs/grading.md).
    assert run_unit_checks("a1-fc-relu_backward", namespace) == pytest.approx(0.75 * unit("a1-fc-relu_backward").points, abs=1e-4)
    out, err = capsys.readouterr()
    assert "a1-fc-relu_backward: 0.75 of 1 points. passed 4 of 5 hidden sub-checks. dx is not 0" in out and err == ""
    assert run_unit_checks("a1-fc-relu_forward", namespace) == unit("a1-fc-relu_forward").points


def test_a_missing_definition_earns_nothing_with_a_clear_message(capsys):
    namespace = kernel()
    del namespace["adam"]
    assert run_unit_checks("a1-fc-adam", namespace) == 0.0
    assert "`adam` is not defined; run the cell that defines it" in capsys.readouterr().out


def test_the_kernels_arrays_are_not_shared_with_the_checks():
    """Student code that changes its inputs in place cannot change the expected values."""
    namespace = kernel()
    reference = namespace["affine_forward"]

    def mutating(x, w, b):
        out = reference(x.copy(), w.copy(), b)  # the cache holds the inputs as they came in
        x[...] = 0
        w[...] = 0
        return out

    namespace["affine_forward"] = mutating
    assert run_unit_checks("a1-fc-affine_forward", namespace) == unit("a1-fc-affine_forward").points


def test_artifact_units_read_the_artifacts_folder(model_artifacts, held_out):
    points = unit("a1-fc-best_model").points
    assert run_unit_checks("a1-fc-best_model", {}, artifacts_dir=model_artifacts, data=held_out) == points
    assert run_unit_checks("a1-fc-best_model", {}, artifacts_dir=model_artifacts.parent / "nowhere", data=held_out) == 0.0


def test_an_explicit_unit_skips_the_manifest(tmp_path):
    namespace = {"np": np}
    exec(reference_source(unit("a1-fc-relu_forward")), namespace)
    assert run_unit_checks("a1-fc-relu_forward", namespace, unit=unit("a1-fc-relu_forward"), manifest=tmp_path / "none.toml") == 1.0  # 1 point


def test_stderr_and_warnings_of_student_code_do_not_reach_the_cell(capsys):
    """nbgrader gives a test cell 0 when anything reaches stderr; an overflow warning must not."""
    noisy = replace_once(reference_source(unit("a1-fc-relu_forward")), "out = np.maximum(0, x)",
                         "import sys, warnings; print('debug', file=sys.stderr); warnings.warn('noisy')\n    out = np.maximum(0, x)")
    assert run_unit_checks("a1-fc-relu_forward", kernel(**{"a1-fc-relu_forward": noisy})) == 1.0
    assert capsys.readouterr().err == ""
