"""Acceptance of the pipeline on the real releases: nbgrader agrees with dl-course grade on every
assignment, and notebook drift (stripped metadata, deleted, duplicated or reordered cells) costs
only what it breaks.

For each assignment the course is copied to a temporary root and released with the real nbgrader;
its sample submissions (correct, buggy, empty) go through ``nbgrader autograde``, which executes
every notebook once, in smoke mode, in its ``autograded/<student>/<assignment>/`` folder: the
hidden test cells run there, and the correct sample trains and saves its models as a student's
run would. ``dl-course grade`` then grades those same folders. All tests of this module share one
autograde run per assignment (``./run.sh test`` hands each test file to one pytest-xdist worker:
``--dist loadfile``).
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from course.grading.assignment import grade_assignment
from course.manifest import load_manifest
from course.release import release
from course.samples import BUGS, make_samples

ROOT = Path(__file__).resolve().parents[1]
COURSE = load_manifest(ROOT)
ASSIGNMENTS = [a for a in COURSE.assignments if COURSE.built_notebooks(a)]
NOTEBOOK = "FullyConnectedNets.ipynb"
A1 = COURSE.built_notebooks("a1")
FC_UNITS = {u.grade_id: u.points for u in A1[0].units}


def total(assignment: str) -> float:
    return sum(u.points for nb in COURSE.built_notebooks(assignment) for u in nb.units)


@pytest.fixture(scope="module")
def autograded(tmp_path_factory, monkeypatch_module):
    """``autograded(assignment)`` -> (course root, {sample: autograded folder}, nbgrader's scores),
    made once per assignment."""
    made = {}

    def get(assignment: str):
        if assignment not in made:
            made[assignment] = _autograde(tmp_path_factory.mktemp(f"course-{assignment}"), assignment)
        return made[assignment]

    return get


def _autograde(root: Path, assignment: str):
    for name in ("course", "source_notebooks"):
        shutil.copytree(ROOT / name, root / name, ignore=shutil.ignore_patterns("__pycache__", "artifacts"))
    shutil.copy(ROOT / "nbgrader_config.py", root)
    release(root, [assignment])
    samples = make_samples(root / "source_notebooks" / assignment, root / "release" / assignment, root / "samples")
    for name, folder in samples.items():
        shutil.copytree(folder, root / "submitted" / name / assignment)
    env = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]))
    done = subprocess.run([sys.executable, "-m", "nbgrader", "autograde", assignment, "--create", "--force"],
                          cwd=root, env=env, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]

    from nbgrader.api import Gradebook

    theirs = {name: {} for name in samples}
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        for name in samples:
            for notebook in COURSE.built_notebooks(assignment):
                nb = gradebook.find_submission_notebook(notebook.name, assignment, name)
                theirs[name].update({g.name.removesuffix("-tests"): g.score for g in nb.grades if g.name.endswith("-tests")})
    folders = {name: root / "autograded" / name / assignment for name in samples}
    return root, folders, theirs


@pytest.fixture(scope="module")
def monkeypatch_module():
    """Smoke mode for the whole module: held-out data for accuracy units is the generated set (for
    ``nbgrader autograde``, whose kernels follow DL_SMOKE; ``dl-course grade`` is asked with ``fixture_data``)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("DL_SMOKE", "1")
    yield mp
    mp.undo()


def our_scores(root, folders, out, assignment="a1"):
    report = grade_assignment(root, assignment, list(folders), out, fixture_data=True)
    return {r.submission: {u.grade_id: u.score for u in r.units} for r in report.results}


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_nbgrader_autograde_agrees_with_dl_course_grade(autograded, assignment):
    root, folders, theirs = autograded(assignment)
    ours = our_scores(root, folders.values(), root / "grades", assignment)
    assert set(theirs) == set(ours) == {"correct", "buggy", "empty"}
    for name in folders:
        assert theirs[name].keys() == ours[name].keys()
        for grade_id, score in ours[name].items():
            assert theirs[name][grade_id] == pytest.approx(score, abs=1e-3), (name, grade_id)
    units = [u for nb in COURSE.built_notebooks(assignment) for u in nb.units]
    assert len(ours["correct"]) == len(units)
    assert sum(ours["correct"].values()) == total(assignment) and sum(ours["empty"].values()) == 0
    if any(u.grade_id in BUGS for u in units):
        assert 0 < sum(ours["buggy"].values()) < total(assignment)


def edited(folder: Path, dest: Path, edit) -> Path:
    shutil.copytree(folder, dest)
    nb = json.loads((dest / NOTEBOOK).read_text())
    edit(nb)
    (dest / NOTEBOOK).write_text(json.dumps(nb))
    return dest


def unit_index(nb, grade_id):
    return next(i for i, c in enumerate(nb["cells"]) if c["metadata"].get("nbgrader", {}).get("grade_id") == grade_id)


def strip_metadata(nb):
    for cell in nb["cells"]:
        cell["metadata"] = {}
    nb["metadata"] = {"kernelspec": nb["metadata"]["kernelspec"]}


def delete_relu_backward(nb):
    del nb["cells"][unit_index(nb, "a1-fc-relu_backward")]


def duplicate_and_reorder(nb):
    adam = nb["cells"][unit_index(nb, "a1-fc-adam")]
    nb["cells"].insert(1, json.loads(json.dumps(adam)))  # a stale copy near the top...
    nb["cells"].append(json.loads(json.dumps(adam)))  # ...and the latest one at the end
    nb["cells"].reverse()


def test_drifted_notebooks_lose_only_what_they_break(autograded, tmp_path):
    root, samples, _ = autograded("a1")
    correct = samples["correct"]
    folders = [
        edited(correct, tmp_path / "stripped", strip_metadata),
        edited(correct, tmp_path / "deleted", delete_relu_backward),
        edited(correct, tmp_path / "shuffled", duplicate_and_reorder),
    ]
    scores = our_scores(root, folders, tmp_path / "grades")
    assert sum(scores["stripped"].values()) == total("a1")
    assert sum(scores["shuffled"].values()) == total("a1")
    # Deleting relu_backward costs that unit only, and its message names the missing function.
    # FullyConnectedNet, whose loss fails as the reference model's does on the student's layers
    # (one bug, one charge: autograder.checks.models.ReferenceModels), keeps its points, and so do
    # the other units of the notebook and the later notebooks' units that do not run relu_backward.
    deleted = scores["deleted"]
    assert deleted["a1-fc-relu_backward"] == 0
    others = {k: v for k, v in deleted.items() if k in FC_UNITS and k != "a1-fc-relu_backward"}
    assert sum(others.values()) == sum(FC_UNITS.values()) - 1
    assert deleted["a1-bn-batchnorm_backward"] == 3 and deleted["a1-cnn-conv_backward_naive"] == 4
    report = json.loads((tmp_path / "grades" / "deleted" / "results.json").read_text())
    relu = next(t for t in report["tests"] if t["name"] == "a1-fc-relu_backward")
    assert "defines `relu_backward`" in relu["output"]


def test_importing_the_reference_in_an_answer_cell_earns_nothing(autograded, tmp_path):
    """The worker's `import dl` finds the release's student edition, whose graded bodies are stubs."""
    root, samples, _ = autograded("a1")

    def cheat(nb):
        nb["cells"][unit_index(nb, "a1-fc-affine_forward")]["source"] = "from dl.layers import affine_forward\n"

    scores = our_scores(root, [edited(samples["correct"], tmp_path / "cheat", cheat)], tmp_path / "grades")
    assert scores["cheat"]["a1-fc-affine_forward"] == 0
    assert scores["cheat"]["a1-fc-relu_forward"] == 1
