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

from autograder import landlock, sandbox
from course.gradescope import HIDDEN, ExportError, export_gradescope
from course.manifest import load_manifest
from tests.autograder.attacks import STEAL_THE_REFERENCE
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


def run_autograder(bundle, root, *args) -> dict:
    """Run the unpacked bundle's ``run_autograder`` on ``root/submission`` as Gradescope would; its results.json."""
    source = bundle.with_suffix("")  # the unpacked folder written beside the zip
    env = dict(os.environ, AUTOGRADER_ROOT=str(root), DL_PYTHON=sys.executable)
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env["PATH"]])
    done = subprocess.run(["bash", str(source / "run_autograder"), "--fixture-data", *args], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((root / "results" / "results.json").read_text())


def test_run_autograder_writes_results_json_in_gradescopes_format(bundle, tmp_path):
    root = tmp_path / "autograder"
    shutil.copytree(bundle.with_suffix("") / "release" / "a1", root / "submission")  # an untouched release: nothing done yet
    results = run_autograder(bundle, root)
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


_FALLBACK = sandbox.fallback_status()
as_root = pytest.mark.skipif(os.geteuid() != 0 or not _FALLBACK.own_users,
                             reason="Gradescope runs run_autograder as root, which gives each worker a user of its own; "
                                    f"here it cannot: {_FALLBACK.users_reason or 'not root'}")
LANDLOCK, NO_LANDLOCK = landlock.abi()


def _fallback_warning(results: dict) -> str:
    warning = next(line for line in results["output"].split("\n") if "without the bubblewrap sandbox" in line)
    assert warning.startswith("WARNING: grading ran without the bubblewrap sandbox (it was turned off with sandbox='none'). "
                              "Each worker ran as an unprivileged user of its own"), warning
    return warning


@as_root
@pytest.mark.skipif(not LANDLOCK, reason=f"this kernel offers no Landlock ({NO_LANDLOCK}); without it only permissions keep files "
                                          f"from workers, and the test's interpreter is another checkout's, which every user may read")
def test_without_bubblewrap_the_bundle_keeps_the_reference_from_student_code(bundle, tmp_path):
    """Gradescope's Docker forbids bubblewrap's namespaces: the fallback must still keep the
    reference out of reach of an answer that searches the machine for it."""
    root = tmp_path / "autograder"
    shutil.copytree(bundle.with_suffix("") / "release" / "a1", root / "submission")
    notebook = root / "submission" / "FullyConnectedNets.ipynb"
    nb = json.loads(notebook.read_text())
    cell = next(c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == "a1-fc-affine_forward")
    cell["source"] = STEAL_THE_REFERENCE
    notebook.write_text(json.dumps(nb))
    results = run_autograder(bundle, root, "--sandbox", "none")
    affine = next(t for t in results["tests"] if t["name"] == "a1-fc-affine_forward")
    assert affine["score"] == 0 and "no reference found" in affine["output"], affine  # the answer ran, and found nothing to run
    assert f"Landlock (ABI {LANDLOCK}) let it read only" in _fallback_warning(results)


@as_root
def test_without_bubblewrap_or_landlock_the_bundles_hidden_folders_are_roots_only(bundle, tmp_path):
    root = tmp_path / "autograder"
    shutil.copytree(bundle.with_suffix("") / "release" / "a1", root / "submission")
    results = run_autograder(bundle, root, "--sandbox", "none", "--no-landlock")
    warning = _fallback_warning(results)
    assert "Landlock was not used (it was turned off with landlock=False)" in warning
    for name in HIDDEN:  # (the warning names any other checkout that the test's interpreter leads to)
        folder = bundle.with_suffix("") / name
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700 and str(folder) not in warning, name
