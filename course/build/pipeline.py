"""``dl-course build``: from ``course/<a>/<Notebook>.py`` to ``source_notebooks/<a>/<Notebook>.ipynb``.

Beside the notebooks it writes what ``nbgrader generate_assignment`` must copy into a release:
the reference files of check cells (:mod:`course.build.reference_files`), the student edition
of ``dl`` (:mod:`course.build.stub_solutions`) in ``source_notebooks/<a>/dl/``, the students'
``README.md`` (:mod:`course.build.student_readme`) and the marker file by which a notebook on
Colab finds its folder (:mod:`course.build.prepend_colab_setup`). Each notebook is built by
:data:`STEPS`.

:data:`STEPS` states the order. Each step is ``step(nb, ctx) -> nb`` and lives in a module named
after it. The order matters where noted:

- ``assign_roles`` first: every later step reads ``metadata.dl.role``.
- ``validate_source`` before any body is rewritten, so its messages describe what the author wrote.
- ``inline_references`` before ``compute_expected_values``: checks run against the inlined
  reference bodies and provided code.
- ``prepend_colab_setup`` after ``validate_source``: the code it adds is not the author's.
- ``write_metadata`` after the provided names are known (``inline_references``).
- ``validate_notebook`` last: it checks what ``nbgrader generate_assignment`` and the grader read.
"""
from __future__ import annotations

import fnmatch
import logging
from dataclasses import dataclass, field
from pathlib import Path

from nbformat import NotebookNode

from course.build.assign_roles import assign_roles
from course.build.compute_expected_values import compute_expected_values
from course.build.context import BuildContext, BuildError
from course.build.generate_tests import generate_tests
from course.build.inline_references import inline_references
from course.build.prepend_colab_setup import marker_outputs, prepend_colab_setup
from course.build.read_source import read_source
from course.build.reference_files import declared_files
from course.build.student_readme import README, student_readme
from course.build.stub_solutions import StubError, dl_folder, stub_solutions
from course.build.validate_notebook import validate_notebook
from course.build.validate_source import validate_source
from course.build.write_metadata import write_metadata
from course.build.write_notebook import notebook_text, write_if_changed
from course.manifest import Course, Notebook, load_manifest

log = logging.getLogger(__name__)

# By-products of running Python and Jupyter in a folder (nbgrader ignores them by default).
BYPRODUCTS = (".ipynb_checkpoints", "*.pyc", "__pycache__")
# What ``dl-course release`` keeps out of releases: the by-products, nbgrader's feedback folder, the
# ``artifacts/`` a source notebook writes when it runs, dot files.
RELEASE_IGNORE = (*BYPRODUCTS, "feedback", "artifacts", ".*")

STEPS = [
    assign_roles,
    validate_source,
    inline_references,
    prepend_colab_setup,
    compute_expected_values,
    generate_tests,
    write_metadata,
    validate_notebook,
]


def build_notebook(course: Course, notebook: Notebook) -> NotebookNode:
    """Run every step on the notebook's source and return the finished notebook (nothing is written)."""
    return _build(course, notebook)[0]


def _build(course: Course, notebook: Notebook) -> tuple[NotebookNode, BuildContext]:
    ctx = BuildContext(course, notebook)
    if not ctx.source_path.is_file():
        raise BuildError(f"{ctx.source}: not found; write it, or mark {notebook.name} planned = true in course/manifest.toml")
    _check_reference_dl(course)
    nb, ctx.lines = read_source(ctx.source_path.read_text(encoding="utf-8"))
    for step in STEPS:
        nb = step(nb, ctx)
    return nb, ctx


def notebook_outputs(course: Course, notebook: Notebook) -> dict[str, bytes]:
    """The files the build writes for ``notebook`` (paths relative to the root): the notebook and its
    reference files (:mod:`course.build.reference_files`), next to it."""
    nb, ctx = _build(course, notebook)
    folder = notebook.output.parent
    outputs = {notebook.output.as_posix(): notebook_text(nb).encode("utf-8")}
    outputs.update({(folder / name).as_posix(): data for name, data in ctx.files.items()})
    return outputs


def student_dl_outputs(course: Course, assignment: str) -> dict[str, bytes]:
    """The student edition of ``dl`` for ``assignment``, in ``source_notebooks/<a>/dl/`` (paths relative to
    the root), so that ``nbgrader generate_assignment`` copies it into the release."""
    _check_reference_dl(course)
    try:
        edition = stub_solutions(course, assignment)
    except StubError as exc:
        raise BuildError(f"cannot write the student edition of dl for {assignment}: {exc}") from exc
    return {f"source_notebooks/{assignment}/dl/{rel}": text.encode("utf-8") for rel, text in edition.items()}


def _check_reference_dl(course: Course) -> None:
    """Expected values and the student edition come from the reference ``dl``, never from a copy the
    build wrote (``source_notebooks/<a>/dl``, ``release/<a>/dl``), which an interpreter started in such
    a folder would import first."""
    folder = dl_folder()
    for generated in ("source_notebooks", "release"):
        if folder.is_relative_to((course.root / generated).resolve()):
            raise BuildError(f"dl was imported from the student edition {folder}, not the reference; run "
                             "dl-course from the course root (or any folder outside source_notebooks/ and release/)")


@dataclass
class BuildReport:
    """What a build wrote, or what ``--check`` found out of date. Paths are relative to the root."""

    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def fresh(self) -> bool:
        return not (self.stale or self.missing or self.extra)


def build_all(root: str | Path = ".", check: bool = False, notebooks: list[str] | None = None) -> BuildReport:
    """Build every non-planned notebook (or only ``notebooks``, by name) of the course at ``root``.

    Writes each notebook, its reference files and, for each assignment built, the student edition
    of ``dl`` in ``source_notebooks/<a>/dl/``, the students' ``README.md`` and the Colab marker
    file. With ``check=True`` nothing is written: the report lists generated files that differ
    (``stale``) or do not exist (``missing``). Either way it
    lists files under ``source_notebooks/`` (only in the selected notebooks' assignment folders
    when ``notebooks`` is given) that the build does not produce (``extra``): nbgrader would
    release them too. By-products that the release ignores (:data:`RELEASE_IGNORE`) are not
    listed. Raises ``BuildError`` (or ``ManifestError``) with every problem of a notebook that
    cannot be built.
    """
    course = load_manifest(root)
    selected = _select(course, notebooks)
    report = BuildReport()
    failures: list[str] = []
    outputs: dict[str, bytes] = {}
    for notebook in selected:
        try:
            files = notebook_outputs(course, notebook)
        except BuildError as exc:
            failures.extend(exc.problems)
            continue
        failures += [f"{notebook.source}: writes {rel}, which another notebook of {notebook.assignment} writes too; "
                     "give its reference_file(...) another name" for rel in files if rel in outputs]
        outputs.update(files)
    for assignment in dict.fromkeys(nb.assignment for nb in selected):
        try:
            outputs.update(student_dl_outputs(course, assignment))
            outputs[f"source_notebooks/{assignment}/{README}"] = student_readme(course, assignment).encode("utf-8")
            outputs.update(marker_outputs(course, assignment))
        except BuildError as exc:
            failures.extend(exc.problems)
    if failures:
        raise BuildError(failures)
    for rel, data in outputs.items():
        path = course.root / rel
        if check:
            if not path.is_file():
                report.missing.append(rel)
            elif path.read_bytes() != data:
                report.stale.append(rel)
            else:
                report.unchanged.append(rel)
        elif write_if_changed(path, data):
            log.info("wrote %s", rel)
            report.written.append(rel)
        else:
            report.unchanged.append(rel)
    report.extra = _extra_files(course, selected, set(outputs), everything=notebooks is None)
    if not check:  # the student edition is the build's alone: a module dl no longer has goes
        built = {nb.assignment for nb in selected}
        for rel in [r for r in report.extra if r.split("/")[1] in built and r.split("/")[2:3] == ["dl"]]:
            (course.root / rel).unlink()
            report.extra.remove(rel)
            report.removed.append(rel)
    return report


def _extra_files(course: Course, selected: list[Notebook], outputs: set[str], everything: bool) -> list[str]:
    """Files under ``source_notebooks/`` (or the selected notebooks' assignment folders) that the build
    does not produce: nbgrader would release them too. Notebooks and reference files of notebooks
    that were not selected count as produced; by-products the release ignores are skipped."""
    produced = set(outputs)
    for nb in course.built_notebooks():
        produced.add(nb.output.as_posix())
        source = course.root / nb.source
        if source.is_file():
            names = declared_files(source.read_text(encoding="utf-8"))
            produced |= {(nb.output.parent / name).as_posix() for name in names}
    base = course.root / "source_notebooks"
    folders = [base] if everything else sorted({base / nb.assignment for nb in selected})
    found = {p.relative_to(course.root).as_posix() for f in folders if f.is_dir() for p in f.rglob("*")
             if p.is_file() and not ignored_by_release(p.relative_to(f).parts)}
    return sorted(found - produced)


def ignored_by_release(parts: tuple[str, ...], patterns: tuple[str, ...] = RELEASE_IGNORE) -> bool:
    """Whether a path (its parts below an assignment's folder) is one the release never copies
    (or, with ``patterns=BYPRODUCTS``, a by-product of running code)."""
    return any(fnmatch.fnmatch(part, pattern) for part in parts for pattern in patterns)


def _select(course: Course, names: list[str] | None) -> list[Notebook]:
    if names is None:
        return course.built_notebooks()
    unknown = [n for n in names if n not in course.notebooks]
    if unknown:
        raise BuildError(f"unknown notebook(s) {', '.join(unknown)}; course/manifest.toml has "
                         f"{', '.join(nb.name for nb in course.built_notebooks())}")
    planned = [n for n in names if course.notebooks[n].planned]
    if planned:
        raise BuildError(f"{', '.join(planned)} planned = true in course/manifest.toml: no source to build yet")
    return [course.notebooks[n] for n in names]
