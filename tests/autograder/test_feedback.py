"""Public checks filled in by the grader, and the per-student feedback page."""
import html
import inspect
import re

import pytest

from autograder.checks.registry import REGISTRY
from autograder.feedback import artifact_public_check, feedback_html, write_feedback_html
from autograder.reports import SubmissionResult, UnitResult
from autograder.units import Unit
from tests.autograder import notebooks
from tests.autograder.conftest import OPTIONS, unit_result
from tests.autograder.notebooks import UNITS, reference_source, unit

FULL = {u.grade_id: u.points for u in UNITS}
SCRIPT = "<script>alert('x')</script>"
HIDDEN = ["after_published", "after_due_date", "hidden"]


@pytest.fixture(scope="module")
def graded(grade):
    """A submission with a missing cell, a cell that raises after defining its function, one that
    raises before (its error message carries a script tag), and its saved model."""
    nb = notebooks.submission({
        "a1-fc-sgd_momentum": f'raise ValueError("{SCRIPT}")\n' + reference_source(unit("a1-fc-sgd_momentum")),
        "a1-fc-adam": reference_source(unit("a1-fc-adam")) + "\nadam(None, None)  # a leftover experiment\n",
    })
    del nb.cells[notebooks.unit_cell_indices(nb, "a1-fc-rmsprop")[0]]
    return grade("feedback-mixed", nb, submission_id="feedback-mixed")


@pytest.fixture(scope="module")
def without_model(grade, tmp_path_factory):
    return grade("feedback-no-model", notebooks.submission(), artifacts=tmp_path_factory.mktemp("empty") / "artifacts")


def test_public_checks_of_found_missing_undefined_and_raising_cells(graded):
    ok = unit_result(graded, "a1-fc-affine_forward")
    assert ok.public_passed is True and "defines `affine_forward`" in ok.public_message and "runs without error" in ok.public_message
    missing = unit_result(graded, "a1-fc-rmsprop")
    assert missing.public_passed is False and "no cell of FullyConnectedNets.ipynb defines `rmsprop`" in missing.public_message
    undefined = unit_result(graded, "a1-fc-sgd_momentum")
    assert undefined.public_passed is False and "`sgd_momentum` is not defined" in undefined.public_message
    assert f"ValueError: {SCRIPT}" in undefined.public_message
    raising = unit_result(graded, "a1-fc-adam")
    assert raising.public_passed is False and "TypeError" in raising.public_message
    assert raising.score == FULL["a1-fc-adam"]  # the hidden checks still grade what the cell defined


def test_scores_are_unchanged_by_the_public_checks(graded):
    lost = {u.grade_id for u in graded.units if u.score < FULL[u.grade_id]}
    assert lost == {"a1-fc-rmsprop", "a1-fc-sgd_momentum"}


def test_the_hidden_check_count_is_the_units_number_of_checks(graded):
    assert [u.hidden_checks for u in graded.units] == [len(u.checks) for u in UNITS]
    assert unit_result(graded, "a1-fc-FullyConnectedNet").hidden_checks == 2


def test_public_checks_of_a_saved_and_a_missing_artifact(graded, without_model):
    saved = unit_result(graded, "a1-fc-best_model")
    assert saved.public_passed is True and "artifacts/a1_best_fc.npz and artifacts/a1_best_fc.json were saved" == saved.public_message
    missing = unit_result(without_model, "a1-fc-best_model")
    assert missing.public_passed is False and missing.score == 0
    assert missing.public_message.startswith("artifacts/a1_best_fc.npz is missing from your submission; "
                                             "artifacts/a1_best_fc.json is missing from your submission")


def test_a_saved_models_files_are_npz_for_an_artifact_unit_and_safetensors_for_a_torch_builders(tmp_path):
    import torch

    from dl.artifacts import save_torch_model

    numpy_model = Unit("a1-fc-best_model", 5, ("fc_best_model_accuracy",), artifact="a1_best_fc")
    torch_model = Unit("a2-pt-challenge", 10, ("pt_challenge_accuracy",), reference="dl.nn.basics:build_challenge_model",
                       artifact="a2_cifar_challenge")
    assert numpy_model.artifact_files == ("a1_best_fc.npz", "a1_best_fc.json")
    assert torch_model.artifact_files == ("a2_cifar_challenge.safetensors", "a2_cifar_challenge.json")
    assert Unit("a1-fc-affine_forward", 2, reference="dl.layers:affine_forward").artifact_files == ()
    directory = tmp_path / "artifacts"
    passed, message = artifact_public_check(torch_model.artifact_files, directory)
    assert not passed and message.startswith("artifacts/a2_cifar_challenge.safetensors is missing from your submission")
    save_torch_model(torch.nn.Linear(2, 1), "a2_cifar_challenge", log={"val_acc": [0.5]}, directory=directory)
    assert artifact_public_check(torch_model.artifact_files, directory) == (
        True, "artifacts/a2_cifar_challenge.safetensors and artifacts/a2_cifar_challenge.json were saved")


def _row(page: str, grade_id: str) -> str:
    return next(row for row in page.split("<tr>") if f"<td>{grade_id}</td>" in row)


def test_before_publication_the_page_shows_public_checks_and_no_hidden_result(graded):
    page = feedback_html(graded, "after_published")
    assert "public checks passed; 1 hidden check is run at grading" in _row(page, "a1-fc-affine_forward")
    assert "public checks passed; 2 hidden checks are run at grading" in _row(page, "a1-fc-FullyConnectedNet")
    assert "public checks failed: no cell of FullyConnectedNets.ipynb defines `rmsprop`" in _row(page, "a1-fc-rmsprop")
    total = sum(len(u.checks) for u in UNITS)
    assert f"Your score comes from {total} hidden checks, run at grading" in page
    assert "shown once the course staff publish the grades" in page
    assert "Total score" not in page and "hidden sub-checks" not in page
    assert all(u.message not in html.unescape(page) for u in graded.units if u.public_passed)


def test_after_publication_the_page_shows_scores_statuses_and_messages(graded):
    page = feedback_html(graded)
    assert f"Total score: <strong>{graded.score:g} / {graded.max_score:g}</strong>" in page
    row = _row(page, "a1-fc-FullyConnectedNet")
    assert "public checks passed; 2 hidden checks ran" in row and "passed" in row and "hidden sub-checks" in row
    assert "<td>0 / 2</td>" in _row(page, "a1-fc-rmsprop")


@pytest.mark.parametrize("visibility", ["visible", *HIDDEN])
def test_student_text_is_escaped_and_the_page_is_self_contained(graded, visibility):
    page = feedback_html(graded, visibility)
    assert "<script" not in page.lower() and html.escape(SCRIPT) in page
    assert not re.search(r"https?:|<link|<img|<iframe|\bsrc=|@import|url\(", page, re.I)
    assert page.startswith("<!DOCTYPE html>") and "Content-Security-Policy" in page
    assert "<title>Feedback on FullyConnectedNets.ipynb for feedback-mixed</title>" in page


def _check_source_lines() -> set[str]:
    """Lines of the checks the units use, their modules included, and of the units' references."""
    modules = {inspect.getmodule(REGISTRY[name]) for u in UNITS for name in u.checks}
    sources = [inspect.getsource(module) for module in modules]
    sources += [inspect.getsource(REGISTRY[name]) for u in UNITS for name in u.checks]
    sources += [reference_source(u) for u in notebooks.CODE_UNITS]
    return {line.strip() for source in sources for line in source.splitlines() if len(line.strip()) > 25}


@pytest.mark.parametrize("visibility", ["visible", *HIDDEN])
def test_the_page_holds_no_hidden_test_source_and_never_says_all_tests_passed(graded, visibility):
    page = feedback_html(graded, visibility)
    text = html.unescape(page)
    lines = _check_source_lines()
    assert len(lines) > 100  # the comparison is not vacuous
    leaked = [line for line in lines if line in text or line in page]
    assert leaked == []
    assert "all tests passed" not in text.lower()
    assert str(OPTIONS.seed) not in text  # the checks' seed


def test_a_full_marks_page_still_says_hidden_checks_ran_not_that_all_passed(grade):
    result = grade("reference", notebooks.submission())
    for visibility in ["visible", *HIDDEN]:
        text = html.unescape(feedback_html(result, visibility)).lower()
        assert "all tests passed" not in text and "hidden check" in text


def _direct() -> SubmissionResult:
    result = SubmissionResult("<b>eve</b>", "a1", error="Your notebook could not be read: Expecting value <x>",
                              warnings=["WARNING: grading ran without the bubblewrap sandbox"],
                              instructor_log=["Traceback (most recent call last): grader secret"])
    result.units = [UnitResult("a1-fc-adam", 0.0, 1.0, "error", "could not be read")]  # public checks unknown
    return result


def test_warnings_and_the_error_open_the_page_and_the_staff_log_never_appears():
    page = feedback_html(_direct())
    assert page.index("WARNING: grading ran without") < page.index("could not be read: Expecting value &lt;x&gt;") < page.index("<table")
    assert "<title>Feedback on a1 for &lt;b&gt;eve&lt;/b&gt;</title>" in page and "<b>eve" not in page
    assert "public checks could not run; hidden checks ran" in page
    assert "Traceback" not in page and "grader secret" not in page


def test_write_feedback_html_is_atomic_and_refuses_an_unknown_visibility(tmp_path):
    path = write_feedback_html(_direct(), tmp_path / "eve" / "feedback.html", hidden_visibility="after_published")
    assert path.read_text(encoding="utf-8") == feedback_html(_direct(), "after_published")
    assert [p.name for p in path.parent.iterdir()] == ["feedback.html"]
    with pytest.raises(ValueError, match="visible, after_published, after_due_date, hidden"):
        write_feedback_html(_direct(), tmp_path / "x" / "feedback.html", hidden_visibility="later")
    assert not (tmp_path / "x").exists()
