"""The committed generated files (source_notebooks/, release/) are fresh and leak nothing.

Note: ``source_notebooks/<a>/`` holds the student edition of ``dl`` (so that plain nbgrader
releases it), so a source notebook executed in its own folder imports the student ``dl`` first.
Its graded cells define the reference bodies themselves; notebooks are executed from their
filled-in release copies, not from ``source_notebooks/``.
"""
import filecmp
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from course.build.pipeline import BYPRODUCTS, build_all
from course.build.scan_leaks import scan_leaks
from course.build.stub_solutions import stub_solutions
from course.manifest import load_manifest
from course.release import release
from dl.program import import_statements

ROOT = Path(__file__).resolve().parents[1]


def test_source_notebooks_are_fresh():
    report = build_all(ROOT, check=True)
    assert report.fresh, f"run `dl-course build`: {report}"


def test_committed_release_leaks_nothing():
    problems = scan_leaks(ROOT / "release", load_manifest(ROOT))
    assert problems == []


def test_committed_release_is_what_release_produces(tmp_path):
    """Re-release from a copy of the course and compare every file byte for byte."""
    for name in ("course", "dl", "source_notebooks"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "nbgrader_config.py", tmp_path)
    release(tmp_path)

    def differences(a: Path, b: Path) -> list[str]:
        cmp = filecmp.dircmp(a, b, ignore=["__pycache__"])
        found = [f"only in committed: {a / n}" for n in cmp.left_only] + [f"only in fresh: {b / n}" for n in cmp.right_only]
        _, mismatch, errors = filecmp.cmpfiles(a, b, cmp.common_files, shallow=False)
        found += [f"differs: {a / n}" for n in mismatch + errors]
        for sub in cmp.common_dirs:
            found += differences(a / sub, b / sub)
        return found

    assert differences(ROOT / "release", tmp_path / "release") == [], "run `dl-course release`"


def test_plain_nbgrader_generate_assignment_makes_a_complete_release(tmp_path):
    """What instructors run, without `dl-course release`, on a copy of the course: the release has the
    student dl, and a notebook's imports work from the release folder."""
    for name in ("course", "source_notebooks"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns(*BYPRODUCTS))
    shutil.copy(ROOT / "nbgrader_config.py", tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])  # as course/release.py does
    done = subprocess.run(["nbgrader", "generate_assignment", "a1"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]

    folder = tmp_path / "release" / "a1"
    shipped = {p.relative_to(folder / "dl").as_posix(): p.read_text(encoding="utf-8") for p in (folder / "dl").rglob("*.py")}
    assert shipped == stub_solutions(load_manifest(ROOT), "a1")

    notebook = json.loads((folder / "FullyConnectedNets.ipynb").read_text(encoding="utf-8"))
    setup = "".join(next(c for c in notebook["cells"] if c["cell_type"] == "code")["source"])
    probe = import_statements(setup) + "\nimport dl\nprint(dl.__file__)\n"
    env["MPLBACKEND"] = "Agg"
    done = subprocess.run([sys.executable, "-B", "-c", probe], cwd=folder, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert Path(done.stdout.splitlines()[-1]).resolve().is_relative_to(folder.resolve())
