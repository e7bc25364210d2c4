"""Turn each cell's header keys (``role="check"``, ``unit="..."``, ...) into ``metadata.dl``.

This is where a typo in a source is caught: an unknown header key, an unknown role, or a grade id
that is not a unit or question of this notebook in the manifest fails the build with the source
line. Afterwards every cell carries ``metadata.dl.role``:

- markdown: ``prose``, or ``question`` (with ``question``: its grade id);
- code: ``setup``, ``check``, ``exercise``, ``provide`` (with ``provide``: the spec, consumed by
  ``inline_references``), ``unit`` and ``tests`` (both with ``unit``: the grade id), or ``code``
  for any other cell (copied unchanged).
"""
from __future__ import annotations

from nbformat import NotebookNode

from course.build.context import BuildContext, BuildError

ROLE_KEYS = ("role", "unit", "provide", "tests", "question")
ROLE_VALUES = ("setup", "check", "exercise")
KEPT_KEYS = {"tags"}  # ordinary notebook metadata an author may set; copied as is


def assign_roles(nb: NotebookNode, ctx: BuildContext) -> NotebookNode:
    problems: list[str] = []
    for index, cell in enumerate(nb.cells):
        try:
            cell.metadata = _cell_metadata(cell, ctx)
        except ValueError as exc:
            problems.append(f"{ctx.where(index)}: {exc}")
    if problems:
        raise BuildError(problems)
    return nb


def _cell_metadata(cell: NotebookNode, ctx: BuildContext) -> NotebookNode:
    meta = dict(cell.metadata)
    if "incorrectly_encoded_metadata" in meta:
        raise ValueError(f"cannot read the cell header options {meta['incorrectly_encoded_metadata']!r}; "
                         'write them as key="value", e.g. # %% role="check"')
    unknown = sorted(set(meta) - set(ROLE_KEYS) - KEPT_KEYS)
    if unknown:
        raise ValueError(f"unknown cell header key {unknown[0]!r}; use one of {', '.join(ROLE_KEYS)}")
    given = [k for k in ROLE_KEYS if k in meta]
    if len(given) > 1:
        raise ValueError(f"a cell has one role, this header gives {' and '.join(given)}; split the cell")
    new = NotebookNode({k: meta[k] for k in KEPT_KEYS if k in meta})
    if not given:
        new["dl"] = {"role": "code" if cell.cell_type == "code" else "prose"}
        return new
    key, value = given[0], meta[given[0]]
    if not isinstance(value, str) or not value:
        raise ValueError(f'{key} needs a quoted value, e.g. {key}="..."')
    if key == "question":
        if cell.cell_type != "markdown":
            raise ValueError(f'question="{value}" marks a written answer; put it on a markdown cell (# %% [markdown] question="{value}")')
        if ctx.notebook.question(value) is None:
            raise ValueError(f'question="{value}" is not a question of {ctx.notebook.name} in course/manifest.toml; '
                             f"known: {', '.join(q.grade_id for q in ctx.notebook.questions) or 'none'}")
        new["dl"] = {"role": "question", "question": value}
        return new
    if cell.cell_type != "code":
        raise ValueError(f'{key}="{value}" belongs on a code cell (# %% {key}="{value}"), not a {cell.cell_type} cell')
    if key == "role":
        if value not in ROLE_VALUES:
            raise ValueError(f'unknown role "{value}"; roles are {", ".join(ROLE_VALUES)} '
                             '(graded cells use unit="...", provided code provide="...", hidden tests tests="...")')
        new["dl"] = {"role": value}
    elif key == "provide":
        new["dl"] = {"role": "provide", "provide": value}
    else:  # unit or tests
        if ctx.notebook.unit(value) is None:
            raise ValueError(f'{key}="{value}" is not a unit of {ctx.notebook.name} in course/manifest.toml; '
                             f"known: {', '.join(u.grade_id for u in ctx.notebook.units) or 'none'}")
        new["dl"] = {"role": key, "unit": value}
    return new
