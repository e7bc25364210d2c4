"""The validator at the end of the pipeline: is the generated notebook what nbgrader and the grader expect?

- nbformat's schema (``nbformat.validate``) and nbgrader's own metadata validator (schema 3,
  unique grade ids, points on grade cells), as ``nbgrader generate_assignment`` will run them;
- every unit of the manifest appears exactly once as an answer cell and once as a tests cell,
  every question once; cell ids are unique;
- no ``reference_value(`` is left, and hidden tests appear only in tests cells;
- every cell has ``metadata.dl.role`` and nothing the build uses internally is left behind.
"""
from __future__ import annotations

import nbformat
from nbformat import NotebookNode
from nbgrader.nbgraderformat import MetadataValidator, ValidationError

from course.build.context import BuildContext, BuildError, dl_meta, role
from course.build.solution_regions import RegionError, find_regions

ROLES = {"prose", "code", "setup", "provide", "unit", "check", "tests", "exercise", "question"}
DL_KEYS = {"role", "unit", "question"}


def validate_notebook(nb: NotebookNode, ctx: BuildContext) -> NotebookNode:
    problems: list[str] = []
    try:
        nbformat.validate(nb)
    except nbformat.ValidationError as exc:
        problems.append(f"the generated notebook is not valid nbformat: {exc.message}")
    try:
        MetadataValidator().validate_nb(nb)
    except ValidationError as exc:
        problems.append(f"nbgrader rejects the generated metadata: {exc}")

    seen: dict[tuple[str, str], int] = {}
    ids: set[str] = set()
    for index, cell in enumerate(nb.cells):
        where = ctx.where(index)
        meta = dl_meta(cell)
        r = role(cell)
        if r not in ROLES or set(meta) - DL_KEYS:
            problems.append(f"{where}: unexpected metadata.dl {dict(meta)}")
        if cell.get("id") in ids:
            problems.append(f"{where}: duplicate cell id {cell.get('id')!r}")
        ids.add(cell.get("id"))
        if r in ("unit", "tests"):
            seen[(r, meta["unit"])] = seen.get((r, meta["unit"]), 0) + 1
        if r == "question":
            seen[("question", meta["question"])] = seen.get(("question", meta["question"]), 0) + 1
        if "reference_value(" in cell.source:
            problems.append(f"{where}: reference_value( is left in the generated cell")
        if "BEGIN HIDDEN TESTS" in cell.source and r != "tests":
            problems.append(f"{where}: hidden tests outside a tests cell")
        if cell.metadata.get("nbgrader", {}).get("solution") and cell.cell_type == "code":
            try:
                find_regions(cell.source, where)
            except RegionError as exc:
                problems.append(str(exc))
    expected = [("unit", u.grade_id) for u in ctx.notebook.units if u.written_in is None]
    expected += [("tests", u.grade_id) for u in ctx.notebook.units]
    expected += [("question", q.grade_id) for q in ctx.notebook.questions]
    for key in expected:
        if seen.get(key, 0) != 1:
            problems.append(f"{ctx.source}: {key[0]} cell of {key[1]} appears {seen.get(key, 0)} times in the generated notebook, expected once")
    if problems:
        raise BuildError(problems)
    return nb
