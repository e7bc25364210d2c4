"""``dl-course export-gradescope``: the autograder bundle Gradescope runs for one assignment.

Gradescope builds an image from the zip's ``setup.sh`` once, then for every submission runs
``run_autograder`` with the student's files in ``/autograder/submission`` and reads
``/autograder/results/results.json``. The bundle therefore holds everything ``dl-course grade``
needs and nothing a student should see (Gradescope never shows it to them):

- ``dl/`` (the reference: the parent process computes expected values with it),
  ``autograder/``, ``course/`` (the manifest and the grading command), ``pyproject.toml`` and
  ``constraints.txt`` (the pinned environment);
- ``release/<assignment>/``: the pristine release notebooks (setup and provided cells come from
  them) and the student edition of ``dl`` the sandboxed worker imports.

``setup.sh`` also fetches the held-out data sets that the assignment's checks declare
(``@register(..., datasets=...)``, :mod:`autograder.datasets`).

Gradescope runs the bundle in Docker with its default seccomp profile, where bubblewrap cannot
create its namespaces, so the grader falls back to running each worker as an unprivileged user of
its own, restricted with Landlock where the kernel has it (:mod:`autograder.sandbox`). So that
the solutions stay out of reach on a kernel without Landlock too, ``run_autograder`` first makes
the bundle's hidden folders (:data:`HIDDEN`: the reference ``dl/``, the grader, the course)
readable by root only; the worker needs none of them (it imports a staged copy of its own code
and the release's student edition of ``dl``).

``run_autograder`` grades the submission folder as one student (``dl-course grade``) and copies
the student's ``results.json`` into place; the hidden checks' results carry the visibility chosen
at export (``after_published`` by default), each unit's public checks are visible at once. ``AUTOGRADER_ROOT`` (default ``/autograder``) lets the
same script run outside Gradescope, which is how the tests run it.
"""
from __future__ import annotations

import os
import shutil
import stat
import zipfile
from pathlib import Path

from autograder.checks.registry import datasets_needed
from autograder.datasets import download_command
from autograder.reports import VISIBILITIES
from course.manifest import load_manifest

BUNDLED = ["dl", "autograder", "course", "pyproject.toml", "constraints.txt"]
HIDDEN = ["dl", "autograder", "course"]  # closed to every user but root before grading
SKIPPED = shutil.ignore_patterns("__pycache__", "*.pyc", "artifacts", ".ipynb_checkpoints")

SETUP_SH = """\
#!/usr/bin/env bash
# Gradescope image set-up (runs once, as root): Python, bubblewrap for the grading sandbox, and the
# pinned environment (torch's CPU build first and alone, so nothing pulls CUDA wheels).
set -euo pipefail
cd "$(dirname "$0")"
apt-get update -q
apt-get install -y -q --no-install-recommends python3 python3-venv python3-pip bubblewrap
python3 -m venv .venv
.venv/bin/pip install -q -c constraints.txt --extra-index-url https://download.pytorch.org/whl/cpu torch
.venv/bin/pip install -q -c constraints.txt -e '.[dev]'
"""

FETCH_DATA = """\
# Held-out data the checks of {units} read (verified by checksum; DL_DATA_DIR picks the folder).
.venv/bin/{command}
"""

RUN_AUTOGRADER = """\
#!/usr/bin/env bash
# Gradescope runs this for every submission: grade it as one student, put results.json in place.
# Arguments are passed on to `dl-course grade` (Gradescope passes none; tests pass --fixture-data).
set -euo pipefail
root=${{AUTOGRADER_ROOT:-/autograder}}
source=$(cd "$(dirname "$0")" && pwd)
python=${{DL_PYTHON:-$source/.venv/bin/python}}
out=$(mktemp -d)
# Workers run as users of their own where bubblewrap cannot: the solutions are root's only.
chmod 700 {hidden}
cd "$source"  # the bundle's packages, not any other copy, come first on sys.path
"$python" -m course.cli grade {assignment} "$root/submission" --out "$out" --root "$source" --hidden-visibility {visibility} "$@"
mkdir -p "$root/results"
cp "$out/submission/results.json" "$root/results/results.json"
"""


class ExportError(Exception):
    """The bundle cannot be written (unknown assignment, no release); the message says why."""


def export_gradescope(root: str | os.PathLike, assignment: str, out: str | os.PathLike,
                      hidden_visibility: str = "after_published") -> Path:
    """Write ``<out>/<assignment>_gradescope.zip`` (and its unpacked folder beside it); returns the zip.

    ``hidden_visibility`` is when students see the hidden checks' results (Gradescope's test
    visibility; by default once the instructor publishes the grades); until then they see each
    unit's public checks. Raises ExportError when the assignment is unknown or has not been
    released, or for a visibility Gradescope does not know.
    """
    if hidden_visibility not in VISIBILITIES:
        raise ExportError(f"unknown visibility {hidden_visibility!r}; Gradescope's are {', '.join(VISIBILITIES)}")
    root, out = Path(root).resolve(), Path(out)
    course = load_manifest(root)
    if assignment not in course.assignments:
        raise ExportError(f"no assignment {assignment!r} in the manifest; known: {', '.join(course.assignments)}")
    release_dir = root / "release" / assignment
    if not release_dir.is_dir():
        raise ExportError(f"{release_dir} does not exist; run `dl-course release {assignment}` first")

    folder = out / f"{assignment}_gradescope"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for name in BUNDLED:
        source = root / name
        if source.is_dir():
            shutil.copytree(source, folder / name, ignore=SKIPPED)
        else:
            shutil.copy2(source, folder / name)
    shutil.copytree(release_dir, folder / "release" / assignment, ignore=SKIPPED)
    units = [unit for notebook in course.built_notebooks(assignment) for unit in notebook.units]
    setup = SETUP_SH + "".join(FETCH_DATA.format(units=", ".join(users), command=download_command(name))
                               for name, users in datasets_needed(units).items())
    run = RUN_AUTOGRADER.format(assignment=assignment, visibility=hidden_visibility,
                                hidden=" ".join(f'"$source/{name}"' for name in HIDDEN))
    for name, text in (("setup.sh", setup), ("run_autograder", run)):
        path = folder / name
        path.write_text(text, encoding="utf-8")
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)

    archive = out / f"{assignment}_gradescope.zip"
    tmp = archive.with_name(f".{archive.name}.tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                info = zipfile.ZipInfo.from_file(path, path.relative_to(folder).as_posix())
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, path.read_bytes())  # keeps the executable bits of the two scripts
    os.replace(tmp, archive)
    return archive
