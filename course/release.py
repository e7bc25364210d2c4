"""``dl-course release``: the student folders ``release/<assignment>/``, generated from the built notebooks.

For each assignment, in order:

1. the built source notebooks must be fresh and alone in their folders (``dl-course build --check``
   would pass for them);
2. ``nbgrader generate_assignment <a> --force`` runs in the course root, configured by its
   ``nbgrader_config.py`` (sources in ``source_notebooks/``, output in ``release/``): it clears
   solution regions and hidden tests and locks cells;
3. the student edition of ``dl`` is written to ``release/<a>/dl/`` (:mod:`course.build.stub_solutions`)
   and must import from there;

and finally everything under ``release/`` is scanned for leaks (:mod:`course.build.scan_leaks`).
Any failure raises :class:`ReleaseError`; a leak leaves the files in place for inspection, and the
message says not to publish them.
"""
from __future__ import annotations

import logging
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from course.build import build_all
from course.build.scan_leaks import scan_leaks
from course.build.stub_solutions import StubError, stub_solutions
from course.manifest import Course, load_manifest

log = logging.getLogger(__name__)

NBGRADER_TIMEOUT_S = 600
IMPORT_CHECK = """\
import importlib, pathlib, pkgutil
import dl
here = pathlib.Path.cwd().resolve()
if not pathlib.Path(dl.__file__).resolve().is_relative_to(here):
    raise SystemExit(f"dl was imported from {dl.__file__}, not from {here}")
for module in pkgutil.walk_packages(dl.__path__, "dl."):
    if not module.name.endswith(".__main__"):
        importlib.import_module(module.name)
"""


class ReleaseError(Exception):
    """The release failed; the message says at which step and what to do."""


@dataclass
class ReleaseReport:
    """The assignments released and the files written under ``release/`` (relative to the root)."""

    assignments: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)


def release(root: str | Path = ".", assignments: list[str] | None = None) -> ReleaseReport:
    """Release ``assignments`` (default: every assignment with a notebook that is not planned)."""
    course = load_manifest(root)
    selected = _select(course, assignments)
    names = [nb.name for a in selected for nb in course.built_notebooks(a)]
    freshness = build_all(course.root, check=True, notebooks=names)
    if not freshness.fresh:
        if freshness.extra:
            raise ReleaseError(f"source_notebooks/ holds notebooks the build does not produce ({', '.join(freshness.extra)}); "
                               "nbgrader would release them too: delete them or add them to course/manifest.toml")
        out_of_date = ", ".join(freshness.stale + freshness.missing)
        raise ReleaseError(f"source notebooks are out of date or missing ({out_of_date}); run `dl-course build` first")
    if not (course.root / "nbgrader_config.py").is_file():
        raise ReleaseError(f"{course.root / 'nbgrader_config.py'} not found; nbgrader needs it to find source_notebooks/ and release/")

    report = ReleaseReport()
    for assignment in selected:
        generate_assignment(course.root, assignment)
        folder = course.root / "release" / assignment
        write_student_dl(course, assignment, folder / "dl")
        check_student_dl_imports(folder)
        report.assignments.append(assignment)
        report.files += sorted(p.relative_to(course.root).as_posix() for p in folder.rglob("*") if p.is_file())
        log.info("released %s to %s", assignment, folder.relative_to(course.root).as_posix())

    leaks = scan_leaks(course.root / "release", course)
    if leaks:
        raise ReleaseError("the release leaks solutions or hidden tests; do not publish release/ until this is fixed:\n"
                           + "\n".join(leaks))
    return report


# nbgrader's default ignore list, plus what must never reach students from source_notebooks/<a>/.
RELEASE_IGNORE = (".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "artifacts", ".*")


def generate_assignment(root: Path, assignment: str) -> None:
    """Run ``nbgrader generate_assignment <assignment> --force`` in ``root`` with this interpreter's nbgrader.

    nbgrader runs ``alembic`` (for its gradebook) by name, so the interpreter's ``bin`` folder goes
    first on ``PATH``: a virtual environment's tools are found even when it is not activated.
    The ``artifacts/`` folder a source notebook writes when it is executed (a trained reference
    model) is excluded here, on this command only: ``nbgrader autograde`` reads the same setting
    and must still copy the artifacts students submit.
    """
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    ignore = json.dumps([*RELEASE_IGNORE])
    command = [sys.executable, "-m", "nbgrader", "generate_assignment", assignment, "--force",
               f"--CourseDirectory.ignore={ignore}"]
    try:
        done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=NBGRADER_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        raise ReleaseError(f"nbgrader generate_assignment {assignment} took over {NBGRADER_TIMEOUT_S} s") from exc
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-30:])
        raise ReleaseError(f"nbgrader generate_assignment {assignment} failed (exit {done.returncode}):\n{tail}")
    log.debug("%s", done.stderr)


def write_student_dl(course: Course, assignment: str, dest: Path) -> list[Path]:
    """Write the student edition of ``dl`` for ``assignment`` to ``dest`` (replacing what is there)."""
    try:
        edition = stub_solutions(course, assignment)
    except StubError as exc:
        raise ReleaseError(f"cannot write the student edition of dl for {assignment}: {exc}") from exc
    if dest.exists():
        shutil.rmtree(dest)
    written = []
    for rel, text in edition.items():
        path = dest / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def check_student_dl_imports(folder: Path) -> None:
    """Import ``dl`` and every module of it from ``folder`` in a fresh interpreter; raise if any fails."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["MPLBACKEND"] = "Agg"  # plotting modules are imported, never shown
    done = subprocess.run([sys.executable, "-c", IMPORT_CHECK], cwd=folder, env=env, capture_output=True, text=True,
                          timeout=NBGRADER_TIMEOUT_S)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-15:])
        raise ReleaseError(f"the student edition {folder.name}/dl does not import:\n{tail}")


def _select(course: Course, names: list[str] | None) -> list[str]:
    releasable = [a for a in course.assignments if course.built_notebooks(a)]
    if not names:
        return releasable
    unknown = [a for a in names if a not in course.assignments]
    if unknown:
        raise ReleaseError(f"unknown assignment(s) {', '.join(unknown)}; course/manifest.toml has {', '.join(course.assignments)}")
    empty = [a for a in names if a not in releasable]
    if empty:
        raise ReleaseError(f"{', '.join(empty)}: every notebook is planned = true; nothing to release yet")
    return list(names)
