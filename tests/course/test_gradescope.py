"""dl-course export-gradescope: the bundle's contents, and its run_autograder grading a submission
laid out as Gradescope lays it out (AUTOGRADER_ROOT stands in for /autograder)."""
import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile

import pytest

from course.gradescope import ExportError, export_gradescope
from course.manifest import load_manifest
from tests.course.conftest import REPO


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    out = tmp_path_factory.mktemp("gradescope")
    return export_gradescope(REPO, "a1", out)


def test_the_zip_holds_the_scripts_the_grader_and_the_release(bundle):
    with zipfile.ZipFile(bundle) as zf:
        names = set(zf.namelist())
        modes = {info.filename: info.external_attr >> 16 for info in zf.infolist()}
    for script in ("setup.sh", "run_autograder"):
        assert script in names and modes[script] & stat.S_IXUSR, script
    for notebook in load_manifest(REPO).built_notebooks("a1"):
        assert f"release/a1/{notebook.name}.ipynb" in names
    assert {"dl/layers.py", "autograder/worker.py", "course/manifest.toml", "constraints.txt", "release/a1/dl/layers.py"} <= names
    assert not any("__pycache__" in n or "/artifacts/" in n for n in names)


def test_setup_fetches_the_data_sets_the_assignments_checks_declare(bundle):
    setup = bundle.with_suffix("").joinpath("setup.sh").read_text()
    fetches = [line for line in setup.splitlines() if "dl.data.download" in line and not line.startswith("#")]
    assert fetches == [".venv/bin/python -m dl.data.download cifar10"]
    assert "# Held-out data the checks of a1-fc-best_model, a1-cnn-one_epoch_model read" in setup


def test_unknown_or_unreleased_assignments_are_refused(tmp_path):
    with pytest.raises(ExportError, match="no assignment 'a9'"):
        export_gradescope(REPO, "a9", tmp_path)
    with pytest.raises(ExportError, match="dl-course release a4"):
        export_gradescope(REPO, "a4", tmp_path)


def test_run_autograder_writes_results_json_in_gradescopes_format(bundle, tmp_path):
    source = bundle.with_suffix("")  # the unpacked folder written beside the zip
    root = tmp_path / "autograder"
    shutil.copytree(source / "release" / "a1", root / "submission")  # an untouched release: nothing done yet
    env = dict(os.environ, AUTOGRADER_ROOT=str(root), DL_PYTHON=sys.executable)
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env["PATH"]])
    done = subprocess.run(["bash", str(source / "run_autograder"), "--fixture-data"], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((root / "results" / "results.json").read_text())
    units = [u for nb in load_manifest(REPO).built_notebooks("a1") for u in nb.units]
    scored = [t for t in results["tests"] if "max_score" in t]
    public = [t for t in results["tests"] if "max_score" not in t]
    assert [t["name"] for t in scored] == [u.grade_id for u in units]
    assert results["score"] == 0 and all(t["score"] == 0 and t["max_score"] == u.points for t, u in zip(scored, units))
    # Hidden results wait for publication; the public checks (nothing done yet: failed) show at once.
    assert all(t["visibility"] == "after_published" for t in scored) and results["visibility"] == "after_published"
    assert [t["name"] for t in public] == [f"{u.grade_id}: public checks" for u in units]
    assert all(t["visibility"] == "visible" and t["status"] == "failed" for t in public)


def test_an_unknown_visibility_is_refused(tmp_path):
    with pytest.raises(ExportError, match="after_published"):
        export_gradescope(REPO, "a1", tmp_path, hidden_visibility="later")
