"""The ``dl-course`` command line: a thin layer that parses arguments and calls the tooling.

    dl-course demo [--out DIR]
    dl-course build [--check] [--root DIR] [NOTEBOOK ...]
    dl-course release [--root DIR] [ASSIGNMENT ...]
    dl-course samples ASSIGNMENT --out DIR [--execute] [--root DIR]
    dl-course grade ASSIGNMENT SUBMISSION... --out DIR [--jobs N | --scheduler ADDRESS] [--force] [--gradebook [DB]]
                    [--hidden-visibility VISIBILITY] [--fixture-data] [--root DIR]
    dl-course export-gradescope ASSIGNMENT [--out DIR] [--hidden-visibility VISIBILITY] [--root DIR]

``build`` and ``release`` find the course root (the folder holding ``course/manifest.toml``)
from the current folder upwards unless ``--root`` names it. Exit status: 0 on success, 1 when
the tooling reports a problem (or ``--check`` finds stale files), 2 for bad arguments.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from autograder.reports import VISIBILITIES
from course.manifest import MANIFEST


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dl-course", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="the main job: train and plot, then build, release and grade the sample submissions")
    demo.add_argument("--out", default="out/demo", help="folder for figures, samples and reports (default: out/demo)")
    demo.add_argument("--root", type=Path, help="course root (default: found from the current folder upwards)")

    build = sub.add_parser("build", help="generate source_notebooks/<a>/<Notebook>.ipynb from course/<a>/<Notebook>.py")
    build.add_argument("--check", action="store_true",
                       help="write nothing; exit 1 if a generated notebook is stale, missing or extra")
    build.add_argument("--root", type=Path, help="course root (default: found from the current folder upwards)")
    build.add_argument("notebooks", nargs="*", metavar="NOTEBOOK", help="notebook names (default: all not planned)")

    rel = sub.add_parser("release", help="run nbgrader generate_assignment and write release/<a>/ with the student dl")
    rel.add_argument("--root", type=Path, help="course root (default: found from the current folder upwards)")
    rel.add_argument("assignments", nargs="*", metavar="ASSIGNMENT",
                     help="assignment ids (default: every assignment with a notebook that is not planned)")
    samples = sub.add_parser("samples", help="write sample submissions (correct, buggy, empty) of an assignment")
    samples.add_argument("assignment", metavar="ASSIGNMENT")
    samples.add_argument("--out", type=Path, required=True, help="folder for <ASSIGNMENT>/{correct,buggy,empty}/")
    samples.add_argument("--execute", action="store_true",
                         help="run the correct submission in smoke mode, as a student would (writes its artifacts)")
    samples.add_argument("--root", type=Path, help="course root (default: found from the current folder upwards)")
    grade = sub.add_parser("grade", help="grade submission folders of an assignment; write results.json per student and grades.csv")
    grade.add_argument("assignment", metavar="ASSIGNMENT")
    grade.add_argument("submissions", nargs="+", type=Path, metavar="SUBMISSION",
                       help="a student's folder holding the assignment's notebooks and artifacts/")
    grade.add_argument("--out", type=Path, required=True, help="folder for the reports")
    grade.add_argument("--jobs", type=int, default=1, help="submissions graded at once (default 1)")
    grade.add_argument("--scheduler", metavar="ADDRESS",
                       help="grade on this Dask cluster (e.g. tcp://host:8786) instead of --jobs local threads; "
                            "its workers must see the course and the submissions at the same paths")
    grade.add_argument("--gradebook", nargs="?", const="", metavar="DB",
                       help="also write the scores into the nbgrader gradebook, so formgrader shows them "
                            "(a database URL or a file; default: the course's gradebook.db)")
    grade.add_argument("--hidden-visibility", default="visible", choices=VISIBILITIES,
                       help="when students see the hidden checks' results in results.json and feedback.html "
                            "(Gradescope's values; default visible). Before that they see the public checks only")
    grade.add_argument("--fixture-data", action="store_true",
                       help="score saved models on the generated CIFAR-10 stand-in of smoke mode instead of the real "
                            "held-out images (demos and tests; not grades). DL_SMOKE alone never does this")
    grade.add_argument("--force", action="store_true",
                       help="grade every submission again (default: keep the results of unchanged submissions in --out)")
    grade.add_argument("--sandbox", default="auto", choices=("auto", "bwrap", "none"),
                       help="where student code runs: bubblewrap when it works here (auto, the default), bubblewrap or "
                            "stop (bwrap), or never bubblewrap (none: the fallback, as where bubblewrap is forbidden)")
    grade.add_argument("--no-landlock", action="store_true",
                       help="in the fallback, do not restrict workers with Landlock (to see what a kernel without it gives)")
    grade.add_argument("--root", type=Path, help="course root (default: found from the current folder upwards)")
    export = sub.add_parser("export-gradescope", help="write the Gradescope autograder bundle (zip) of a released assignment")
    export.add_argument("assignment", metavar="ASSIGNMENT")
    export.add_argument("--out", type=Path, default=Path("out") / "gradescope", help="folder for the zip (default out/gradescope)")
    export.add_argument("--hidden-visibility", default="after_published", choices=VISIBILITIES,
                        help="when students see the hidden checks' results (default after_published: once grades are published)")
    export.add_argument("--root", type=Path, help="course root (default: found from the current folder upwards)")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    root = args.root if args.root is not None else find_root(Path.cwd())
    if root is None:
        parser.error(f"no {MANIFEST.as_posix()} in {Path.cwd()} or any folder above it; pass --root")
    if args.command == "demo":
        from course.demo import run_demo

        return run_demo(args.out, root)
    if args.command == "build":
        return _build(root, args.check, args.notebooks or None)
    if args.command == "samples":
        return _samples(root, args.assignment, args.out, args.execute)
    if args.command == "grade":
        if args.jobs < 1:
            parser.error("--jobs must be at least 1")
        return _grade(root, args)
    if args.command == "export-gradescope":
        return _export_gradescope(root, args.assignment, args.out, args.hidden_visibility)
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
        print(f"{len(report.unchanged)} generated file(s) up to date (notebooks, reference files, the student dl)")
        return 0
    print("generated files are out of date; run `dl-course build` (and delete extra files)", file=sys.stderr)
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



def _samples(root: Path, assignment: str, out: Path, execute: bool) -> int:
    from course.samples import execute_notebooks, make_samples

    source, released = root / "source_notebooks" / assignment, root / "release" / assignment
    if not released.is_dir():
        print(f"dl-course samples: {released} does not exist; run `dl-course release {assignment}` first", file=sys.stderr)
        return 1
    train = execute_notebooks if execute else None
    folders = make_samples(source, released, out / assignment, train_artifact=train)
    for name, folder in folders.items():
        print(f"{name}: {folder}")
    return 0



def _grade(root: Path, args: argparse.Namespace) -> int:
    from autograder.gradebook import GradebookError
    from autograder.options import GradingOptions
    from autograder.sandbox import SandboxUnavailable
    from course.grading.assignment import grade_assignment
    from course.grading.plan import GradeError
    from course.grading.reports import score_table, staff_note
    from course.manifest import ManifestError

    gradebook = args.gradebook
    if gradebook is not None and "://" not in gradebook:  # a file, or "" for the course's own
        gradebook = f"sqlite:///{Path(gradebook or root / 'gradebook.db').resolve()}"
    try:
        options = GradingOptions(sandbox=args.sandbox, landlock=not args.no_landlock)
        report = grade_assignment(root, args.assignment, args.submissions, args.out, options=options, jobs=args.jobs, force=args.force,
                                  scheduler=args.scheduler, progress=sys.stderr.isatty(), gradebook=gradebook,
                                  hidden_visibility=args.hidden_visibility, fixture_data=args.fixture_data)
    except (GradeError, ManifestError, SandboxUnavailable, GradebookError) as exc:
        print(f"dl-course grade: {exc}", file=sys.stderr)
        return 1
    print(score_table(report))
    for note in report.notes:
        print(f"\n{note}")
    note = staff_note(report)
    if note:
        print(f"\n{note}")
    if report.gradebook is not None:
        print(f"\n{report.gradebook}")
    if report.skipped:
        print(f"\n{len(report.skipped)} unchanged submission(s) kept their earlier results (--force grades them again)")
    out = args.out
    print(f"\nreports: {out}/<student>/results.json, {out}/grades.csv; for the staff: {out}/grading.log")
    return 0


def _export_gradescope(root: Path, assignment: str, out: Path, hidden_visibility: str) -> int:
    from course.gradescope import ExportError, export_gradescope
    from course.manifest import ManifestError

    try:
        archive = export_gradescope(root, assignment, out, hidden_visibility)
    except (ExportError, ManifestError) as exc:
        print(f"dl-course export-gradescope: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {archive}: upload it as the assignment's autograder (setup.sh builds the image, run_autograder grades)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
