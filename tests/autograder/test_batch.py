"""Batches: Gradescope results.json per submission, the CSV gradebook, and the batch boundary."""
import csv
import json
import shutil

import pytest

import autograder.grade as grade_module
from autograder.grade import DataUnavailable, grade_batch
from autograder.reports import HIDDEN_CHECKS_NOTE
from tests.autograder import notebooks
from tests.autograder.conftest import OPTIONS
from tests.autograder.notebooks import UNITS, reference_source, replace_once, unit


@pytest.fixture(scope="module")
def batch(release_path, tmp_path_factory, model_artifacts, held_out):
    root = tmp_path_factory.mktemp("batch")
    submitted = root / "submitted"
    relu = replace_once(reference_source(unit("a1-fc-relu_backward")), "dx = dout * (x > 0)", "dx = dout * (x >= 0)")
    paths = {}
    for student, nb in {"alice": notebooks.submission(), "bob": notebooks.submission({"a1-fc-relu_backward": relu})}.items():
        paths[student] = notebooks.write(nb, submitted / student / "a1" / "FullyConnectedNets.ipynb")
        shutil.copytree(model_artifacts, submitted / student / "a1" / "artifacts")
    paths["carol"] = submitted / "carol" / "a1" / "FullyConnectedNets.ipynb"
    paths["carol"].parent.mkdir(parents=True)
    paths["carol"].write_text("{ truncated")
    paths["dave"] = paths["alice"]  # graded by a grader that crashes on it (below)

    real = grade_module.grade_submission

    def crashes_on_dave(path, *args, submission_id=None, **kwargs):
        if submission_id == "dave":
            raise RuntimeError("a bug in the grader")
        return real(path, *args, submission_id=submission_id, **kwargs)

    patch = pytest.MonkeyPatch()
    patch.setattr(grade_module, "grade_submission", crashes_on_dave)
    try:
        results = grade_batch(paths, release_path, UNITS, out_dir=root / "out", options=OPTIONS, data=held_out, jobs=2)
    finally:
        patch.undo()
    return root / "out", {r.submission: r for r in results}


def test_every_submission_gets_a_result_even_when_grading_crashes(batch):
    out, results = batch
    assert sorted(results) == ["alice", "bob", "carol", "dave"]
    assert results["alice"].score == sum(u.points for u in UNITS)
    assert results["alice"].score - results["bob"].score == pytest.approx(1 / 3, abs=1e-3)
    assert results["carol"].score == 0 and "could not be read" in results["carol"].error
    assert results["dave"].score == 0 and all(u.status == "error" for u in results["dave"].units)


def test_results_json_follows_the_gradescope_format(batch):
    out, results = batch
    for student, result in results.items():
        data = json.loads((out / student / "results.json").read_text())
        assert set(data) >= {"score", "tests", "output"}
        assert data["score"] == pytest.approx(sum(t["score"] for t in data["tests"]))
        assert [t["name"] for t in data["tests"]] == [u.grade_id for u in UNITS]
        for test in data["tests"]:
            assert set(test) >= {"name", "score", "max_score", "output", "visibility"}
            assert isinstance(test["score"], (int, float)) and 0 <= test["score"] <= test["max_score"]
            assert isinstance(test["output"], str) and test["output"] and test["visibility"] == "visible"
        assert HIDDEN_CHECKS_NOTE in data["output"]
        text = json.dumps(data).lower()
        assert "all tests passed" not in text and "traceback" not in text and "a bug in the grader" not in text


def test_the_staff_log_keeps_the_traceback(batch):
    out, _ = batch
    log = (out / "grading.log").read_text()
    assert "submission dave" in log and "RuntimeError: a bug in the grader" in log and "Traceback" in log


def test_grades_csv_has_one_row_per_submission_and_one_column_per_unit(batch):
    out, results = batch
    with open(out / "grades.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["submission", *(u.grade_id for u in UNITS), "total"]
    assert [r["submission"] for r in rows] == ["alice", "bob", "carol", "dave"]
    for row in rows:
        result = results[row["submission"]]
        assert float(row["total"]) == pytest.approx(result.score)
        assert float(row["a1-fc-relu_backward"]) == next(u.score for u in result.units if u.grade_id == "a1-fc-relu_backward")


def test_ids_from_a_list_of_paths_must_be_unique(tmp_path, release_path):
    paths = [tmp_path / "x" / "a.ipynb", tmp_path / "y" / "x" / "a.ipynb"]
    with pytest.raises(ValueError, match="two submissions would be reported as 'x'"):
        grade_batch(paths, release_path, UNITS, out_dir=tmp_path / "out")


def test_held_out_data_that_cannot_be_loaded_stop_the_batch_before_it_starts(tmp_path, release_path):
    submission = notebooks.write(notebooks.submission(), tmp_path / "alice" / "FullyConnectedNets.ipynb")

    def not_downloaded():
        raise FileNotFoundError("no CIFAR-10 here")
    with pytest.raises(DataUnavailable, match="the held-out data set cifar10 for grading a1-fc-best_model cannot be loaded: "
                                              "no CIFAR-10 here; get it with: python -m dl.data.download cifar10"):
        grade_batch([submission], release_path, UNITS, out_dir=tmp_path / "out", data={"cifar10": not_downloaded})
    assert not (tmp_path / "out" / "alice").exists()
    code_only = [u for u in UNITS if u.grade_id != "a1-fc-best_model"]  # no unit needs the data: nothing is loaded
    result, = grade_batch([submission], release_path, code_only, out_dir=tmp_path / "out", options=OPTIONS, data={"cifar10": not_downloaded})
    assert result.score == sum(u.points for u in code_only)
