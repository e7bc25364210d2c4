"""Import the graded work of a notebook as a module, and reuse its classes and functions.

A later notebook reuses a student's earlier work with::

    from dl.notebook_import import import_notebook
    fc = import_notebook("FullyConnectedNets.ipynb")
    model = fc.FullyConnectedNet([100, 100])

A later notebook that completes part of an earlier one (the batchnorm branch of
``FullyConnectedNet``) makes the imported class look names up in its own namespace, so that the
class calls the ``batchnorm_forward`` written there, even one defined or re-run afterwards::

    FullyConnectedNet = rebind(fc.FullyConnectedNet, globals())

Which cells run is decided by :func:`dl.program.assemble`, the function the build and the grader
use too: the imports of the setup cell, the provided cells and the unit cells, found by their
metadata or, where a front end dropped it (Colab and VS Code do), by the names each unit defines
(``metadata.dl.units`` lists them); never training runs, plots or checks. A missing or broken unit
costs only its own names. Tracebacks from imported code show the notebook's lines.

Imported functions, and the methods of imported classes, explain their failures in the later
notebook (:func:`_explained`): an exception raised inside one gets a note naming the function (or
``Class.method``), the notebook and the cell, and a
``<name>_backward`` warns when a gradient it returns has not the shape of the matching array
argument of the ``<name>_forward`` call that made its cache (the contract of :mod:`dl.layers`),
so that a wrong shape is named where it is made, before the error it causes in the next layer. A unit cell that uses
a name defined only outside the graded cells gets a warning (:func:`dl.program.outside_names`).
"""
from __future__ import annotations

import functools
import json
import os
import sys
import types
import warnings
import weakref
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from dl.checking import shape_mismatch
from dl.program import Program, assemble, cell_source, outside_names, run_program

__all__ = ["NotebookImportError", "cell_source", "import_notebook", "read_notebook", "rebind"]

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


def import_notebook(path: str | os.PathLike, units: Mapping[str, Sequence[str]] | None = None) -> types.ModuleType:
    """Run the program of a notebook (:func:`dl.program.assemble`) into a module and return it.

    Inputs:
    - path: the ``.ipynb`` file, e.g. ``"FullyConnectedNets.ipynb"`` next to the current notebook.
    - units: grade id -> names each unit defines; default: the list the build stored in the
      notebook's metadata.

    Returns a module whose attributes are the notebook's definitions. A unit whose cell is missing
    or fails costs only its own names: the rest imports, and using one of its names raises
    ``NotebookImportError`` naming the notebook, the unit and the line that failed. A failing cell
    whose names were defined all the same (it raised after its ``def``) gives a warning. Raises
    ``NotebookImportError`` when the notebook cannot be read or lists no units.
    """
    path = _under_nbgrader_autograde(Path(path))
    if not path.is_absolute() and not path.is_file():
        raise NotebookImportError(f"notebook {path} does not exist in {Path.cwd()} (the working directory); "
                                  f"open this notebook from the assignment folder, next to {path.name}")
    nb = read_notebook(path)
    if units is None:
        meta = nb.get("metadata")
        units = meta.get("dl", {}).get("units") if isinstance(meta, dict) and isinstance(meta.get("dl"), dict) else None
        if not isinstance(units, dict) or not units:
            raise NotebookImportError(f"{path.name} lists no graded units in its metadata; pass units={{grade_id: [names]}}")
    program = assemble(nb, units, path.name)
    module = types.ModuleType(f"notebook_{path.stem}")
    module.__file__ = str(path)
    failures = run_program(program, module.__dict__)

    unavailable: dict[str, str] = {}
    for grade_id, names in units.items():
        cell = program.unit_cell(grade_id)
        if cell is None:
            reason = f"{program.missing[grade_id]}. Complete it in {path.name} and save the notebook"
        elif cell in failures:
            reason = (f"{cell.label} (unit {grade_id}) failed: {failures[cell]}; "
                      f"fix it in {path.name} and save the notebook")
        else:
            continue
        # as the grader does: a missing unit is missing even if another cell defines its names;
        # a failing cell's names are usable where it defined them before failing (with a warning)
        lost = list(names) if cell is None else [name for name in names if name not in module.__dict__]
        for name in lost:
            module.__dict__.pop(name, None)
            unavailable[name] = f"`{name}` could not be imported from {path.name}: {reason}"
        if cell is not None and not lost:
            warnings.warn(f"{path.name}: {reason}", stacklevel=2)
    for cell, error in failures.items():
        if not cell.units:
            warnings.warn(f"{path.name}: {cell.label} failed: {error}", stacklevel=2)
    for message in outside_names(nb, program, path.name):
        warnings.warn(message, stacklevel=2)
    _explain_failures(module, program, units, path.name)
    if unavailable:
        module.__getattr__ = _unavailable(module.__name__, unavailable)
    sys.modules[module.__name__] = module  # a fresh import replaces an older one
    return module


def _explain_failures(module: types.ModuleType, program: Program, units: Mapping[str, Sequence[str]], notebook: str) -> None:
    """Replace each function a unit cell defines in ``module`` by :func:`_explained` of it, and
    each method of a class it defines (:func:`_explain_methods`).

    The module's own code calls the replacements too (they are its globals), and so does a class
    of the module rebound into a later notebook that took them from the module.
    """
    cells = {cell.filename: cell.index + 1 for cell in program.cells if cell.units}
    ledgers: dict[str, dict] = {}  # one per layer name: caches made by <name>_forward
    for grade_id, names in units.items():
        cell = program.unit_cell(grade_id)
        for name in names:
            value = module.__dict__.get(name)
            if cell is not None and isinstance(value, type):
                _explain_methods(value, cell.filename, notebook, cells)
            if cell is None or not isinstance(value, types.FunctionType) or value.__code__.co_filename != cell.filename:
                continue
            layer, _, kind = name.rpartition("_")
            ledger = ledgers.setdefault(layer, {}) if layer and kind in ("forward", "backward") else None
            module.__dict__[name] = _explained(value, notebook, cells, kind if ledger is not None else "", ledger)


def _explain_methods(cls: type, filename: str, notebook: str, cells: Mapping[str, int]) -> None:
    """Replace, in place, each method, static or class method and property accessor that ``cls``
    itself defines in the cell compiled as ``filename`` by :func:`_explained` of it (notes only).

    The class stays the same object, so instances, ``isinstance`` and zero-argument ``super()``
    (whose ``__class__`` cell is the class) are unchanged; :func:`rebind` copies the wrapped methods
    with their wrapping.
    """
    def explain(func):
        if isinstance(func, types.FunctionType) and func.__code__.co_filename == filename:
            return _explained(func, notebook, cells)
        return func

    for key, value in list(vars(cls).items()):
        if isinstance(value, types.FunctionType):
            wrapped = explain(value)
        elif isinstance(value, (staticmethod, classmethod)):
            wrapped = value if explain(value.__func__) is value.__func__ else type(value)(explain(value.__func__))
        elif type(value) is property:
            accessors = (value.fget, value.fset, value.fdel)
            wrapped = value if all(explain(f) is f for f in accessors) else property(*map(explain, accessors), value.__doc__)
        else:
            continue
        if wrapped is not value:
            setattr(cls, key, wrapped)


MAX_LEDGER = 256  # caches remembered per layer; older ones are not checked


def _explained(func: types.FunctionType, notebook: str, cells: Mapping[str, int], kind: str = "", ledger: dict | None = None):
    """``func``, imported from ``notebook``, explaining its failures to the notebook that calls it.

    - An exception raised inside it gets a note: "raised in affine_backward, imported from
      FullyConnectedNets.ipynb (cell 7, line 4): ...", naming the innermost function of the
      notebook's cells (``cells`` maps their file names to cell numbers) the traceback passes.
    - ``kind="forward"``: for the ``(out, cache)`` it returns, remembers in ``ledger`` the shapes
      of its array arguments (keyed by the cache, which is not kept alive).
    - ``kind="backward"``: when ``ledger`` remembers the cache it is given, warns
      (:class:`GradientShapeWarning`) if a gradient it returns does not have the shape of the
      matching forward argument. A warning, not an error: the function returns what it returned,
      so the later notebook's code (and its hidden tests under ``nbgrader autograde``) behaves as
      it does in the grader, which runs the earlier notebook's cells without this wrapper; the
      student sees the cause named before the error it leads to further on.
    """
    @functools.wraps(func)
    def explained(*args, **kwargs):
        try:
            result = func(*args, **kwargs)
        except Exception as exc:
            _add_note(exc, func, notebook, cells)
            raise
        if kind == "forward":
            _remember_inputs(ledger, func, args, kwargs, result)
        elif kind == "backward":
            problem = _gradient_shape_problem(ledger, args, kwargs, result)
            if problem:
                warnings.warn(f"{problem} (returned by {func.__name__}, imported from {notebook} (cell "
                              f"{cells[func.__code__.co_filename]})): {_fix_hint(notebook)}", GradientShapeWarning, stacklevel=2)
        return result

    explained._rewrap = lambda new: _explained(new, notebook, cells, kind, ledger)  # for rebind
    return explained


def _add_note(exc: Exception, func: types.FunctionType, notebook: str, cells: Mapping[str, int]) -> None:
    """Note on ``exc`` where in ``notebook`` it was raised, once (an imported function may call another).

    The place is the innermost frame of the notebook's cells in the traceback, named by its
    qualified name (``FullyConnectedNet.loss`` for a method), else ``func`` itself.
    """
    imported = f"imported from {notebook}"
    if any(imported in note for note in getattr(exc, "__notes__", ())):
        return
    name, at = func.__qualname__, f" (cell {cells[func.__code__.co_filename]})"
    tb = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_filename in cells:
            name, at = code.co_qualname, f" (cell {cells[code.co_filename]}, line {tb.tb_lineno})"
        tb = tb.tb_next
    exc.add_note(f"raised in {name}, {imported}{at}: {_fix_hint(notebook)}")


def _fix_hint(notebook: str) -> str:
    return f"if the mistake is there, fix it in {notebook}, save it and re-run this notebook's setup cell"


def _arrays(value, depth: int = 3) -> list[np.ndarray]:
    """The numpy arrays in a cache: the cache itself, or those in its (nested) tuples and lists."""
    if isinstance(value, np.ndarray):
        return [value]
    if depth and isinstance(value, (tuple, list)):
        return [array for item in value for array in _arrays(item, depth - 1)]
    return []


def _remember_inputs(ledger: dict, forward: Callable, args: tuple, kwargs: dict, result) -> None:
    """Record in ``ledger`` the names and shapes of ``forward``'s array arguments, under its cache."""
    if not (isinstance(result, tuple) and len(result) == 2):
        return
    cache = result[1]
    arrays = _arrays(cache)
    if not arrays:
        return
    code = forward.__code__
    values = dict(zip(code.co_varnames[:code.co_argcount], args)) | kwargs
    inputs = [(name, value.shape) for name, value in values.items() if isinstance(value, np.ndarray)]
    ledger[id(cache)] = ([weakref.ref(array) for array in arrays], inputs)
    if len(ledger) > MAX_LEDGER:
        del ledger[next(iter(ledger))]


class GradientShapeWarning(UserWarning):
    """An imported backward function returned a gradient whose shape is not its input's."""


def _gradient_shape_problem(ledger: dict, args: tuple, kwargs: dict, result) -> str | None:
    """Why gradient i of a backward call has not the shape of array argument i of the forward that
    made its cache (``None``: it has, or the cache is not one the imported forward made)."""
    cache = args[1] if len(args) > 1 else kwargs.get("cache")
    remembered = ledger.get(id(cache))
    if remembered is None:
        return None
    refs, inputs = remembered
    arrays = _arrays(cache)
    if len(arrays) != len(refs) or any(ref() is not array for ref, array in zip(refs, arrays)):
        return None  # another cache now has the address of a remembered one
    gradients = result if isinstance(result, tuple) else (result,)
    for (name, shape), gradient in zip(inputs, gradients):
        problem = shape_mismatch(f"d{name}", np.shape(gradient), shape, name) if isinstance(gradient, np.ndarray) else None
        if problem:
            return problem
    return None


def _unavailable(module_name: str, reasons: Mapping[str, str]):
    """A module ``__getattr__`` (PEP 562) that explains why a unit's name is missing."""
    def __getattr__(name: str):
        if name in reasons:
            raise NotebookImportError(reasons[name])
        raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
    return __getattr__


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
    everything else (class attributes, defaults, base classes) is shared. Functions and methods
    imported by :func:`import_notebook` go on explaining their failures (:func:`_explained`).

    Raises TypeError for anything but a plain function or class.
    """
    if isinstance(obj, types.FunctionType) and hasattr(obj, "_rewrap"):  # explains its failures (_explained)
        return obj._rewrap(_rebind_function(obj.__wrapped__, namespace))
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
        if isinstance(func, types.FunctionType) and hasattr(func, "_rewrap"):  # a method that explains its failures
            return func._rewrap(_rebind_function(func.__wrapped__, namespace, class_cell))
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
