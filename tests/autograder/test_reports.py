"""Gradescope results.json: the visible format, and hidden checks behind Gradescope's visibility settings."""
import json
from dataclasses import asdict

import pytest

from autograder.reports import (HIDDEN_CHECKS_NOTE, VISIBILITIES, SubmissionResult, UnitResult, gradescope_results,
                                hidden_checks_phrase, public_line, write_results_json)

HIDDEN = ["after_published", "after_due_date", "hidden"]
SECRET = "max relative error 3.1e-02 on the hidden input of shape (7, 3)"  # a hidden check's message


def sample() -> SubmissionResult:
    """Three units: one full, one partial whose hidden message must stay hidden, one whose cell is missing."""
    result = SubmissionResult("alice", "FullyConnectedNets.ipynb", wall_time=1.5)
    result.units = [
        UnitResult("a1-fc-affine_forward", 1.0, 1.0, "passed", "passed 12 of 12 hidden sub-checks", 0.1,
                   public_passed=True, public_message="cell 3 of your notebook runs without error and defines `affine_forward`",
                   hidden_checks=1),
        UnitResult("a1-fc-FullyConnectedNet", 3.0, 6.0, "partial", SECRET, 0.2,
                   public_passed=True, public_message="cell 9 of your notebook runs without error", hidden_checks=2),
        UnitResult("a1-fc-rmsprop", 0.0, 1.0, "failed", "no cell defines `rmsprop`, so it could not be graded", 0.0,
                   public_passed=False, public_message="no cell of FullyConnectedNets.ipynb defines `rmsprop`", hidden_checks=3),
    ]
    result.warnings = ["WARNING: grading ran without the bubblewrap sandbox"]
    result.instructor_log = ["Traceback (most recent call last): a grader bug"]
    return result


def test_visible_results_keep_one_scored_visible_test_per_unit():
    data = gradescope_results(sample())
    assert [t["name"] for t in data["tests"]] == [u.grade_id for u in sample().units]
    assert all(t["visibility"] == "visible" and set(t) >= {"score", "max_score", "output", "status"} for t in data["tests"])
    assert [t["status"] for t in data["tests"]] == ["passed", "failed", "failed"]
    assert data["score"] == 4.0 and "visibility" not in data and data["output_format"] == "text"
    assert data["output"].startswith("WARNING: grading ran without") and HIDDEN_CHECKS_NOTE in data["output"]
    assert data == gradescope_results(sample(), "visible")


@pytest.mark.parametrize("visibility", HIDDEN)
def test_hidden_checks_get_the_visibility_and_each_unit_a_visible_public_test(visibility):
    data = gradescope_results(sample(), visibility)
    tests = data["tests"]
    assert data["visibility"] == visibility and data["stdout_visibility"] == "hidden"
    public, hidden = tests[0::2], tests[1::2]
    assert [t["name"] for t in hidden] == [u.grade_id for u in sample().units]
    assert [t["name"] for t in public] == [f"{u.grade_id}: public checks" for u in sample().units]
    for test in hidden:
        assert test["visibility"] == visibility
        assert isinstance(test["score"], float) and isinstance(test["max_score"], float) and 0 <= test["score"] <= test["max_score"]
    for test in public:  # informational: a status, no score (Gradescope's "Test case status")
        assert test["visibility"] == "visible" and "score" not in test and "max_score" not in test
        assert test["status"] in ("passed", "failed") and isinstance(test["output"], str)
    assert [t["output"] for t in public] == [
        "public checks passed; 1 hidden check is run at grading",
        "public checks passed; 2 hidden checks are run at grading",
        "public checks failed: no cell of FullyConnectedNets.ipynb defines `rmsprop`; 3 hidden checks are run at grading",
    ]
    assert [t["status"] for t in public] == ["passed", "passed", "failed"]
    assert data["score"] == pytest.approx(sum(t["score"] for t in hidden))


@pytest.mark.parametrize("visibility", HIDDEN)
def test_what_students_see_before_publication_reveals_no_hidden_result(visibility):
    data = gradescope_results(sample(), visibility)
    seen = [data["output"]] + [t["output"] for t in data["tests"] if t["visibility"] == "visible"]
    text = "\n".join(seen)
    assert SECRET not in text and "hidden sub-checks" not in text and "3.0" not in text
    assert "Your score comes from 6 hidden checks, run at grading:" in data["output"]
    assert "Public checks passed for 2 of 3 units" in data["output"]
    assert HIDDEN_CHECKS_NOTE not in data["output"]  # it speaks of scores that are not shown yet
    assert data["output"].startswith("WARNING: grading ran without the bubblewrap sandbox")


@pytest.mark.parametrize("visibility", VISIBILITIES)
def test_no_output_claims_that_all_tests_passed_or_shows_the_staff_log(visibility):
    result = sample()
    for unit in result.units:
        unit.score, unit.status = unit.max_score, "passed"
    text = json.dumps(gradescope_results(result, visibility)).lower()
    assert "all tests passed" not in text and "traceback" not in text and "grader bug" not in text


@pytest.mark.parametrize("bad", ["Visible", "after_publish", "", "public"])
def test_an_unknown_visibility_is_refused_naming_gradescopes_values(bad, tmp_path):
    with pytest.raises(ValueError, match="visible, after_published, after_due_date, hidden"):
        gradescope_results(sample(), bad)
    with pytest.raises(ValueError):
        write_results_json(sample(), tmp_path / "results.json", hidden_visibility=bad)
    assert list(tmp_path.iterdir()) == []


def test_write_results_json_writes_the_chosen_visibility(tmp_path):
    path = write_results_json(sample(), tmp_path / "alice" / "results.json", hidden_visibility="after_published")
    assert json.loads(path.read_text()) == gradescope_results(sample(), "after_published")
    assert [p.name for p in path.parent.iterdir()] == ["results.json"]


def test_hidden_check_counts_are_worded_honestly():
    assert hidden_checks_phrase(1, published=False) == "1 hidden check is run at grading"
    assert hidden_checks_phrase(4, published=False) == "4 hidden checks are run at grading"
    assert hidden_checks_phrase(2, published=True) == "2 hidden checks ran"
    assert hidden_checks_phrase(None, published=False) == "hidden checks are run at grading"


def test_unit_results_built_without_the_public_fields_still_work():
    """Older code and saved states construct UnitResult positionally: the public checks are then unknown."""
    old = UnitResult("a1-fc-adam", 0.0, 1.0, "error", "this unit could not be graded automatically")
    assert (old.public_passed, old.public_message, old.hidden_checks) == (None, "", None)
    assert public_line(old, published=False) == "public checks could not run; hidden checks are run at grading"
    result = SubmissionResult("bob", "FullyConnectedNets.ipynb", units=[old])
    assert gradescope_results(result, "after_published")["tests"][0]["status"] == "failed"
    saved = json.loads(json.dumps(asdict(sample().units[2])))  # as course.grade keeps finished results
    assert UnitResult(**saved) == sample().units[2]
