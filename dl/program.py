"""The program of a notebook: which of its cells run, in which order, and what happens when one fails.

One function, :func:`assemble`, decides this for the student's kernel
(:func:`dl.notebook_import.import_notebook`), the build (expected values computed from the
reference) and the grader (:mod:`autograder.extraction`), so that the three cannot disagree. Its
rules:

1. **Units.** Each graded unit (a grade id and the names its cell defines) is answered by one code
   cell of the notebook: the cell whose metadata names the unit (``metadata.dl.unit`` with role
   ``unit``, or nbgrader's ``grade_id`` on a solution cell) or, when no cell carries that metadata
   (Colab and VS Code drop it), the cell that defines all the unit's names at top level. Among
   several such cells the last one wins, as re-running them in a kernel would. A unit with no such
   cell is *missing*, with a message naming the notebook, the names and the unit.
2. **Setup and provided code** come from the *pristine* notebook: the release's copy for the
   grader (never the student's), the notebook itself otherwise. A code cell with role ``setup``
   or ``code`` (plain code) gives only its ``import`` statements (never its data loading, plots or
   training); a cell with role ``provide`` runs whole. Each cell is judged on its own metadata: a
   cell without a role gives its imports when it comes before the first unit cell, and runs whole
   when it defines a name that the notebook's ``metadata.dl.provided`` lists. Nothing else runs:
   checks, tests, exercises, training cells and the cells of units not asked for.
3. **Order.** The pristine notebook's order. A unit cell runs where the pristine notebook has that
   unit's cell (after everything else if it has none), so reordered cells change nothing; a cell
   answering several units runs once.
4. **Failures cost only what they break.** A cell that does not parse (a syntax error, or code
   nested too deeply for the parser) or raises is reported by :func:`run_program` and the others
   still run; the units whose names it should define are the ones lost.
5. **Source lines.** Each cell is compiled under its own file name (``<Notebook.ipynb cell 7>``)
   and registered with :mod:`linecache`, so tracebacks show the notebook's lines.

A unit cell that reads a name only a cell outside the program defines works in its own notebook
and nowhere else; :func:`outside_names` finds such names, for a warning when the notebook is imported.

A notebook that builds on earlier ones runs their programs first, in the same namespace (the
build, the grader), or imports them as modules (the student's kernel, :mod:`dl.notebook_import`).
"""
from __future__ import annotations

import ast
import builtins
import linecache
import threading
import traceback
from dataclasses import dataclass, field
from typing import Mapping, MutableMapping, Sequence


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


_PARSING = threading.Lock()


def parse(source: str, filename: str = "<unknown>") -> ast.Module:
    """``ast.parse(source, filename)``, one thread at a time.

    CPython 3.11 builds ast objects with a recursion counter shared by the threads of a process, so
    two threads parsing at once fail at random with ``SystemError: AST constructor recursion depth
    mismatch`` (python/cpython#106905): a grader whose threads grade submissions side by side (a
    Dask worker with several threads) parses through here.
    """
    with _PARSING:
        return ast.parse(source, filename)


def _parse(source: str) -> ast.Module | None:
    """The cell's syntax tree; None for a syntax error or code nested too deeply for the parser
    (which raises MemoryError or RecursionError for it)."""
    try:
        return parse(source)
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
    """Only the top-level ``import`` / ``from ... import`` statements of a cell, as source."""
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


def _code_cells(nb: Mapping) -> list[tuple[int, Mapping]]:
    cells = nb.get("cells")
    return [(i, c) for i, c in enumerate(cells if isinstance(cells, list) else []) if isinstance(c, dict) and c.get("cell_type") == "code"]


def find_unit_cells(nb: Mapping, units: Mapping[str, Sequence[str]], notebook_name: str = "the notebook") -> Extraction:
    """Find the code cell of each unit (rule 1 of the module docstring).

    Inputs:
    - nb: a notebook dict (see :func:`dl.notebook_import.read_notebook`).
    - units: maps a grade id to the names its cell defines (e.g. ``{"a1-fc-adam": ["adam"]}``).
    - notebook_name: used in messages.

    A cell found by metadata is used even if it no longer defines the names (using them then
    reports the missing name).
    """
    code_cells = _code_cells(nb)
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


@dataclass(frozen=True)
class ProgramCell:
    """One cell of a program.

    - label: how messages name it (``cell 7 of Nb.ipynb``, ``imports of setup cell 2``).
    - source: the code that runs.
    - units: the grade ids it answers (empty for setup and provided code).
    - index: its position in the notebook it was taken from (None when not from a notebook).
    - filename: the name it is compiled under, ``<Nb.ipynb cell 7>`` (default ``<label>``).
    """

    label: str
    source: str
    units: tuple[str, ...] = ()
    index: int | None = None
    filename: str = ""


@dataclass
class Program:
    """The cells that run, in order; per unit, how its cell was found or why it is missing."""

    cells: list[ProgramCell] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)  # grade id -> message naming notebook, names, unit
    found: dict[str, UnitCell] = field(default_factory=dict)  # grade id -> where its cell was found

    def unit_cell(self, grade_id: str) -> ProgramCell | None:
        return next((c for c in self.cells if grade_id in c.units), None)


def assemble(notebook: Mapping, units: Mapping[str, Sequence[str]], name: str, pristine: Mapping | None = None) -> Program:
    """The program of ``notebook`` by the rules of the module docstring; never raises for a malformed notebook.

    Inputs:
    - notebook: the notebook dict whose unit cells run (the student's).
    - units: grade id -> the names the unit's cell defines; only these units' cells run.
    - name: the notebook's file name, for messages and file names (``FullyConnectedNets.ipynb``).
    - pristine: the notebook whose setup and provided cells run (the release); default ``notebook``.
    """
    pristine = notebook if pristine is None else pristine
    found = find_unit_cells(notebook, units, name)
    in_pristine = found if pristine is notebook else find_unit_cells(pristine, units, name)
    pristine_units = {cell.index for cell in in_pristine.cells.values()}
    first_unit = min(pristine_units, default=float("inf"))
    meta = pristine.get("metadata")
    meta = meta.get("dl") if isinstance(meta, dict) else None
    provided = meta.get("provided") if isinstance(meta, dict) else None
    provided = set(provided) if isinstance(provided, list) else set()

    ordered: list[tuple[float, ProgramCell]] = []
    for i, cell in _code_cells(pristine):
        if i in pristine_units:
            continue
        role, source = cell_role(cell), cell_source(cell)
        if role == "provide" or (role is None and provided & defined_names(source)):
            ordered.append((i, ProgramCell(f"provided cell {i + 1}", source, (), i, f"<{name} cell {i + 1}>")))
        elif role in ("setup", "code") or (role is None and i < first_unit):
            imports = import_statements(source)
            if imports:
                label = f"imports of {'setup ' if role == 'setup' else ''}cell {i + 1}"
                ordered.append((i, ProgramCell(label, imports, (), i, f"<{name} imports of cell {i + 1}>")))

    by_index: dict[int, list[str]] = {}
    for grade_id, unit in found.cells.items():
        by_index.setdefault(unit.index, []).append(grade_id)
    for index, grade_ids in by_index.items():
        position = min(in_pristine.cells[g].index if g in in_pristine.cells else float("inf") for g in grade_ids)
        source = found.cells[grade_ids[0]].source
        ordered.append((position, ProgramCell(f"cell {index + 1} of {name}", source, tuple(grade_ids), index, f"<{name} cell {index + 1}>")))
    ordered.sort(key=lambda pair: pair[0])  # stable: ties keep the pristine notebook's order
    return Program([cell for _, cell in ordered], dict(found.missing), dict(found.cells))


def _bound_names(tree: ast.AST) -> set[str]:
    """Every name a piece of code binds anywhere (assignments, parameters, definitions, imports, loop targets)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)) and node.name:
            names.add(node.name)
    return names


def outside_names(notebook: Mapping, program: Program, name: str) -> list[str]:
    """Warnings for unit cells that use a name only a cell outside the program defines.

    Such a cell works in its own notebook (the other cell ran in the kernel) but not where the
    program runs alone: in a later notebook that imports it, in the build and in the grader.
    A name counts when a unit cell reads it, nothing in the cell binds it anywhere, it is not a
    builtin, no cell of the program binds it, and a code cell the student added (one without the
    build's role metadata) defines it at top level: code the course ships in plain cells is the
    course's business. A notebook whose cells all lost their metadata (Colab, VS Code) cannot
    tell the two apart and gets no warning. Returns one message per unit cell and name, e.g.
    "`affine_forward` uses `my_helper`, which FullyConnectedNets.ipynb defines outside its graded
    cells; ...".
    """
    code_cells = _code_cells(notebook)
    if not any(cell_role(cell) for _, cell in code_cells):
        return []
    program_names: set[str] = set()
    for cell in program.cells:
        tree = _parse(cell.source)
        program_names |= _bound_names(tree) if tree is not None else set()
    in_program = {cell.index for cell in program.cells if cell.units}
    elsewhere: dict[str, int] = {}
    for i, cell in code_cells:
        if i not in in_program and cell_role(cell) is None:
            for defined in defined_names(cell_source(cell)):
                elsewhere.setdefault(defined, i)
    messages = []
    for cell in program.cells:
        tree = _parse(cell.source) if cell.units else None
        if tree is None:
            continue
        read = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}
        users = ", ".join(f"`{n}`" for n in sorted(defined_names(cell.source))) or cell.label
        for missing in sorted(read - _bound_names(tree) - program_names - set(dir(builtins))):
            if missing in elsewhere:
                messages.append(f"{users} uses `{missing}`, which {name} defines outside its graded cells (cell "
                                f"{elsewhere[missing] + 1}); a later notebook (and the grader) cannot see it: "
                                f"move it into the graded cell")
    return messages


def run_program(program: Program, namespace: MutableMapping) -> dict[ProgramCell, str]:
    """Run the program's cells in order in ``namespace``; a failing cell does not stop the others.

    Each cell's source is registered with :mod:`linecache` under its file name first, so that
    tracebacks (and :func:`traceback.format_exc`) show its lines. Returns ``{cell: message}`` for
    the cells that did not parse or raised, e.g. ``"ZeroDivisionError: division by zero (line 3
    of the cell: `1 / 0`)"``.
    """
    failures: dict[ProgramCell, str] = {}
    for cell in program.cells:
        filename = cell.filename or f"<{cell.label}>"
        linecache.cache[filename] = (len(cell.source), None, cell.source.splitlines(keepends=True), filename)
        try:
            exec(compile(cell.source, filename, "exec"), namespace)
        except Exception as exc:  # a student's cell may raise anything (MemoryError from a parser bomb too)
            failures[cell] = describe_failure(exc, filename, cell.source)
    return failures


def describe_failure(exc: BaseException, filename: str, source: str) -> str:
    """``"<Error>: <message> (line N of the cell: `<that line>`)"`` for an error raised by a cell's code."""
    lineno = exc.lineno if isinstance(exc, SyntaxError) and exc.filename == filename else None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == filename:
            lineno = frame.lineno  # the innermost line of the cell itself
    message = str(exc.msg if isinstance(exc, SyntaxError) else exc)
    lines = source.splitlines()
    if lineno is None or not 1 <= lineno <= len(lines):
        return f"{type(exc).__name__}: {message}"
    return f"{type(exc).__name__}: {message} (line {lineno} of the cell: `{lines[lineno - 1].strip()}`)"
