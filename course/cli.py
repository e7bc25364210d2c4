"""The ``dl-course`` command line: a thin layer that parses arguments and calls the tooling.

    dl-course demo [--out DIR]
    dl-course build [--check] [--root DIR] [NOTEBOOK ...]
    dl-course release [--root DIR] [ASSIGNMENT ...]

``build`` and ``release`` find the course root (the folder holding ``course/manifest.toml``)
from the current folder upwards unless ``--root`` names it. Exit status: 0 on success, 1 when
the tooling reports a problem (or ``--check`` finds stale files), 2 for bad arguments.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from course.manifest import MANIFEST


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dl-course", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="train the reference fully connected net and plot its curves")
    demo.add_argument("--out", default="out/demo", help="folder for the figures (default: out/demo)")

    build = sub.add_parser("build", help="generate source_notebooks/<a>/<Notebook>.ipynb from course/<a>/<Notebook>.py")
    build.add_argument("--check", action="store_true",
                       help="write nothing; exit 1 if a generated notebook is stale, missing or extra")
    build.add_argument("--root", type=Path, help="course root (default: found from the current folder upwards)")
    build.add_argument("notebooks", nargs="*", metavar="NOTEBOOK", help="notebook names (default: all not planned)")

    rel = sub.add_parser("release", help="run nbgrader generate_assignment and write release/<a>/ with the student dl")
    rel.add_argument("--root", type=Path, help="course root (default: found from the current folder upwards)")
    rel.add_argument("assignments", nargs="*", metavar="ASSIGNMENT",
                     help="assignment ids (default: every assignment with a notebook that is not planned)")
    args = parser.parse_args(argv)

    if args.command == "demo":
        from course.demo import run_demo

        return run_demo(args.out)

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    root = args.root if args.root is not None else find_root(Path.cwd())
    if root is None:
        parser.error(f"no {MANIFEST.as_posix()} in {Path.cwd()} or any folder above it; pass --root")
    if args.command == "build":
        return _build(root, args.check, args.notebooks or None)
    return _release(root, args.assignments or None)


def find_root(start: Path) -> Path | None:
    """The nearest folder at or above ``start`` that holds ``course/manifest.toml``."""
    for folder in [start, *start.parents]:
        if (folder / MANIFEST).is_file():
            return folder
    return None


def _build(root: Path, check: bool, notebooks: list[str] | None) -> int:
    from course.build import BuildError, build_all
    from course.manifest import ManifestError

    try:
        report = build_all(root, check=check, notebooks=notebooks)
    except (BuildError, ManifestError) as exc:
        print(f"dl-course build: {exc}", file=sys.stderr)
        return 1
    if not check:
        for path in report.extra:
            print(f"note: {path} is not produced by the build (a renamed or removed notebook?)", file=sys.stderr)
        print(f"{len(report.written)} written, {len(report.unchanged)} unchanged")
        return 0
    for kind in ("stale", "missing", "extra"):
        for path in getattr(report, kind):
            print(f"{kind}: {path}", file=sys.stderr)
    if report.fresh:
        print(f"{len(report.unchanged)} generated notebook(s) up to date")
        return 0
    print("generated notebooks are out of date; run `dl-course build` (and delete extra files)", file=sys.stderr)
    return 1


def _release(root: Path, assignments: list[str] | None) -> int:
    from course.build import BuildError
    from course.manifest import ManifestError
    from course.release import ReleaseError, release

    try:
        report = release(root, assignments)
    except (ReleaseError, BuildError, ManifestError) as exc:
        print(f"dl-course release: {exc}", file=sys.stderr)
        return 1
    print(f"released {', '.join(report.assignments)}: {len(report.files)} files under release/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
