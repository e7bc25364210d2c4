"""Batches through the one batch driver (:func:`course.grading.assignment.grade_class`): Gradescope
results.json per submission, the CSV gradebook, and the batch boundary."""
import csv
import json
import shutil

import pytest

import course.grading.task as task_module
from autograder.reports import HIDDEN_CHECKS_NOTE
from course.grading.assignment import grade_class
from course.grading.plan import GradeError
from tests.autograder import notebooks
from tests.autograder.conftest import OPTIONS, plan_for
from tests.autograder.notebooks import UNITS, reference_source, replace_once, unit


@pytest.fixture(scope="module")
def batch(release_path, tmp_path_factory, model_artifacts, held_out):
    root = tmp_path_factory.mktemp("batch")
    submitted = root / "submitted"
    relu = replace_once(reference_source(unit("a1-fc-relu_backward")), "dx = dout * (x > 0)", "dx = dout * (x >= 0)")
    folders = []
    for student, nb in {"alice": notebooks.submission(), "bob": notebooks.submission({"a1-fc-relu_backward": relu}),
                        "dave": notebooks.submission()}.items():  # dave is graded by a grader that crashes on him (below)
        path = notebooks.write(nb, submitted / student / "a1" / "FullyConnectedNets.ipynb")
        shutil.copytree(model_artifacts, path.parent / "artifacts")
        folders.append(path.parent)
    carol = submitted / "carol" / "a1"
    carol.mkdir(parents=True)
    (carol / "FullyConnectedNets.ipynb").write_text("{ truncated")
    folders.insert(2, carol)

    real = task_module.grade_submission

    def crashes_on_dave(path, *args, submission_id=None, **kwargs):
        if submission_id == "dave":
            raise RuntimeError("a bug in the grader")
        return real(path, *args, submission_id=submission_id, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(task_module, "grade_submission", crashes_on_dave)
        report = grade_class(plan_for(release_path, UNITS, data=held_out), folders, root / "out", jobs=2)
    return root / "out", {r.submission: r for r in report.results}


def test_every_submission_gets_a_result_even_when_grading_crashes(batch):
    out, results = batch
    assert list(results) == ["alice", "bob", "carol", "dave"]
    assert results["alice"].score == sum(u.points for u in UNITS)
    assert results["alice"].score - results["bob"].score == pytest.approx(1 / 4, abs=1e-3)  # relu_backward's part at 0: a quarter
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


def test_student_ids_must_be_unique(tmp_path, release_path):
    folders = [tmp_path / "x", tmp_path / "y" / "x"]
    for folder in folders:
        notebooks.write(notebooks.submission(), folder / "FullyConnectedNets.ipynb")
    with pytest.raises(GradeError, match="two submissions are both called 'x'"):
        grade_class(plan_for(release_path, UNITS), folders, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_held_out_data_that_cannot_be_loaded_stop_the_batch_before_it_starts(tmp_path, release_path):
    submission = notebooks.write(notebooks.submission(), tmp_path / "alice" / "FullyConnectedNets.ipynb").parent

    def not_downloaded():
        raise FileNotFoundError("no CIFAR-10 here")
    with pytest.raises(GradeError, match="the held-out data set cifar10 for grading a1-fc-best_model cannot be loaded: "
                                         "no CIFAR-10 here; get it with: python -m dl.data.download cifar10"):
        grade_class(plan_for(release_path, UNITS, data={"cifar10": not_downloaded}), [submission], tmp_path / "out")
    assert not (tmp_path / "out" / "alice").exists()
    code_only = [u for u in UNITS if u.grade_id != "a1-fc-best_model"]  # no unit needs the data: nothing is loaded
    result, = grade_class(plan_for(release_path, code_only, data={"cifar10": not_downloaded}), [submission], tmp_path / "out").results
    assert result.score == sum(u.points for u in code_only)


def test_without_fixture_data_the_instructors_smoke_mode_is_ignored(tmp_path, release_path, monkeypatch):
    """``DL_SMOKE=1`` does not make the default held-out data the generated stand-in: the real set is
    looked for (here, where it is missing, the batch stops naming the download command)."""
    monkeypatch.setenv("DL_SMOKE", "1")
    monkeypatch.setenv("DL_DATA_DIR", str(tmp_path / "no-data"))
    submission = notebooks.write(notebooks.submission(), tmp_path / "alice" / "FullyConnectedNets.ipynb").parent
    with pytest.raises(GradeError, match="(?s)cannot be loaded: CIFAR-10 file not found.*dl.data.download cifar10.*"
                                         "DL_SMOKE is set here, but grading does not follow it"):
        grade_class(plan_for(release_path, UNITS), [submission], tmp_path / "out")
