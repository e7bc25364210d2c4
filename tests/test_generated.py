"""The committed generated files (source_notebooks/, release/) are fresh and leak nothing."""
import filecmp
import shutil
from pathlib import Path

from course.build.pipeline import build_all
from course.build.scan_leaks import scan_leaks
from course.manifest import load_manifest
from course.release import release

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
