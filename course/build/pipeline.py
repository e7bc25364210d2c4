"""``dl-course build``: from ``course/<a>/<Notebook>.py`` to ``source_notebooks/<a>/<Notebook>.ipynb``.

:data:`STEPS` states the order. Each step is ``step(nb, ctx) -> nb`` and lives in a module named
after it. The order matters where noted:

- ``assign_roles`` first: every later step reads ``metadata.dl.role``.
- ``validate_source`` before any body is rewritten, so its messages describe what the author wrote.
- ``inline_references`` before ``compute_expected_values``: checks run against the inlined
  reference bodies and provided code.
- ``write_metadata`` after the provided names are known (``inline_references``).
- ``validate_notebook`` last: it checks what ``nbgrader generate_assignment`` and the grader read.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from nbformat import NotebookNode

from course.build.assign_roles import assign_roles
from course.build.compute_expected_values import compute_expected_values
from course.build.context import BuildContext, BuildError
from course.build.generate_tests import generate_tests
from course.build.inline_references import inline_references
from course.build.read_source import read_source
from course.build.validate_notebook import validate_notebook
from course.build.validate_source import validate_source
from course.build.write_metadata import write_metadata
from course.build.write_notebook import notebook_text, write_if_changed
from course.manifest import Course, Notebook, load_manifest

log = logging.getLogger(__name__)

STEPS = [
    assign_roles,
    validate_source,
    inline_references,
    compute_expected_values,
    generate_tests,
    write_metadata,
    validate_notebook,
]


def build_notebook(course: Course, notebook: Notebook) -> NotebookNode:
    """Run every step on the notebook's source and return the finished notebook (nothing is written)."""
    ctx = BuildContext(course, notebook)
    if not ctx.source_path.is_file():
        raise BuildError(f"{ctx.source}: not found; write it, or mark {notebook.name} planned = true in course/manifest.toml")
    nb, ctx.lines = read_source(ctx.source_path.read_text(encoding="utf-8"))
    for step in STEPS:
        nb = step(nb, ctx)
    return nb


@dataclass
class BuildReport:
    """What a build wrote, or what ``--check`` found out of date. Paths are relative to the root."""

    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)

    @property
    def fresh(self) -> bool:
        return not (self.stale or self.missing or self.extra)


def build_all(root: str | Path = ".", check: bool = False, notebooks: list[str] | None = None) -> BuildReport:
    """Build every non-planned notebook (or only ``notebooks``, by name) of the course at ``root``.

    With ``check=True`` nothing is written: the report lists generated files that differ
    (``stale``) or do not exist (``missing``). Either way it lists ``.ipynb`` files the build does
    not produce (``extra``) under ``source_notebooks/`` (only in the selected notebooks'
    assignment folders when ``notebooks`` is given). Raises ``BuildError`` (or
    ``ManifestError``) with every problem of a notebook that cannot be built.
    """
    course = load_manifest(root)
    selected = _select(course, notebooks)
    report = BuildReport()
    failures: list[str] = []
    for notebook in selected:
        try:
            text = notebook_text(build_notebook(course, notebook))
        except BuildError as exc:
            failures.extend(exc.problems)
            continue
        path, rel = course.root / notebook.output, notebook.output.as_posix()
        if check:
            if not path.is_file():
                report.missing.append(rel)
            elif path.read_bytes() != text.encode("utf-8"):
                report.stale.append(rel)
            else:
                report.unchanged.append(rel)
        elif write_if_changed(path, text):
            log.info("wrote %s", rel)
            report.written.append(rel)
        else:
            report.unchanged.append(rel)
    if failures:
        raise BuildError(failures)
    report.extra = _extra_files(course, selected, everything=notebooks is None)
    return report


def _extra_files(course: Course, selected: list[Notebook], everything: bool) -> list[str]:
    """``.ipynb`` files under ``source_notebooks/`` (or the selected notebooks' assignment folders)
    that the build does not produce: nbgrader would release them too."""
    produced = {nb.output.as_posix() for nb in course.built_notebooks()}
    base = course.root / "source_notebooks"
    folders = [base] if everything else sorted({base / nb.assignment for nb in selected})
    found = {p.relative_to(course.root).as_posix() for f in folders if f.is_dir() for p in f.rglob("*.ipynb")}
    return sorted(p for p in found if p not in produced and ".ipynb_checkpoints" not in p)


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
