"""Import the graded work of a notebook as a module, and the cell extraction the grader shares.

A later notebook reuses a student's earlier work with::

    from dl.notebook_import import import_notebook
    fc = import_notebook("FullyConnectedNets.ipynb")
    model = fc.FullyConnectedNet([100, 100])

A later notebook that completes part of an earlier one (the batchnorm branch of
``FullyConnectedNet``) makes the imported class look names up in its own namespace, so that the
class calls the ``batchnorm_forward`` written there, even one defined or re-run afterwards::

    FullyConnectedNet = rebind(fc.FullyConnectedNet, globals())

Only code cells that define graded units (and the cells they need: imports and provided code)
are executed, never training runs or plots. Cells are found by their metadata (``metadata.dl``
written by ``dl-course build``, or nbgrader's ``grade_id``) and, when a front end dropped the
metadata (Colab and VS Code do), by the names the unit defines, which the notebook's own
metadata lists (``metadata.dl.units``). Duplicated cells resolve to the last one in the notebook,
as re-running them in a kernel would.
"""
from __future__ import annotations

import ast
import json
import os
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

MAX_NOTEBOOK_BYTES = 50 * 2**20


class NotebookImportError(ImportError):
    """A notebook cannot be read, or a unit's cell is missing or broken. The message says which."""


def read_notebook(path: str | os.PathLike) -> dict:
    """Read an ``.ipynb`` file as a dict, with errors that name the file and the problem.

    Raises ``NotebookImportError`` for a missing file, a file over 50 MiB, bytes that are not
    UTF-8, invalid or absurdly nested JSON, or JSON that is not an nbformat 4 notebook.
    """
    path = Path(path)
    if not path.is_file():
        raise NotebookImportError(f"notebook {path} does not exist")
    if path.stat().st_size > MAX_NOTEBOOK_BYTES:
        raise NotebookImportError(f"notebook {path} is {path.stat().st_size / 2**20:.0f} MiB, over the 50 MiB limit; clear its outputs and save it again")
    try:
        nb = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise NotebookImportError(f"notebook {path} is not UTF-8 text (byte {exc.start}); save it again from Jupyter") from exc
    except json.JSONDecodeError as exc:
        raise NotebookImportError(f"notebook {path} is not valid JSON ({exc.msg} at line {exc.lineno}); was it saved completely?") from exc
    except RecursionError as exc:
        raise NotebookImportError(f"notebook {path} is JSON nested too deeply to be a notebook; save it again from Jupyter") from exc
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list) or nb.get("nbformat") != 4:
        raise NotebookImportError(f"{path} is not an nbformat 4 notebook (nbformat={nb.get('nbformat') if isinstance(nb, dict) else None!r})")
    return nb


def cell_source(cell: Mapping) -> str:
    """The source of a notebook cell as one string (nbformat allows a string or a list of lines)."""
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _cell_meta(cell: Mapping) -> tuple[dict, dict]:
    meta = cell.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    dl, nbg = meta.get("dl"), meta.get("nbgrader")
    return (dl if isinstance(dl, dict) else {}), (nbg if isinstance(nbg, dict) else {})


def cell_role(cell: Mapping) -> str | None:
    """The role the build gave a cell (``setup``, ``provide``, ``unit``, ``check``, ...), if kept."""
    dl, _ = _cell_meta(cell)
    return dl.get("role")


def cell_unit(cell: Mapping) -> str | None:
    """The grade id of the unit a code cell answers, from ``metadata.dl`` or nbgrader's grade_id."""
    dl, nbg = _cell_meta(cell)
    if dl.get("unit") and dl.get("role", "unit") == "unit":
        return dl["unit"]
    if nbg.get("solution") and not nbg.get("grade") and nbg.get("grade_id"):
        return nbg["grade_id"]
    return None


def _parse(source: str) -> ast.Module | None:
    """The cell's syntax tree; None for a syntax error or code nested too deeply for the parser
    (which raises MemoryError or RecursionError for it)."""
    try:
        return ast.parse(source)
    except (SyntaxError, MemoryError, RecursionError):
        return None


def defined_names(source: str) -> set[str]:
    """Names a cell defines at top level (functions, classes, assignments); empty if it does not parse."""
    tree = _parse(source)
    if tree is None:
        return set()
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


def import_statements(source: str) -> str:
    """Only the top-level ``import`` / ``from ... import`` statements of a cell, as source.

    Used to take what graded code needs from a setup cell without loading data or plotting.
    """
    tree = _parse(source)
    if tree is None:
        return ""
    return "\n".join(ast.unparse(n) for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom)))


@dataclass
class UnitCell:
    """Where a unit's code was found: the cell's source, its index, and how it was matched."""

    source: str
    index: int
    matched_by: str  # "metadata" or "names"
    duplicates: int = 0  # other cells that matched too (the last one wins)


@dataclass
class Extraction:
    """Result of :func:`find_unit_cells`: found units, and a message for each one not found."""

    cells: dict[str, UnitCell] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)


def find_unit_cells(nb: Mapping, units: Mapping[str, Sequence[str]], notebook_name: str = "the notebook") -> Extraction:
    """Find the code cell of each unit: by metadata first, else by the names it must define.

    Inputs:
    - nb: a notebook dict (see :func:`read_notebook`).
    - units: maps a grade id to the names its cell defines (e.g. ``{"a1-fc-adam": ["adam"]}``).
    - notebook_name: used in messages.

    A cell found by metadata is used even if it no longer defines the names (the grader then
    reports the missing name). Among several candidates, the last one in the notebook wins.
    """
    code_cells = [(i, c) for i, c in enumerate(nb.get("cells", [])) if isinstance(c, dict) and c.get("cell_type") == "code"]
    result = Extraction()
    for grade_id, names in units.items():
        by_meta = [(i, c) for i, c in code_cells if cell_unit(c) == grade_id]
        if by_meta:
            i, c = by_meta[-1]
            result.cells[grade_id] = UnitCell(cell_source(c), i, "metadata", len(by_meta) - 1)
            continue
        wanted = set(names)
        by_names = [(i, c) for i, c in code_cells if wanted and wanted <= defined_names(cell_source(c))]
        if by_names:
            i, c = by_names[-1]
            result.cells[grade_id] = UnitCell(cell_source(c), i, "names", len(by_names) - 1)
        else:
            shown = ", ".join(f"`{n}`" for n in names) or "its code"
            result.missing[grade_id] = f"no cell of {notebook_name} defines {shown} (unit {grade_id})"
    return result


def execute_cells(module_name: str, cells: Iterable[tuple[str, str]], filename: str) -> tuple[types.ModuleType, dict[str, str]]:
    """Execute ``(label, source)`` pairs in order into a fresh module; one failure does not stop the rest.

    Returns the module and ``{label: error message}`` for the cells that raised.
    """
    module = types.ModuleType(module_name)
    module.__file__ = filename
    errors: dict[str, str] = {}
    for label, source in cells:
        try:
            exec(compile(source, f"{filename} [{label}]", "exec"), module.__dict__)
        except Exception as exc:  # a student's cell may raise anything; report it and go on
            errors[label] = f"{type(exc).__name__}: {exc}"
    return module, errors


def import_notebook(path: str | os.PathLike, units: Mapping[str, Sequence[str]] | None = None) -> types.ModuleType:
    """Import the graded units of a notebook (and the imports and provided code they need).

    Inputs:
    - path: the ``.ipynb`` file, e.g. ``"FullyConnectedNets.ipynb"`` next to the current notebook.
    - units: grade id -> names each unit defines; default: the list the build stored in the
      notebook's metadata.

    Returns a module whose attributes are the notebook's definitions. Raises
    ``NotebookImportError`` naming the notebook and the unit when a unit's cell is missing or
    raises while it is defined.
    """
    path = _under_nbgrader_autograde(Path(path))
    nb = read_notebook(path)
    meta = nb.get("metadata", {}).get("dl", {}) if isinstance(nb.get("metadata"), dict) else {}
    if units is None:
        units = meta.get("units")
        if not isinstance(units, dict) or not units:
            raise NotebookImportError(f"{path.name} lists no graded units in its metadata; pass units={{grade_id: [names]}}")
    found = find_unit_cells(nb, units, path.name)
    if found.missing:
        details = "; ".join(found.missing.values())
        raise NotebookImportError(f"{details}. Complete it in {path.name} and save the notebook.")

    provided = set(meta.get("provided", []))
    unit_indices = {u.index for u in found.cells.values()}
    first_unit = min(unit_indices, default=0)
    cells: list[tuple[int, str, str]] = []
    for i, cell in enumerate(nb["cells"]):
        if i in unit_indices or not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell_source(cell)
        role = cell_role(cell)
        if role == "provide" or (role is None and provided & defined_names(source)):
            cells.append((i, f"provided cell {i}", source))
        elif role == "setup" or (role is None and i < first_unit):
            imports = import_statements(source)
            if imports:
                cells.append((i, f"imports of cell {i}", imports))
    for grade_id, unit in found.cells.items():
        cells.append((unit.index, grade_id, unit.source))
    cells.sort(key=lambda t: t[0])

    module_name = f"notebook_{path.stem}"
    module, errors = execute_cells(module_name, [(label, src) for _, label, src in cells], str(path))
    broken = {label: err for label, err in errors.items() if label in units}
    if broken:
        details = "; ".join(f"{label}: {err}" for label, err in broken.items())
        raise NotebookImportError(f"running the graded cells of {path.name} failed ({details}); fix them there and save the notebook")
    sys.modules[module_name] = module  # a fresh import replaces an older one
    return module


def _under_nbgrader_autograde(path: Path) -> Path:
    """Where ``nbgrader autograde`` keeps a notebook it has not reached yet.

    Autograde runs each notebook in ``autograded/<student>/<assignment>/`` and writes the other
    notebooks there only when it gets to them, so a later notebook would not find an earlier one
    it imports (they are processed in name order). While autograde runs (it sets
    ``NBGRADER_EXECUTION=autograde``), a relative path missing there is looked up in the
    student's ``submitted/<student>/<assignment>/`` folder, nbgrader's standard layout.
    """
    if path.is_absolute() or path.exists() or os.environ.get("NBGRADER_EXECUTION") != "autograde":
        return path
    here = Path.cwd()
    if len(here.parts) < 3 or here.parts[-3] != "autograded":
        return path
    submitted = here.parents[2] / "submitted" / here.parts[-2] / here.parts[-1] / path
    return submitted if submitted.is_file() else path


def rebind(obj, namespace: dict):
    """A copy of a function or class whose code looks up global names in ``namespace``.

    ``rebind(fc.FullyConnectedNet, globals())`` in a notebook gives a class that behaves as if
    its cell had been run in that notebook: it calls the layer functions defined there, looked up
    at call time. Methods, static and class methods and properties are rebound, and zero-argument
    ``super()`` in them refers to the copy (so an ``nn.Module`` subclass still initialises);
    everything else (class attributes, defaults, base classes) is shared.

    Raises TypeError for anything but a plain function or class.
    """
    if isinstance(obj, types.FunctionType):
        return _rebind_function(obj, namespace)
    if isinstance(obj, type):
        return _rebind_class(obj, namespace)
    raise TypeError(f"rebind takes a function or a class, got {type(obj).__name__}")


def _rebind_function(func: types.FunctionType, namespace: dict, class_cell: types.CellType | None = None) -> types.FunctionType:
    """``func`` with globals ``namespace``; its ``__class__`` closure cell (what ``super()`` reads)
    replaced by ``class_cell`` when given."""
    closure = func.__closure__
    if closure is not None and class_cell is not None:
        closure = tuple(class_cell if name == "__class__" else cell for name, cell in zip(func.__code__.co_freevars, closure))
    copy = types.FunctionType(func.__code__, namespace, func.__name__, func.__defaults__, closure)
    copy.__kwdefaults__ = func.__kwdefaults__
    copy.__dict__.update(func.__dict__)
    copy.__doc__, copy.__qualname__, copy.__module__ = func.__doc__, func.__qualname__, namespace.get("__name__")
    return copy


def _rebind_class(cls: type, namespace: dict) -> type:
    class_cell = types.CellType()  # filled with the new class once it exists, as a class statement does

    def copy(func):
        return _rebind_function(func, namespace, class_cell) if isinstance(func, types.FunctionType) else func

    slots = cls.__dict__.get("__slots__", ())
    body = {}
    for key, value in cls.__dict__.items():
        if key in ("__dict__", "__weakref__") or (key in slots and isinstance(value, types.MemberDescriptorType)):
            continue  # made again by type() (from __slots__ for the member descriptors)
        if isinstance(value, types.FunctionType):
            value = copy(value)
        elif isinstance(value, (staticmethod, classmethod)):
            value = type(value)(copy(value.__func__))
        elif isinstance(value, property):
            value = property(copy(value.fget), copy(value.fset), copy(value.fdel), value.__doc__)
        body[key] = value
    body["__module__"], body["__qualname__"] = namespace.get("__name__"), cls.__qualname__
    new = type(cls)(cls.__name__, cls.__bases__, body)
    class_cell.cell_contents = new
    return new
