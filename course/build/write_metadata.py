"""Write the nbgrader metadata of every cell and the notebook's own metadata.

Cell metadata follows the table of docs/authoring.md (nbgrader schema 3): setup, provide and
check cells are locked; unit and exercise cells are solution cells; tests cells carry the unit's
points; written questions are manually graded answer cells with the question's points. Every
cell gets a stable id (its grade id where it has one), so a rebuild is byte-identical.
"""
from __future__ import annotations

from nbformat import NotebookNode

from course.build.context import GENERATED_BY, BuildContext, dl_meta, role

KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}
LOCKED_ROLES = ("setup", "provide", "check")


def write_metadata(nb: NotebookNode, ctx: BuildContext) -> NotebookNode:
    counts: dict[str, int] = {}
    for cell in nb.cells:
        r = role(cell)
        counts[r] = counts.get(r, 0) + 1
        nbgrader = nbgrader_metadata(cell, ctx, counts[r])
        if nbgrader is not None:
            cell.metadata["nbgrader"] = nbgrader
        cell["id"] = nbgrader["grade_id"] if nbgrader else f"{ctx.notebook.short}-{r}-{counts[r]}"
    # Units written in another notebook's cell are found there, not in this notebook.
    units = {u.grade_id: list(u.names) for u in ctx.notebook.units if u.reference is not None and u.written_in is None}
    nb.metadata = NotebookNode({
        "kernelspec": dict(KERNELSPEC),
        "language_info": {"name": "python"},
        "dl": {
            "assignment": ctx.notebook.assignment,
            "notebook": ctx.notebook.name,
            "generated_by": GENERATED_BY,
            "source": ctx.source,
            "units": units,
            "provided": list(ctx.provided),
        },
    })
    return nb


def nbgrader_metadata(cell: NotebookNode, ctx: BuildContext, n: int) -> dict | None:
    """The ``metadata.nbgrader`` of a cell with role number ``n`` (1-based); ``None`` for prose and code."""
    r, meta = role(cell), dl_meta(cell)

    def entry(grade_id: str, *, solution: bool, grade: bool, locked: bool, points=None) -> dict:
        result = {"schema_version": 3, "grade_id": grade_id, "solution": solution, "grade": grade, "locked": locked}
        if points is not None:
            result["points"] = points
        return result

    if r in LOCKED_ROLES:
        return entry(f"{ctx.notebook.short}-{r}-{n}", solution=False, grade=False, locked=True)
    if r == "unit":
        return entry(meta["unit"], solution=True, grade=False, locked=False)
    if r == "exercise":
        return entry(f"{ctx.notebook.short}-exercise-{n}", solution=True, grade=False, locked=False)
    if r == "tests":
        points = ctx.notebook.unit(meta["unit"]).points
        return entry(f"{meta['unit']}-tests", solution=False, grade=True, locked=True, points=points)
    if r == "question":
        points = ctx.notebook.question(meta["question"]).points
        return entry(meta["question"], solution=True, grade=True, locked=False, points=points)
    return None
