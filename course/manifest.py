"""The course manifest as the course tooling uses it: :func:`load_manifest` validates it whole.

The file is read by :func:`autograder.manifest.read_manifest` (the one reader of
``course/manifest.toml``, which the grader uses too); this module adds the checks that need the
course around it: references that import to a function, class or method defined in ``dl``,
source files that exist, notebooks listed by their assignment, reveals, ``uses`` and
``written_in``. The format is documented in ``docs/authoring.md``.
"""
from __future__ import annotations

import importlib
import inspect
from pathlib import Path

from autograder.manifest import MANIFEST, REFERENCE, Assignment, Course, ManifestError, Notebook, Problem, read_manifest

__all__ = ["MANIFEST", "Assignment", "Course", "ManifestError", "Notebook", "load_manifest", "resolve_reference"]


def resolve_reference(reference: str):
    """Import the object named by ``"module:name"`` or ``"module:Class.method"``.

    E.g. ``"dl.layers:affine_forward"`` or ``"dl.models.fc_net:FullyConnectedNet.loss"``. Raises
    ``ValueError`` with a one-line reason when the string is malformed, the module is not part of
    ``dl``, cannot be imported, or lacks the name (or the class lacks the method).
    """
    match = REFERENCE.match(reference)
    if match is None:
        raise ValueError(f'"{reference}" is not "module:name" or "module:Class.method" (e.g. "dl.layers:affine_forward")')
    module_name, name = match["module"], match["name"]
    if module_name != "dl" and not module_name.startswith("dl."):
        raise ValueError(f'"{reference}" is outside the dl package; references name objects in dl/')
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f'module {module_name} of "{reference}" cannot be imported ({exc})') from exc
    top, _, method = name.partition(".")
    if not hasattr(module, top):
        raise ValueError(f'module {module_name} has no "{top}"')
    obj = getattr(module, top)
    if not method:
        return obj
    if not inspect.isclass(obj):
        raise ValueError(f'{module_name}:{top} is a {type(obj).__name__}, not a class, so it has no method "{method}"')
    if method not in vars(obj):
        raise ValueError(f'class {top} of {module_name} defines no method "{method}"')
    return vars(obj)[method]


def load_manifest(root: str | Path = ".") -> Course:
    """Read and validate ``<root>/course/manifest.toml``.

    On top of :func:`autograder.manifest.read_manifest`'s checks: grade ids unique in the course,
    references that import to a function or class defined in ``dl``, or to a method defined in
    such a class (not checked for planned notebooks, whose code may not exist yet), at most one
    unit per class in a notebook (a method-level unit's answer cell is its class's cell), reveals
    naming other existing assignments, every notebook listed by exactly one assignment (the one
    it names), ``uses`` and ``written_in`` naming earlier notebooks and their units, and a source
    file for every notebook that is not planned.
    """
    return read_manifest(Path(root).resolve() / MANIFEST, validate=_validate)


def _validate(course: Course, problem: Problem, locations: dict[str, str]) -> None:
    for nb in course.notebooks.values():
        if not nb.planned:  # a planned notebook's code may not exist yet
            for unit in nb.units:
                if unit.reference is not None:
                    _check_reference(unit.reference, locations[unit.grade_id], problem)
        _check_one_unit_per_class(nb, problem)
    _check_cross_references(course.root, course.assignments, course.notebooks, problem)


def _check_reference(reference: str, where: str, problem: Problem) -> None:
    try:
        obj = resolve_reference(reference)
    except ValueError as exc:
        problem(where, f"has a reference that does not resolve: {exc}; fix the reference or the dl module")
        return
    defined_in = getattr(obj, "__module__", None) or ""
    method = "." in reference.split(":")[1]
    if method and not inspect.isfunction(obj):
        problem(where, f'has reference "{reference}" naming a {type(obj).__name__}; '
                       "a method-level unit's reference is a plain method (def) of the class")
    elif not (inspect.isfunction(obj) or inspect.isclass(obj)):
        problem(where, f'has reference "{reference}" naming a {type(obj).__name__}; '
                       "a unit's reference is a function or class")
    elif defined_in != "dl" and not defined_in.startswith("dl."):
        problem(where, f'has reference "{reference}" to an object defined in {defined_in}, not in dl; '
                       "reference the dl module that defines it")


def _check_one_unit_per_class(nb: Notebook, problem: Problem) -> None:
    """A method-level unit is answered in its class's cell, so a class has one unit per notebook."""
    owners: dict[str, str] = {}
    for unit in nb.units:
        if unit.reference is None or unit.written_in is not None:
            continue
        cell = f"{unit.reference.split(':')[0]}:{unit.names[0]}"
        if cell in owners and (unit.class_name or nb.unit(owners[cell]).class_name):
            problem(f"[notebooks.{nb.name}]", f'has units "{owners[cell]}" and "{unit.grade_id}" in the cell of class '
                                              f"{unit.names[0]}; a method-level unit's answer cell is its whole class, "
                                              "so grade the class's methods in one unit (one check per method)")
        owners.setdefault(cell, unit.grade_id)


def _check_cross_references(root: Path, assignments: dict[str, Assignment], notebooks: dict[str, Notebook], problem) -> None:
    seen: dict[str, str] = {}
    for nb in notebooks.values():
        for item in [*nb.units, *nb.questions]:
            if not item.grade_id:
                continue
            if item.grade_id in seen:
                problem(f"[notebooks.{nb.name}]", f'reuses grade_id "{item.grade_id}" (already used in notebook '
                                                  f"{seen[item.grade_id]}); grade ids must be unique in the course")
            else:
                seen[item.grade_id] = nb.name

    _check_uses(assignments, notebooks, problem)

    listed: dict[str, list[str]] = {}
    for a in assignments.values():
        where = f"[assignments.{a.id}]"
        for name in a.notebooks:
            listed.setdefault(name, []).append(a.id)
            if name not in notebooks:
                problem(where, f'lists notebook "{name}", which has no [notebooks.{name}] table; add one or remove the name')
        for other in a.reveals:
            if other == a.id:
                problem(where, "reveals itself; a release never reveals the solutions students are writing")
            elif other not in assignments:
                problem(where, f'reveals "{other}", which is not an assignment; known: {", ".join(sorted(assignments))}')

    for nb in notebooks.values():
        where = f"[notebooks.{nb.name}]"
        owners = listed.get(nb.name, [])
        if len(owners) != 1:
            by = "no assignment" if not owners else "assignments " + ", ".join(owners)
            problem(where, f"is listed by {by}; list it in the notebooks of exactly one assignment")
        if nb.assignment and nb.assignment not in assignments:
            problem(where, f'has assignment = "{nb.assignment}", which is not an assignment; known: {", ".join(sorted(assignments))}')
        elif len(owners) == 1 and nb.assignment and nb.assignment != owners[0]:
            problem(where, f'has assignment = "{nb.assignment}" but is listed by [assignments.{owners[0]}]; make them agree')
        if not nb.planned and nb.assignment and not (root / nb.source).is_file():
            problem(where, f"has no source file {nb.source.as_posix()}; write it, or mark the notebook planned = true")


def _check_uses(assignments: dict[str, Assignment], notebooks: dict[str, Notebook], problem) -> None:
    """``uses`` names earlier notebooks of the same assignment; ``written_in`` a unit of one of them."""
    for nb in notebooks.values():
        where = f"[notebooks.{nb.name}]"
        order = assignments[nb.assignment].notebooks if nb.assignment in assignments else []
        for used in nb.uses:
            if used not in notebooks or notebooks[used].assignment != nb.assignment:
                problem(where, f'uses "{used}", which is not a notebook of assignment {nb.assignment}')
            elif nb.name in order and used in order and order.index(used) >= order.index(nb.name):
                problem(where, f'uses "{used}", which comes after it in [assignments.{nb.assignment}]; '
                               "a notebook can use only earlier ones (students complete them first)")
        for unit in nb.units:
            if unit.written_in is None:
                continue
            home = next((notebooks[u] for u in nb.uses if u in notebooks and notebooks[u].unit(unit.written_in)), None)
            if home is None:
                problem(where, f'has unit "{unit.grade_id}" written_in "{unit.written_in}", which is not a unit of a '
                               f"notebook it uses ({', '.join(nb.uses) or 'none'}); add the notebook to uses")
            elif home.unit(unit.written_in).reference != unit.reference:
                problem(where, f'has unit "{unit.grade_id}" whose reference differs from that of "{unit.written_in}", '
                               "the unit whose cell holds its code; they must name the same object")
