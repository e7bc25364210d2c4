"""Put the code of ``dl`` objects into the cells that show it.

- ``unit`` cells of code units get the source of the unit's reference *with* its solution
  markers: nbgrader turns each region into a stub for the release, and the source notebook keeps
  the full answer. There is one copy of every reference body, in ``dl/`` (DESIGN.md). A
  method-level unit (``"dl.models.fc_net:FullyConnectedNet.loss"``) gets its whole class: the
  method's solution region is the unit's answer, and the class cell keeps ``super()`` working.
- ``provide`` cells get the sources of the named objects with the marker lines removed (their
  code kept): code the student's units plug into. ``provide="dl.layer_utils:a,b"`` names ``a``
  and ``b`` of ``dl.layer_utils``; an item with its own ``module:`` switches module. Module-level
  constants can be provided too.
"""
from __future__ import annotations

import ast
import importlib
import inspect
import textwrap
from pathlib import Path

from nbformat import NotebookNode

from course.build.context import BuildContext, BuildError, dl_meta, role
from course.build.solution_regions import RegionError, find_regions, remove_markers
from course.manifest import resolve_reference


def inline_references(nb: NotebookNode, ctx: BuildContext) -> NotebookNode:
    problems: list[str] = []
    for index, cell in enumerate(nb.cells):
        try:
            if role(cell) == "unit":
                unit = ctx.notebook.unit(dl_meta(cell)["unit"])
                if unit.reference is not None:
                    cell.source = reference_source(unit.reference)
            elif role(cell) == "provide":
                spec = cell.metadata["dl"].pop("provide")
                names, sources = [], []
                for module, name in parse_provide(spec):
                    names.append(name)
                    sources.append(remove_markers(object_source(module, name), f"{module}:{name}"))
                cell.source = "\n\n\n".join(sources)
                ctx.provided.extend(n for n in names if n not in ctx.provided)
        except (ValueError, RegionError) as exc:
            problems.append(f"{ctx.where(index)}: {exc}")
    if problems:
        raise BuildError(problems)
    return nb


def reference_source(reference: str) -> str:
    """The source of a unit's reference object, dedented, with its solution markers.

    For a method (``"module:Class.method"``) it is the source of the whole class, and the method
    must hold a solution region. Raises ``ValueError`` when the object (the method) has no
    solution region (its whole body would ship in the student's ``dl``) or its markers are malformed.
    """
    module, name = reference.split(":")
    graded = object_source(module, name)
    try:
        regions = find_regions(graded, reference)
    except RegionError as exc:
        raise ValueError(str(exc)) from exc
    if not regions:
        raise ValueError(f"the reference {reference} has no ### BEGIN SOLUTION / ### END SOLUTION region; "
                         "wrap the graded part of its body in dl/ (the release would otherwise show it)")
    return object_source(module, name.split(".")[0]) if "." in name else graded


def parse_provide(spec: str) -> list[tuple[str, str]]:
    """``"dl.m:a,b,dl.n:c"`` -> ``[("dl.m", "a"), ("dl.m", "b"), ("dl.n", "c")]``."""
    items: list[tuple[str, str]] = []
    module = None
    for item in (part.strip() for part in spec.split(",")):
        if ":" in item:
            module, item = item.split(":", 1)
        if module is None or not item.isidentifier():
            raise ValueError(f'provide="{spec}" is not "dl.module:name,name,..."; '
                             'write e.g. provide="dl.layer_utils:affine_relu_forward,affine_relu_backward"')
        items.append((module, item))
    return items


def object_source(module: str, name: str) -> str:
    """Source of the top-level function, class or assignment ``name`` of ``module`` (in ``dl``), or of
    the method ``Class.method``, dedented.

    Raises ``ValueError`` naming the object when it cannot be found.
    """
    obj = resolve_reference(f"{module}:{name}")
    if inspect.isfunction(obj) or inspect.isclass(obj):
        try:
            return textwrap.dedent(inspect.getsource(obj)).rstrip("\n")
        except (OSError, TypeError) as exc:
            raise ValueError(f"cannot read the source of {module}:{name} ({exc})") from exc
    text = Path(importlib.import_module(module).__file__).read_text(encoding="utf-8")
    for node in ast.parse(text).body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            return "\n".join(text.splitlines()[node.lineno - 1:node.end_lineno])
    raise ValueError(f"{module}:{name} is neither a function, a class nor a top-level assignment of {module}; "
                     "only those can be provided")
