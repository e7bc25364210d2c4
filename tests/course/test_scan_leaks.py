"""scan_leaks: markers, hidden tests and unrevealed reference bodies anywhere under release/ are caught."""
import inspect
import json

import pytest

import dl.layers
from course.build.scan_leaks import normalize, scan_leaks
from course.build.stub_solutions import stub_solutions


@pytest.fixture
def clean_release(tmp_path, course):
    """release/t1 and release/t2 with the student dl (no nbgrader: the scan is what is tested)."""
    for assignment in ("t1", "t2"):
        for path, text in stub_solutions(course, assignment).items():
            target = tmp_path / "release" / assignment / "dl" / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
    return tmp_path / "release"


def test_a_clean_release_passes(clean_release, course):
    assert scan_leaks(clean_release, course) == []


def test_a_planted_reference_body_is_caught_even_reformatted(clean_release, course):
    # relu_forward belongs to t1: it may ship in t2 (which reveals t1) but not in t1.
    planted = "def helper(x):\n    out   = np.maximum(0, x)   # reformatted, with a comment\n\n    cache = x\n    return out\n"
    (clean_release / "t1" / "dl" / "notes.py").write_text(planted)
    (clean_release / "t2" / "dl" / "notes.py").write_text(planted)
    (problem,) = scan_leaks(clean_release, course)
    assert problem.startswith("release/t1/dl/notes.py: contains the solution of t1-tiny-relu_forward (dl/layers.py line ")


def test_a_leak_in_a_notebook_cell_is_caught(clean_release, course):
    source = inspect.getsource(dl.layers.softmax_loss).replace("    ### BEGIN SOLUTION\n", "").replace("    ### END SOLUTION\n", "")
    nb = {"cells": [{"cell_type": "code", "source": source.splitlines(keepends=True), "outputs": []}], "nbformat": 4}
    (clean_release / "t2" / "Later.ipynb").write_text(json.dumps(nb, indent=1))
    (problem,) = scan_leaks(clean_release, course)
    assert problem.startswith("release/t2/Later.ipynb: contains the solution of t2-later-softmax_loss (dl/layers.py line ")


@pytest.mark.parametrize("text", ["### BEGIN SOLUTION", "x = 1  # END SOLUTION", "### BEGIN HIDDEN TESTS", "END HIDDEN TESTS"])
def test_markers_are_caught_in_any_file(clean_release, course, text):
    (clean_release / "t1" / "README.txt").write_text(f"hello\n{text}\n")
    assert scan_leaks(clean_release, course)[0].startswith("release/t1/README.txt: contains")


def test_files_other_than_notebooks_and_dl_modules_are_refused(clean_release, course):
    """Is a trained model written beside a source notebook kept out of the release?"""
    (clean_release / "t1" / "artifacts").mkdir()
    (clean_release / "t1" / "artifacts" / "best.npz").write_bytes(b"PK\x03\x04")
    (problem,) = scan_leaks(clean_release, course)
    assert problem == ("release/t1/artifacts/best.npz: not a notebook of the assignment, a module of its dl/, "
                       "one of its reference files, its README.md or its dl-course-assignment.json")


def test_the_students_readme_may_sit_beside_the_notebooks_and_nothing_else_of_its_kind(clean_release, course):
    (clean_release / "t1" / "README.md").write_text("# Assignment t1\n")
    (clean_release / "t1" / "NOTES.md").write_text("notes\n")
    (clean_release / "README.md").write_text("# all assignments\n")
    problems = scan_leaks(clean_release, course)
    assert [p.split(":")[0] for p in problems] == ["release/README.md", "release/t1/NOTES.md"]


def test_the_colab_marker_is_allowed_only_beside_the_notebooks(clean_release, course):
    for name in ("t1/dl-course-assignment.json", "t1/dl/dl-course-assignment.json", "dl-course-assignment.json"):
        (clean_release / name).write_text("{}")
    problems = scan_leaks(clean_release, course)
    assert [p.split(":")[0] for p in problems] == ["release/dl-course-assignment.json", "release/t1/dl/dl-course-assignment.json"]


def test_bytecode_and_checkpoints_written_by_someone_else_are_refused(clean_release, course):
    pyc = clean_release / "t1" / "dl" / "__pycache__" / "layers.cpython-311.pyc"
    pyc.parent.mkdir()
    pyc.write_bytes(b"\0")
    (clean_release / "t1" / ".ipynb_checkpoints").mkdir()
    (clean_release / "t1" / ".ipynb_checkpoints" / "Tiny-checkpoint.ipynb").write_text("{}")
    problems = scan_leaks(clean_release, course)
    assert problems == [
        "release/t1/.ipynb_checkpoints/Tiny-checkpoint.ipynb: a by-product of running code in release/ (bytecode, "
        "checkpoints); run `dl-course release` again, which replaces the folder",
        "release/t1/dl/__pycache__/layers.cpython-311.pyc: a by-product of running code in release/ (bytecode, "
        "checkpoints); run `dl-course release` again, which replaces the folder"]


def test_only_declared_reference_files_may_sit_beside_the_notebooks(tmp_path, clean_release):
    from course.manifest import load_manifest
    from tests.course.conftest import LATER, TINY, write_course

    check = '\n# %% role="check"\nc = reference_file("tiny-checks.npz", x=np.zeros(2))\n'
    course = load_manifest(write_course(tmp_path / "root", sources={"t1/Tiny": TINY + check, "t2/Later": LATER}))
    for name in ("t1/tiny-checks.npz", "t2/tiny-checks.npz", "t1/other.npz"):
        (clean_release / name).write_bytes(b"PK")
    problems = scan_leaks(clean_release, course)
    assert [p.split(":")[0] for p in problems] == ["release/t1/other.npz", "release/t2/tiny-checks.npz"]
    assert "one of its reference files" in problems[0]


def test_normalize():
    assert normalize("    out = f(x)  # note") == "out=f(x)"
    assert normalize('s = "# not a comment"') == 's="#notacomment"'
    assert normalize("   # only a comment") == ""
