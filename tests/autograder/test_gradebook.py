"""Writing ``dl-course grade`` results into a real nbgrader gradebook (``autograder.gradebook``).

The gradebook comes from running ``nbgrader generate_assignment a1`` on a copy of the course's
source notebooks (the step of ``dl-course release`` that fills the gradebook; the rest of the
release does not touch it), once per module; every test works on its own copy of the database.
Results are built directly from the manifest's units, with seeded random partial scores.
"""
from __future__ import annotations

import dataclasses
import datetime
import random
import shutil
from pathlib import Path

import pytest
from nbgrader.api import Grade, Gradebook

from autograder.gradebook import GradebookError, submission_timestamp, write_nbgrader_gradebook
from autograder.reports import SubmissionResult, UnitResult
from course.manifest import load_manifest
from course.release import generate_assignment

ROOT = Path(__file__).resolve().parents[2]
A1 = load_manifest(ROOT).built_notebooks("a1")
NOTEBOOKS = {nb.name: nb.units for nb in A1}
UNITS = [u for nb in A1 for u in nb.units]
QUESTIONS = {nb.name: [q.grade_id for q in nb.questions] for nb in A1}


@pytest.fixture(scope="module")
def released_gradebook(tmp_path_factory) -> Path:
    """A gradebook.db holding a1 as ``nbgrader generate_assignment`` records it (no students)."""
    root = tmp_path_factory.mktemp("course")
    shutil.copytree(ROOT / "source_notebooks", root / "source_notebooks",
                    ignore=shutil.ignore_patterns("__pycache__", "artifacts", ".ipynb_checkpoints"))
    shutil.copy(ROOT / "nbgrader_config.py", root)
    generate_assignment(root, "a1")
    return root / "gradebook.db"


@pytest.fixture
def db(released_gradebook, tmp_path) -> str:
    """The URL of this test's own copy of the released gradebook, in a course root ``tmp_path``."""
    shutil.copy(released_gradebook, tmp_path / "gradebook.db")
    return f"sqlite:///{tmp_path / 'gradebook.db'}"


def result(student: str, scores: dict[str, float], status: dict[str, str] | None = None) -> SubmissionResult:
    """A SubmissionResult with every a1 unit, scored as in ``scores``."""
    status = status or {}
    units = [UnitResult(u.grade_id, scores[u.grade_id], u.points,
                        status.get(u.grade_id, "passed" if scores[u.grade_id] == u.points else "partial"), "")
             for u in UNITS]
    return SubmissionResult(student, "a1", units)


def full_marks() -> dict[str, float]:
    return {u.grade_id: float(u.points) for u in UNITS}


def partial_marks(seed: int) -> dict[str, float]:
    rng = random.Random(seed)
    return {u.grade_id: round(u.points * rng.choice([0.0, 0.25, 0.5, 1.0]), 4) for u in UNITS}


def notebook_of(grade_id: str) -> str:
    return next(name for name, units in NOTEBOOKS.items() if any(u.grade_id == grade_id for u in units))


def snapshot(db: str) -> dict:
    """Every grade row of the gradebook: (student, notebook, cell) -> (auto, manual, needs manual grade)."""
    with Gradebook(db, course_id="") as gb:
        return {(g.student.id, g.notebook.name, g.name): (g.auto_score, g.manual_score, g.needs_manual_grade)
                for g in gb.db.query(Grade).all()}


def test_scores_totals_and_notebook_scores_are_written(db):
    alice, bob = full_marks(), partial_marks(seed=0)
    assert 0 < sum(bob.values()) < sum(alice.values())
    summary = write_nbgrader_gradebook(db, "a1", [result("alice", alice), result("bob", bob)], NOTEBOOKS)

    assert (summary.students, summary.students_created, summary.submissions_created) == (2, 2, 2)
    assert summary.grades_written == summary.grades_changed == 2 * len(UNITS)
    assert summary.needs_manual_grade == []
    assert "2 student(s)" in str(summary)
    with Gradebook(db, course_id="") as gb:
        for student, scores in (("alice", alice), ("bob", bob)):
            for unit in UNITS:
                grade = gb.find_grade(f"{unit.grade_id}-tests", notebook_of(unit.grade_id), "a1", student)
                assert grade.auto_score == pytest.approx(scores[unit.grade_id]), (student, unit.grade_id)
                assert grade.manual_score is None and not grade.needs_manual_grade
                assert grade.max_score == unit.points
            assert gb.find_submission("a1", student).score == pytest.approx(sum(scores.values()))
            for name, units in NOTEBOOKS.items():
                notebook = gb.find_submission_notebook(name, "a1", student)
                assert notebook.score == pytest.approx(sum(scores[u.grade_id] for u in units)), (student, name)
                # Written questions stay for the staff: unscored, and asking for a manual grade.
                for question in QUESTIONS[name]:
                    grade = gb.find_grade(question, name, "a1", student)
                    assert grade.auto_score is None and grade.manual_score is None and grade.needs_manual_grade
            assert gb.find_submission("a1", student).timestamp is None


def test_formgrader_lists_the_submissions_as_autograded(db, tmp_path):
    from nbgrader.apps.api import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    bob = partial_marks(seed=1)
    write_nbgrader_gradebook(db, "a1", [result("alice", full_marks()), result("bob", bob)], NOTEBOOKS)
    api = NbGraderAPI(coursedir=CourseDirectory(root=str(tmp_path)))
    listed = {s["student"]: s for s in api.get_submissions("a1")}
    assert set(listed) == {"alice", "bob"}
    assert all(s["autograded"] and s["submitted"] for s in listed.values())
    assert listed["alice"]["code_score"] == pytest.approx(sum(u.points for u in UNITS))
    assert listed["bob"]["score"] == pytest.approx(sum(bob.values()))
    assert listed["bob"]["needs_manual_grade"]  # the written questions


def test_collected_submission_needs_its_timestamp_to_show_as_autograded(db, tmp_path):
    """With ``submitted/<student>/a1/`` present, formgrader compares the gradebook's time with timestamp.txt."""
    from nbgrader.apps.api import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    folder = tmp_path / "submitted" / "alice" / "a1"
    folder.mkdir(parents=True)
    (folder / "timestamp.txt").write_text("2025-03-01 12:30:00.000000 UTC\n")
    (tmp_path / "autograded" / "alice" / "a1").mkdir(parents=True)

    def formgrader_view():
        api = NbGraderAPI(coursedir=CourseDirectory(root=str(tmp_path)))
        return next(s for s in api.get_submissions("a1") if s["student"] == "alice")

    write_nbgrader_gradebook(db, "a1", [result("alice", full_marks())], NOTEBOOKS)
    assert not formgrader_view()["autograded"] and formgrader_view()["score"] == 0

    when = submission_timestamp(folder)
    assert when == datetime.datetime(2025, 3, 1, 12, 30)
    write_nbgrader_gradebook(db, "a1", [result("alice", full_marks())], NOTEBOOKS, timestamps={"alice": when})
    view = formgrader_view()
    assert view["autograded"] and view["score"] == pytest.approx(sum(u.points for u in UNITS))
    # A later write without a time keeps the stored one.
    write_nbgrader_gradebook(db, "a1", [result("alice", full_marks())], NOTEBOOKS)
    with Gradebook(db, course_id="") as gb:
        assert gb.find_submission("a1", "alice").timestamp == when
    assert submission_timestamp(tmp_path) is None


def test_rewriting_is_idempotent_and_updates_changed_scores(db):
    results = [result("alice", full_marks()), result("bob", partial_marks(seed=2))]
    write_nbgrader_gradebook(db, "a1", results, NOTEBOOKS)
    before = snapshot(db)
    again = write_nbgrader_gradebook(db, "a1", results, NOTEBOOKS)
    assert snapshot(db) == before
    assert (again.students_created, again.submissions_created, again.grades_changed) == (0, 0, 0)
    assert again.grades_written == 2 * len(UNITS)

    regraded = partial_marks(seed=2) | {"a1-fc-adam": 1.5}
    assert partial_marks(seed=2)["a1-fc-adam"] != 1.5
    summary = write_nbgrader_gradebook(db, "a1", [result("bob", regraded)], NOTEBOOKS)
    assert summary.grades_changed == 1
    after = snapshot(db)
    assert after[("bob", "FullyConnectedNets", "a1-fc-adam-tests")] == (1.5, None, False)
    assert {k: v for k, v in after.items() if k[2] != "a1-fc-adam-tests" or k[0] != "bob"} == \
           {k: v for k, v in before.items() if k[2] != "a1-fc-adam-tests" or k[0] != "bob"}
    with Gradebook(db, course_id="") as gb:
        assert gb.find_submission("a1", "bob").score == pytest.approx(sum(regraded.values()))


def test_manual_scores_of_the_staff_are_kept(db):
    scores = full_marks()
    write_nbgrader_gradebook(db, "a1", [result("alice", scores)], NOTEBOOKS)
    with Gradebook(db, course_id="") as gb:  # what formgrader does when a grader saves a score
        question = gb.find_grade("a1-fc-q1", "FullyConnectedNets", "a1", "alice")
        question.manual_score, question.needs_manual_grade = 1.5, False
        override = gb.find_grade("a1-fc-softmax_loss-tests", "FullyConnectedNets", "a1", "alice")
        override.manual_score, override.needs_manual_grade = 2.0, False
        gb.db.commit()

    write_nbgrader_gradebook(db, "a1", [result("alice", scores)], NOTEBOOKS)
    rows = snapshot(db)
    assert rows[("alice", "FullyConnectedNets", "a1-fc-q1")] == (None, 1.5, False)
    assert rows[("alice", "FullyConnectedNets", "a1-fc-softmax_loss-tests")] == (3.0, 2.0, False)
    with Gradebook(db, course_id="") as gb:
        total = sum(scores.values()) - 3.0 + 2.0 + 1.5
        assert gb.find_submission("a1", "alice").score == pytest.approx(total)

    # A new auto score under a manual override asks the staff to look again; the override stays.
    summary = write_nbgrader_gradebook(db, "a1", [result("alice", scores | {"a1-fc-softmax_loss": 1.0})], NOTEBOOKS)
    assert snapshot(db)[("alice", "FullyConnectedNets", "a1-fc-softmax_loss-tests")] == (1.0, 2.0, True)
    assert summary.needs_manual_grade == ["alice: a1-fc-softmax_loss"]
    assert snapshot(db)[("alice", "FullyConnectedNets", "a1-fc-q1")] == (None, 1.5, False)


def test_units_that_could_not_be_graded_ask_for_a_manual_grade(db):
    zero = {u.grade_id: 0.0 for u in UNITS}
    broken = result("carol", zero, status={u.grade_id: "error" for u in A1[0].units})
    summary = write_nbgrader_gradebook(db, "a1", [broken], NOTEBOOKS)
    assert sorted(summary.needs_manual_grade) == sorted(f"carol: {u.grade_id}" for u in A1[0].units)
    rows = snapshot(db)
    assert rows[("carol", A1[0].name, f"{A1[0].units[0].grade_id}-tests")] == (0.0, None, True)
    assert rows[("carol", A1[1].name, f"{A1[1].units[0].grade_id}-tests")] == (0.0, None, False)

    write_nbgrader_gradebook(db, "a1", [result("carol", full_marks())], NOTEBOOKS)
    rows = snapshot(db)
    assert not any(flag for (student, _, cell), (_, _, flag) in rows.items() if cell.endswith("-tests"))


def test_scores_are_clipped_to_the_cells_points_and_missing_units_score_zero(db):
    scores = full_marks() | {"a1-fc-affine_forward": 7.0, "a1-fc-relu_forward": -1.0}
    partial = result("dave", scores)
    partial.units = [u for u in partial.units if u.grade_id != "a1-dropout-dropout_forward"]
    write_nbgrader_gradebook(db, "a1", [partial], NOTEBOOKS)
    rows = snapshot(db)
    assert rows[("dave", "FullyConnectedNets", "a1-fc-affine_forward-tests")][0] == 2.0
    assert rows[("dave", "FullyConnectedNets", "a1-fc-relu_forward-tests")][0] == 0.0
    assert rows[("dave", "Dropout", "a1-dropout-dropout_forward-tests")][0] == 0.0


def test_existing_students_keep_their_names(db):
    with Gradebook(db, course_id="") as gb:
        gb.add_student("alice", first_name="Alice", last_name="Liddell")
    summary = write_nbgrader_gradebook(db, "a1", [result("alice", full_marks())], NOTEBOOKS)
    assert summary.students_created == 0 and summary.submissions_created == 1
    with Gradebook(db, course_id="") as gb:
        assert gb.find_student("alice").last_name == "Liddell"


def test_missing_gradebook_or_assignment_says_to_release(released_gradebook, tmp_path):
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    with pytest.raises(GradebookError, match=r"no gradebook at .*dl-course release a1"):
        write_nbgrader_gradebook(url, "a1", [result("alice", full_marks())], NOTEBOOKS)
    assert not (tmp_path / "gradebook.db").exists()

    shutil.copy(released_gradebook, tmp_path / "gradebook.db")
    with Gradebook(url, course_id="") as gb:
        gb.remove_assignment("a1")
        gb.add_assignment("a0")
    with pytest.raises(GradebookError, match=r"'a1' is not in the gradebook sqlite:///.*gradebook.db.*dl-course release a1"):
        write_nbgrader_gradebook(url, "a1", [result("alice", full_marks())], NOTEBOOKS)
    with Gradebook(url, course_id="") as gb:
        assert gb.students == []


def points_changed(grade_id: str, points: float) -> dict:
    return {name: [dataclasses.replace(u, points=points) if u.grade_id == grade_id else u for u in units]
            for name, units in NOTEBOOKS.items()}


@pytest.mark.parametrize("notebooks, message", [
    (points_changed("a1-fc-adam", 4.0), r"a1-fc-adam-tests is worth 3 points in the gradebook, unit a1-fc-adam 4"),
    ({**NOTEBOOKS, "Dropout": [*NOTEBOOKS["Dropout"], dataclasses.replace(NOTEBOOKS["Dropout"][0], grade_id="a1-dropout-new")]},
     r"Dropout has no grade cell a1-dropout-new-tests"),
    ({**NOTEBOOKS, "Dropout": NOTEBOOKS["Dropout"][1:]}, r"grade cell a1-dropout-dropout_forward-tests of the gradebook has no unit"),
    ({**NOTEBOOKS, "Transformers": []}, r"notebook Transformers is not in the gradebook's a1"),
])
def test_a_gradebook_from_another_release_is_refused_before_writing(db, notebooks, message):
    units = {u.grade_id for nbu in notebooks.values() for u in nbu}
    scores = {u.grade_id: u.points for nbu in notebooks.values() for u in nbu}
    mine = SubmissionResult("alice", "a1", [UnitResult(g, scores[g], scores[g], "passed", "") for g in sorted(units)])
    before = snapshot(db)
    with pytest.raises(GradebookError, match=message) as info:
        write_nbgrader_gradebook(db, "a1", [mine], notebooks)
    assert "dl-course release a1" in str(info.value)
    assert snapshot(db) == before == {}
    with Gradebook(db, course_id="") as gb:
        assert gb.students == []


def test_results_that_do_not_fit_the_assignment_are_refused(db):
    stray = result("alice", full_marks())
    stray.units.append(UnitResult("a2-rnn-lstm", 1.0, 1.0, "passed", ""))
    with pytest.raises(GradebookError, match="a2-rnn-lstm"):
        write_nbgrader_gradebook(db, "a1", [stray], NOTEBOOKS)
    with pytest.raises(GradebookError, match="'alice' has two results"):
        write_nbgrader_gradebook(db, "a1", [result("alice", full_marks())] * 2, NOTEBOOKS)
    with pytest.raises(GradebookError, match="not a time"):
        write_nbgrader_gradebook(db, "a1", [result("alice", full_marks())], NOTEBOOKS, timestamps={"alice": "soon"})
    assert snapshot(db) == {}
