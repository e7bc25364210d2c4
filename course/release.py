"""``dl-course release``: the student folders ``release/<assignment>/``, generated from the built notebooks.

For each assignment, in order:

1. what the build writes to ``source_notebooks/<a>/`` must be fresh and alone in its folder
   (``dl-course build --check`` would pass for it): the notebooks, their reference files and the
   student edition of ``dl`` (:mod:`course.build.stub_solutions`) in ``source_notebooks/<a>/dl/``;
2. ``nbgrader generate_assignment <a> --force`` runs in the course root, configured by its
   ``nbgrader_config.py`` (sources in ``source_notebooks/``, output in ``release/``): it replaces
   ``release/<a>/`` as a whole, clears solution regions and hidden tests, locks cells, and copies
   every other file of ``source_notebooks/<a>/`` (so plain ``nbgrader generate_assignment <a>``
   makes a complete release too);
3. every such file must have arrived unchanged, and the student edition of ``dl`` must import
   from ``release/<a>/`` (in a fresh interpreter that writes no ``__pycache__``);

and finally everything under ``release/`` is scanned for leaks (:mod:`course.build.scan_leaks`),
which also refuses any file the release does not consist of, by-products such as ``__pycache__``
included: the release never deletes them itself, because a file it did not write means someone
ran code in ``release/`` and the folder is no longer what was built. Any failure raises
:class:`ReleaseError`; a leak leaves the files in place for inspection, and the message says not
to publish them.
"""
from __future__ import annotations

import logging
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from course.build import build_all
from course.build.pipeline import RELEASE_IGNORE, ignored_by_release
from course.build.scan_leaks import scan_leaks
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
            raise ReleaseError(f"source_notebooks/ holds files the build does not produce ({', '.join(freshness.extra)}); "
                               "nbgrader would release them too: delete them (notebooks: or add them to course/manifest.toml)")
        out_of_date = ", ".join(freshness.stale + freshness.missing)
        raise ReleaseError(f"source notebooks are out of date or missing ({out_of_date}); run `dl-course build` first")
    if not (course.root / "nbgrader_config.py").is_file():
        raise ReleaseError(f"{course.root / 'nbgrader_config.py'} not found; nbgrader needs it to find source_notebooks/ and release/")

    report = ReleaseReport()
    for assignment in selected:
        generate_assignment(course.root, assignment)
        folder = course.root / "release" / assignment
        check_copied_files(course.root / "source_notebooks" / assignment, folder)
        check_student_dl_imports(folder)
        report.assignments.append(assignment)
        report.files += sorted(p.relative_to(course.root).as_posix() for p in folder.rglob("*") if p.is_file())
        log.info("released %s to %s", assignment, folder.relative_to(course.root).as_posix())

    leaks = scan_leaks(course.root / "release", course)
    if leaks:
        raise ReleaseError("the release leaks solutions or hidden tests; do not publish release/ until this is fixed:\n"
                           + "\n".join(leaks))
    return report


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


def check_copied_files(source: Path, folder: Path) -> None:
    """Every file of ``source`` (``source_notebooks/<a>``) that is not a notebook or a by-product the
    release ignores must be in ``folder`` (``release/<a>``) with the same bytes."""
    problems = []
    for path in sorted(p for p in source.rglob("*") if p.is_file() and p.suffix != ".ipynb"):
        rel = path.relative_to(source)
        if ignored_by_release(rel.parts):
            continue
        copy = folder / rel
        if not copy.is_file():
            problems.append(f"{rel.as_posix()} is missing")
        elif copy.read_bytes() != path.read_bytes():
            problems.append(f"{rel.as_posix()} differs")
    if problems:
        raise ReleaseError(f"nbgrader did not copy source_notebooks/{source.name} into release/{folder.name} as it is: "
                           + "; ".join(problems))


def check_student_dl_imports(folder: Path) -> None:
    """Import ``dl`` and every module of it from ``folder`` in a fresh interpreter; raise if any fails.

    The interpreter writes no bytecode (``-B``), whatever the caller's ``PYTHONDONTWRITEBYTECODE``:
    a ``__pycache__`` in ``folder`` would be published with the release.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["MPLBACKEND"] = "Agg"  # plotting modules are imported, never shown
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    done = subprocess.run([sys.executable, "-B", "-c", IMPORT_CHECK], cwd=folder, env=env, capture_output=True, text=True,
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
