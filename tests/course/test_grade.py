"""``dl-course grade`` over a class: resuming, interrupted batches, the CLI, and the Dask backend.

Real a1 release, real sample submissions (the buggy one and the empty release copy, without
trained models). A batch loads the held-out data of the accuracy units before it starts, so the
module grades with ``fixture_data`` (``--fixture-data``): they are the generated CIFAR-10 stand-in.
``DL_SMOKE`` alone never makes the grader use it.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import course.grading.runners as runners_module
import course.grading.task as task_module
from course.cli import main
from course.grading import assignment
from course.grading.assignment import SMOKE_IGNORED
from course.grading.plan import GradeError, grading_plan
from course.grading.reports import staff_note
from course.grading.state import grading_digest
from course.grading.task import FIXTURE_WARNING
from course.samples import make_samples

ROOT = Path(__file__).resolve().parents[2]


def grade_assignment(*args, **kwargs):
    """The product's driver, explicitly on the generated stand-in of the held-out data (``--fixture-data``)."""
    return assignment.grade_assignment(*args, fixture_data=True, **kwargs)


@pytest.fixture(scope="module")
def samples(tmp_path_factory) -> dict[str, Path]:
    folders = make_samples(ROOT / "source_notebooks" / "a1", ROOT / "release" / "a1", tmp_path_factory.mktemp("samples"))
    return {name: folders[name] for name in ("buggy", "empty")}


@pytest.fixture(scope="module")
def first_run(samples, tmp_path_factory):
    """Both samples graded once, the way later runs must reproduce."""
    out = tmp_path_factory.mktemp("first")
    report = grade_assignment(ROOT, "a1", list(samples.values()), out, jobs=2)
    assert report.notes == [FIXTURE_WARNING]
    return out, {r.submission: r for r in report.results}


def copy_of(samples: dict[str, Path], tmp_path: Path) -> dict[str, Path]:
    return {name: Path(shutil.copytree(folder, tmp_path / "submitted" / name)) for name, folder in samples.items()}


def count_grading(monkeypatch) -> list[str]:
    graded: list[str] = []
    real = runners_module.grade_student

    def counting(plan, student, folder):
        graded.append(student)
        return real(plan, student, folder)
    monkeypatch.setattr(runners_module, "grade_student", counting)
    return graded


def scores(report) -> dict[str, dict[str, float]]:
    return {r.submission: {u.grade_id: u.score for u in r.units} for r in report.results}


def test_a_batch_grades_every_notebook_of_every_student(first_run):
    out, results = first_run
    assert results["empty"].score == 0 and 0 < results["buggy"].score < results["buggy"].max_score
    assert {u.grade_id.split("-")[1] for u in results["buggy"].units} == {"fc", "bn", "dropout", "cnn"}
    for student in results:
        data = json.loads((out / student / "results.json").read_text())
        assert data["score"] == pytest.approx(results[student].score)
        page = (out / student / "feedback.html").read_text()
        assert f"{results[student].score:g}" in page and "all tests passed" not in page.lower()
    rows = (out / "grades.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in rows] == ["submission", "buggy", "empty"]
    log = (out / "grading.log").read_text()
    assert "submission buggy:" in log and "submission empty:" in log


def test_grading_on_fixture_data_says_so_everywhere_and_is_part_of_the_fingerprint(first_run):
    out, results = first_run
    for student in results:
        assert json.loads((out / student / "results.json").read_text())["output"].startswith(FIXTURE_WARNING)
        assert FIXTURE_WARNING in (out / student / "feedback.html").read_text()
    assert f"WARNING {FIXTURE_WARNING}" in (out / "grading.log").read_text()
    real = grading_plan(ROOT, "a1")
    assert grading_digest(real) != grading_digest(grading_plan(ROOT, "a1", fixture_data=True))  # never kept for a real run


def test_a_rerun_keeps_unchanged_results_and_grades_changed_submissions(samples, first_run, tmp_path, monkeypatch):
    folders = copy_of(samples, tmp_path)
    out = tmp_path / "out"
    shutil.copytree(first_run[0], out)
    graded = count_grading(monkeypatch)

    report = grade_assignment(ROOT, "a1", list(folders.values()), out, jobs=2)
    assert graded == [] and sorted(report.skipped) == ["buggy", "empty"]
    assert scores(report) == {s: {u.grade_id: u.score for u in r.units} for s, r in first_run[1].items()}

    notebook = folders["empty"] / "Dropout.ipynb"  # the student hands in a new version
    notebook.write_text(notebook.read_text() + "\n")
    report = grade_assignment(ROOT, "a1", list(folders.values()), out, jobs=2)
    assert graded == ["empty"] and report.skipped == ["buggy"]

    report = grade_assignment(ROOT, "a1", list(folders.values()), out, jobs=2, force=True)
    assert sorted(graded) == ["buggy", "empty", "empty"] and report.skipped == []
    assert scores(report)["buggy"] == {u.grade_id: u.score for u in first_run[1]["buggy"].units}


def test_only_the_files_the_grader_reads_decide_whether_to_grade_again(samples, first_run, tmp_path, monkeypatch):
    folders = copy_of(samples, tmp_path)
    out = tmp_path / "out"
    shutil.copytree(first_run[0], out)
    graded = count_grading(monkeypatch)
    (folders["buggy"] / "notes.txt").write_text("my own notes")  # not read by the grader
    (folders["buggy"] / "data").mkdir()
    (folders["buggy"] / "data" / "cache.bin").write_bytes(bytes(1000))
    grade_assignment(ROOT, "a1", list(folders.values()), out)
    assert graded == []
    (folders["buggy"] / "artifacts").mkdir(exist_ok=True)
    (folders["buggy"] / "artifacts" / "a1_best_fc.json").write_text("{}")  # a new artifact: graded again
    grade_assignment(ROOT, "a1", list(folders.values()), out)
    assert graded == ["buggy"]


def test_a_damaged_state_file_means_grading_again(samples, first_run, tmp_path, monkeypatch):
    out = tmp_path / "out"
    shutil.copytree(first_run[0], out)
    (out / ".state" / "buggy.json").write_text('{"fingerprint": ')
    graded = count_grading(monkeypatch)
    report = grade_assignment(ROOT, "a1", list(samples.values()), out)
    assert graded == ["buggy"] and report.skipped == ["empty"]
    assert report.results[0].score == first_run[1]["buggy"].score


def test_an_interrupted_batch_keeps_every_finished_result(samples, first_run, tmp_path, monkeypatch):
    out = tmp_path / "out"
    real = runners_module.grade_student

    def interrupted_at_empty(plan, student, folder):
        if student == "empty":
            raise KeyboardInterrupt
        return real(plan, student, folder)
    monkeypatch.setattr(runners_module, "grade_student", interrupted_at_empty)
    with pytest.raises(KeyboardInterrupt):  # while buggy is being graded beside it: it still finishes and is kept
        grade_assignment(ROOT, "a1", [samples["buggy"], samples["empty"]], out, jobs=2)
    assert json.loads((out / "buggy" / "results.json").read_text())["score"] == pytest.approx(first_run[1]["buggy"].score)
    assert not (out / "empty").exists()
    assert not list(out.rglob(".*.tmp"))  # no half-written file left behind

    monkeypatch.setattr(runners_module, "grade_student", real)
    graded = count_grading(monkeypatch)
    report = grade_assignment(ROOT, "a1", [samples["buggy"], samples["empty"]], out, jobs=1)
    assert graded == ["empty"] and report.skipped == ["buggy"]


def test_a_grader_failure_costs_only_that_notebook(samples, tmp_path, monkeypatch):
    real = task_module.grade_submission

    def crashes_on_dropout(path, *args, **kwargs):
        if Path(path).name == "Dropout.ipynb":
            raise RuntimeError("a bug in the grader")
        return real(path, *args, **kwargs)
    monkeypatch.setattr(task_module, "grade_submission", crashes_on_dropout)
    report = grade_assignment(ROOT, "a1", [samples["buggy"]], tmp_path / "out")
    result = report.results[0]
    dropout = [u for u in result.units if u.grade_id.startswith("a1-dropout-")]
    assert dropout and all(u.status == "error" and u.score == 0 for u in dropout)
    assert sum(u.score for u in result.units if u.grade_id.startswith("a1-fc-")) > 0
    assert "Dropout" in result.error and "a bug in the grader" not in result.error  # the traceback is for the staff
    assert "a bug in the grader" in (tmp_path / "out" / "grading.log").read_text()
    assert staff_note(report).startswith(f"{len(dropout)} unit(s) could not be graded automatically and scored 0 (buggy)")
    monkeypatch.setattr(task_module, "grade_submission", real)  # the cause is gone: the next run grades buggy again
    graded = count_grading(monkeypatch)
    report = grade_assignment(ROOT, "a1", [samples["buggy"]], tmp_path / "out")
    assert graded == ["buggy"] and staff_note(report) is None


def test_links_into_the_course_earn_nothing_and_are_never_walked(tmp_path):
    """A submission made of links (git and unzip keep them): the solution notebooks, and an
    ``artifacts`` that points at the disk's root (hashing it for the resume state would walk the disk)."""
    linked = tmp_path / "submitted" / "linked"
    linked.mkdir(parents=True)
    solutions = sorted((ROOT / "source_notebooks" / "a1").glob("*.ipynb"))
    for notebook in solutions:
        (linked / notebook.name).symlink_to(notebook)
    (linked / "artifacts").symlink_to("/", target_is_directory=True)
    result = grade_assignment(ROOT, "a1", [linked], tmp_path / "out").results[0]
    assert result.score == 0
    for notebook in solutions:
        assert f"{notebook.name} is a symbolic link" in result.error, result.error


def test_the_cli_grades_resumes_and_forces(samples, first_run, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["grade", "a1", str(samples["empty"]), "--out", str(out), "--root", str(ROOT), "--fixture-data"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "total" in printed and FIXTURE_WARNING in printed
    assert main(args) == 0
    assert "1 unchanged submission(s) kept their earlier results" in capsys.readouterr().out
    assert main([*args, "--force"]) == 0
    assert "kept their earlier results" not in capsys.readouterr().out
    # Kept results are reported with this run's visibility: public checks now, hidden results later.
    assert main([*args, "--hidden-visibility", "after_published"]) == 0
    assert "kept their earlier results" in capsys.readouterr().out
    data = json.loads((out / "empty" / "results.json").read_text())
    assert data["visibility"] == "after_published" and any(t["name"].endswith(": public checks") for t in data["tests"])


def test_bad_input_is_named(samples, tmp_path):
    with pytest.raises(GradeError, match="no assignment 'a9'"):
        grade_assignment(ROOT, "a9", list(samples.values()), tmp_path)
    with pytest.raises(GradeError, match="not a submission folder"):
        grade_assignment(ROOT, "a1", [tmp_path / "nowhere"], tmp_path)
    with pytest.raises(GradeError, match="pass the submission folder"):
        grade_assignment(ROOT, "a1", [samples["empty"] / "Dropout.ipynb"], tmp_path)


def test_a_zip_with_a_top_folder_is_graded_from_it(samples, first_run, tmp_path):
    """Gradescope unpacks an uploaded a1.zip holding a1/*.ipynb into submission/a1/ (macOS adds __MACOSX/)."""
    upload = tmp_path / "submission"
    shutil.copytree(samples["buggy"], upload / "a1")
    (upload / "__MACOSX" / "a1").mkdir(parents=True)
    (upload / "__MACOSX" / "a1" / "._FullyConnectedNets.ipynb").write_bytes(b"\0\5\26\7")
    result = grade_assignment(ROOT, "a1", [upload], tmp_path / "out").results[0]
    assert result.submission == "submission" and (tmp_path / "out" / "submission" / "results.json").is_file()
    assert {u.grade_id: u.score for u in result.units} == {u.grade_id: u.score for u in first_run[1]["buggy"].units}


def test_missing_held_out_data_stops_the_batch_before_anyone_is_graded(samples, tmp_path):
    def not_downloaded():
        raise FileNotFoundError("CIFAR-10 file not found; get it with: python -m dl.data.download cifar10")
    with pytest.raises(GradeError, match="for grading a1-fc-best_model, a1-cnn-one_epoch_model cannot be loaded: "
                                         "CIFAR-10 file not found; get it with: python -m dl.data.download cifar10"):
        assignment.grade_assignment(ROOT, "a1", [samples["empty"]], tmp_path / "out", data={"cifar10": not_downloaded})
    assert not (tmp_path / "out" / "empty").exists()


def test_the_instructors_smoke_mode_does_not_make_the_grader_use_the_fixture(samples, tmp_path):
    """``DL_SMOKE=1`` left in the shell, no --fixture-data, a machine without CIFAR-10: the command wants
    the real data (it stops before grading anyone, with the download command) and says DL_SMOKE was ignored."""
    env = os.environ | {"DL_SMOKE": "1", "DL_DATA_DIR": str(tmp_path / "no-data")}
    cli = subprocess.run([sys.executable, "-m", "course.cli", "grade", "a1", str(samples["empty"]), "--out", str(tmp_path / "cli"),
                          "--root", str(ROOT)], env=env, capture_output=True, text=True, timeout=120)
    assert cli.returncode == 1, cli.stdout + cli.stderr
    assert "dl-course grade: the held-out data" in cli.stderr and "python -m dl.data.download cifar10" in cli.stderr
    assert SMOKE_IGNORED in cli.stderr and "--fixture-data" in cli.stderr
    assert not (tmp_path / "cli" / "empty").exists()


def test_a_dask_cluster_grades_the_same_tasks(samples, first_run, tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=True, dashboard_address=None) as cluster:
        report = grade_assignment(ROOT, "a1", list(samples.values()), tmp_path / "out", scheduler=cluster.scheduler_address)
    assert scores(report) == {s: {u.grade_id: u.score for u in r.units} for s, r in first_run[1].items()}
    for student in samples:
        assert (tmp_path / "out" / ".state" / f"{student}.json").is_file()
        assert (tmp_path / "out" / student / "results.json").is_file()


def test_an_unreachable_scheduler_is_a_clear_error(samples, tmp_path):
    pytest.importorskip("distributed")
    with pytest.raises(GradeError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:9"):
        grade_assignment(ROOT, "a1", [samples["empty"]], tmp_path, scheduler="tcp://127.0.0.1:9")


def test_scores_go_into_the_nbgrader_gradebook_from_nbgraders_folder_layout(samples, first_run, tmp_path, capsys):
    from nbgrader.api import Gradebook

    from course.release import generate_assignment

    course = tmp_path / "course"  # a gradebook holding a1 as generate_assignment records it
    shutil.copytree(ROOT / "source_notebooks", course / "source_notebooks", ignore=shutil.ignore_patterns("artifacts"))
    shutil.copy(ROOT / "nbgrader_config.py", course)
    generate_assignment(course, "a1")
    folders = [Path(shutil.copytree(samples[name], tmp_path / "submitted" / name / "a1")) for name in ("buggy", "empty")]

    args = ["grade", "a1", *map(str, folders), "--out", str(tmp_path / "out"), "--root", str(ROOT), "--fixture-data",
            "--gradebook", str(course / "gradebook.db")]
    assert main(args) == 0
    assert "gradebook sqlite:///" in capsys.readouterr().out
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id="") as gradebook:
        for student in ("buggy", "empty"):  # the ids are the students' folders, not "a1"
            assert gradebook.find_submission("a1", student).score == pytest.approx(first_run[1][student].score)

    assert main([*args[:-1], str(tmp_path / "elsewhere.db")]) == 1
    assert "elsewhere.db" in capsys.readouterr().err


def test_the_score_table_summarises_a_large_class(first_run):
    from autograder.units import Unit
    from course.grading.reports import AssignmentReport, score_table

    out, results = first_run
    units = [Unit(u.grade_id, u.max_score) for u in results["buggy"].units]
    few = AssignmentReport([results["buggy"], results["empty"]], units, out)
    assert score_table(few).splitlines()[0].split()[-2:] == ["buggy", "empty"]
    many = AssignmentReport([results["buggy"]] * 3 + [results["empty"]] * 7, units, out)
    table = score_table(many)
    assert table.startswith("10 students") and "buggy" not in table
    buggy_adam = next(u for u in results["buggy"].units if u.grade_id == "a1-fc-adam")
    row = next(line.split() for line in table.splitlines() if line.startswith("a1-fc-adam "))
    assert float(row[2]) == pytest.approx(3 * buggy_adam.score / 10, abs=0.01) and row[4] == "7"  # zero: the 7 empty ones
    assert "median" in table.splitlines()[-1]
