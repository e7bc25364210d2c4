"""Replace each ``reference_value(<expr>)`` in a check cell by the literal value of ``<expr>``.

A check cell is executed once, at build time, in a fresh namespace holding what the reference
solution needs and nothing else: the program of the notebook as :func:`dl.program.assemble`
chooses it for the student's kernel and the grader too (the import statements of its setup cell,
never its data loading or training; its provided cells; the answer cells of its code units, here
with their reference bodies), first that of each notebook it ``uses``, then its own. Each
``reference_value(...)`` call records the value of its argument; the call's text is then replaced
by :func:`course.build.literals.to_literal` of it (rounded to the documented precision, so that
every machine writes the same digits), found by the call's position in the ``ast``, so the rest of
the cell is left exactly as written. A literal written with ``np`` or ``torch`` needs the notebook
to import that module under that name. Check cells also write large expected values to files
with ``reference_file(...)`` (:mod:`course.build.reference_files`).
"""
from __future__ import annotations

import ast
import contextlib
import io

from nbformat import NotebookNode

from course.build.assign_roles import assign_roles
from course.build.context import BuildContext, BuildError, role
from course.build.inline_references import inline_references
from course.build.read_source import read_source
from course.build.literals import MODULES, LiteralError, rounded, to_literal, used_names
from course.build.reference_files import MARKER as FILE_MARKER
from course.build.reference_files import check_name as check_file_name
from course.build.reference_files import file_arrays, load_expression, npz_bytes
from dl.program import assemble, run_program

MARKER = "reference_value"
_RECORD = "__dl_build_record__"


def compute_expected_values(nb: NotebookNode, ctx: BuildContext) -> NotebookNode:
    for index, cell in enumerate(nb.cells):
        if role(cell) == "check" and (MARKER in cell.source or FILE_MARKER in cell.source):
            namespace = reference_namespace(nb, ctx)
            cell.source = substitute_reference_values(cell.source, namespace, ctx.where(index), ctx.files)
    return nb


def reference_namespace(nb: NotebookNode, ctx: BuildContext) -> dict:
    """A fresh ``__main__``-like namespace with the reference code of the used notebooks, then this one's."""
    namespace: dict = {"__name__": "__main__"}
    for name in ctx.notebook.uses:
        used_nb, used_ctx = _reference_cells(ctx.course.notebooks[name], ctx)
        _run_reference_cells(used_nb, used_ctx, namespace)
    _run_reference_cells(nb, ctx, namespace)
    return namespace


def _reference_cells(notebook, ctx: BuildContext) -> tuple[NotebookNode, BuildContext]:
    """A used notebook's source with roles assigned and references inlined (the build's first steps)."""
    used = BuildContext(ctx.course, notebook)
    if not used.source_path.is_file():
        raise BuildError(f"{ctx.source}: uses {notebook.name}, whose source {used.source} does not exist")
    nb, used.lines = read_source(used.source_path.read_text(encoding="utf-8"))
    return inline_references(assign_roles(nb, used), used), used


def _run_reference_cells(nb: NotebookNode, ctx: BuildContext, namespace: dict) -> None:
    """Run the program of ``nb`` (:func:`dl.program.assemble`, as the kernel and the grader do) into ``namespace``.

    Its code units' cells hold the reference bodies here; a failing cell is an error of the course.
    """
    units = {u.grade_id: u.names for u in ctx.notebook.units if u.reference is not None and u.written_in is None}
    program = assemble(nb, units, ctx.source)
    if program.missing:
        raise BuildError(f"{ctx.source}: {'; '.join(program.missing.values())}")
    for cell, error in run_program(program, namespace).items():
        what = "the import statements of" if cell.label.startswith("imports") else "the reference code of"
        raise BuildError(f"{ctx.where(cell.index)}: running {what} this cell to compute expected values failed: {error}")


def substitute_reference_values(source: str, namespace: dict, where: str, files: dict[str, bytes] | None = None) -> str:
    """Run ``source`` in ``namespace`` and return it with every ``reference_value(expr)`` replaced.

    Each ``reference_file(name, key=expr, ...)`` call is replaced by the expression that loads the
    file, and the file's bytes are added to ``files`` under ``name``. Raises ``BuildError``
    (naming ``where`` and the line in the cell) when the cell does not parse, a call is malformed
    or nested, a call never runs or gives different values on different runs (in a loop), the
    cell raises, a value cannot be written as a literal or a file, or a file name is already in
    ``files``.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise BuildError(f"{where}: line {exc.lineno} of the check cell does not parse ({exc.msg})") from exc
    calls = _find_calls(tree, where)
    tight = _operands(tree)  # before the calls are rewritten for recording
    values: dict[int, list] = {i: [] for i in range(len(calls))}

    def record(i: int, value):
        if calls[i].func.id == FILE_MARKER:
            value = file_arrays(value)  # what the notebook will read back from the file
            values[i].append(value)
            return dict(value)
        values[i].append(rounded(value))  # a copy: the cell may change the object afterwards
        return value

    namespace[_RECORD] = record
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(_Recorder(calls).visit(tree), where, "exec"), namespace)
    except LiteralError as exc:
        raise BuildError(f"{where}: cannot write a reference file: {exc}") from exc
    except Exception as exc:  # the check cell's own failure, reported with its location
        raise BuildError(f"{where}: the check cell raised {type(exc).__name__}: {exc} while computing its "
                         "expected values with the reference; check cells must be self-contained "
                         "(seed and build their inputs) and use only imports, provided and graded code") from exc

    lines = source.splitlines(keepends=True)
    replacements = []
    for i, call in enumerate(calls):
        marker = call.func.id
        line = f"{where}, line {call.lineno} of the cell"
        if not values[i]:
            raise BuildError(f"{line}: {marker}(...) never ran; move it out of the branch that is skipped")
        first = lines[call.lineno - 1]
        indent = first[:len(first) - len(first.lstrip())]
        try:
            if marker == FILE_MARKER:
                written = {npz_bytes(v) for v in values[i]}
            else:
                written = {to_literal(v, indent) for v in values[i]}
        except LiteralError as exc:
            raise BuildError(f"{line}: cannot write the value of {marker}(...) into the notebook: {exc}") from exc
        if len(written) > 1:
            raise BuildError(f"{line}: {marker}(...) ran {len(values[i])} times with different values "
                             "(in a loop?); compute one value per call")
        if marker == FILE_MARKER:
            name = call.args[0].value
            if files is None or name in files:
                raise BuildError(f"{line}: {name} is already written by another reference_file(...) call of "
                                 "this assignment; give each file one call and its own name")
            files[name] = written.pop()
            literal = load_expression(name)
        else:
            literal = written.pop()
        _check_modules(literal, namespace, line)
        if literal.startswith("-") and id(call) in tight:
            literal = f"({literal})"  # -1.0 ** 2 would not mean (-1.0) ** 2
        replacements.append((call, literal))

    for call, literal in sorted(replacements, key=lambda r: (r[0].lineno, r[0].col_offset), reverse=True):
        start = _offset(lines, call.lineno, call.col_offset)
        end = _offset(lines, call.end_lineno, call.end_col_offset)
        text = "".join(lines)
        lines = (text[:start] + literal + text[end:]).splitlines(keepends=True)
    return "".join(lines)


def _check_modules(literal: str, namespace: dict, line: str) -> None:
    """The notebook must import the modules a literal is written with (``np``, ``torch``) under those names."""
    for name in sorted(used_names(literal) & MODULES.keys()):
        module = namespace.get(name)
        if getattr(module, "__name__", None) != MODULES[name]:
            raise BuildError(f"{line}: the expected value is written as {literal[:40]}..., which needs "
                             f"`import {MODULES[name]}{'' if name == MODULES[name] else ' as ' + name}` in the "
                             "notebook's setup cell; add it there")


def _find_calls(tree: ast.Module, where: str) -> list[ast.Call]:
    markers = (MARKER, FILE_MARKER)
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in markers]
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in markers and not any(node is c.func for c in calls):
            form = "(<expression>)" if node.id == MARKER else '("<name>.npz", key=<expression>, ...)'
            raise BuildError(f"{where}, line {node.lineno} of the cell: {node.id} is only valid as a call, {node.id}{form}")
    for call in calls:
        at = f"{where}, line {call.lineno} of the cell"
        if call.func.id == MARKER and (len(call.args) != 1 or call.keywords or isinstance(call.args[0], ast.Starred)):
            raise BuildError(f"{at}: reference_value takes exactly one expression, reference_value(<expression>)")
        if call.func.id == FILE_MARKER:
            name = call.args[0].value if len(call.args) == 1 and isinstance(call.args[0], ast.Constant) else None
            if name is None or not call.keywords or any(k.arg is None for k in call.keywords):
                raise BuildError(f"{at}: reference_file takes the file name as a string and the values as "
                                 "keywords, reference_file(\"<name>.npz\", key=<expression>, ...)")
            problem = check_file_name(name)
            if problem:
                raise BuildError(f"{at}: {problem}")
        inner = [n for n in ast.walk(call) if n in calls and n is not call]
        if inner:
            raise BuildError(f"{where}, line {inner[0].lineno} of the cell: {inner[0].func.id}(...) inside "
                             f"{call.func.id}(...); use one call")
    return sorted(calls, key=lambda c: (c.lineno, c.col_offset))


def _operands(tree: ast.Module) -> set[int]:
    """ids of the nodes that are operands of an operator, attribute access or subscript."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp):
            found |= {id(node.left), id(node.right)}
        elif isinstance(node, ast.UnaryOp):
            found.add(id(node.operand))
        elif isinstance(node, (ast.Attribute, ast.Subscript)):
            found.add(id(node.value))
    return found


class _Recorder(ast.NodeTransformer):
    """Rewrites call number i into ``__dl_build_record__(i, expr)``: ``reference_value(expr)`` as it is,
    ``reference_file(name, k=expr, ...)`` with ``expr`` the dict ``{"k": expr, ...}``."""

    def __init__(self, calls: list[ast.Call]):
        self.index = {id(c): i for i, c in enumerate(calls)}

    def visit_Call(self, node: ast.Call):
        self.generic_visit(node)
        if id(node) not in self.index:
            return node
        if node.func.id == FILE_MARKER:
            value = ast.Dict([ast.Constant(k.arg) for k in node.keywords], [k.value for k in node.keywords])
        else:
            value = node.args[0]
        new = ast.Call(ast.Name(_RECORD, ast.Load()), [ast.Constant(self.index[id(node)]), value], [])
        return ast.fix_missing_locations(ast.copy_location(new, node))


def _offset(lines: list[str], lineno: int, col: int) -> int:
    """Character offset in the joined text of (1-based line, UTF-8 byte column) as ``ast`` reports it."""
    before = sum(len(line) for line in lines[:lineno - 1])
    return before + len(lines[lineno - 1].encode("utf-8")[:col].decode("utf-8"))
