"""The course manifest (``course/manifest.toml``): assignments, notebooks, graded units, reveals.

:func:`load_manifest` reads the file with :mod:`tomllib` and returns a :class:`Course`. Every
problem found is reported at once, in one :class:`ManifestError` whose lines name the file, the
key and the fix. The format is documented in ``docs/authoring.md``.
"""
from __future__ import annotations

import importlib
import inspect
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from autograder.units import Question, Unit

MANIFEST = Path("course") / "manifest.toml"
GRADE_ID = re.compile(r"^[A-Za-z0-9_-]+$")
REFERENCE = re.compile(r"^(?P<module>[A-Za-z_][\w.]*):(?P<name>[A-Za-z_]\w*)$")

_COURSE_KEYS = {"id"}
_ASSIGNMENT_KEYS = {"title", "notebooks", "reveals"}
_NOTEBOOK_KEYS = {"assignment", "short", "planned", "uses", "units", "questions"}
_UNIT_KEYS = {"grade_id", "points", "reference", "artifact", "checks", "written_in"}
_QUESTION_KEYS = {"grade_id", "points"}


class ManifestError(ValueError):
    """The manifest is missing, is not TOML, or breaks the format; the message lists every problem."""


@dataclass(frozen=True)
class Notebook:
    """One notebook of an assignment, with its graded units and written questions.

    ``source`` is the jupytext source relative to the course root
    (``course/<assignment>/<name>.py``). Planned notebooks have no source yet; the build skips them.
    ``uses`` names earlier notebooks of the same assignment whose graded code this one runs (it
    imports them with ``dl.notebook_import``; the build and the grader run their cells first).
    """

    name: str
    assignment: str
    short: str
    units: list[Unit] = field(default_factory=list)
    questions: list[Question] = field(default_factory=list)
    planned: bool = False
    uses: list[str] = field(default_factory=list)

    @property
    def source(self) -> Path:
        return Path("course") / self.assignment / f"{self.name}.py"

    @property
    def output(self) -> Path:
        """The generated nbgrader source notebook, relative to the course root."""
        return Path("source_notebooks") / self.assignment / f"{self.name}.ipynb"

    def unit(self, grade_id: str) -> Unit | None:
        return next((u for u in self.units if u.grade_id == grade_id), None)

    def question(self, grade_id: str) -> Question | None:
        return next((q for q in self.questions if q.grade_id == grade_id), None)


@dataclass(frozen=True)
class Assignment:
    """An assignment: its notebooks in order and the assignments whose solutions it reveals."""

    id: str
    title: str
    notebooks: list[str]
    reveals: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Course:
    """The whole manifest. ``root`` is the course root (the folder holding ``course/``)."""

    id: str
    root: Path
    assignments: dict[str, Assignment]
    notebooks: dict[str, Notebook]

    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST

    def built_notebooks(self, assignment: str | None = None) -> list[Notebook]:
        """Notebooks that have a source (not planned), in manifest order, optionally of one assignment."""
        names = [n for a in self.assignments.values() if assignment in (None, a.id) for n in a.notebooks]
        return [self.notebooks[n] for n in names if not self.notebooks[n].planned]


def resolve_reference(reference: str):
    """Import the object named by ``"module:name"`` (e.g. ``"dl.layers:affine_forward"``).

    Raises ``ValueError`` with a one-line reason when the string is malformed, the module is not
    part of ``dl``, cannot be imported, or lacks the name.
    """
    match = REFERENCE.match(reference)
    if match is None:
        raise ValueError(f'"{reference}" is not "module:name" (e.g. "dl.layers:affine_forward")')
    module_name, name = match["module"], match["name"]
    if module_name != "dl" and not module_name.startswith("dl."):
        raise ValueError(f'"{reference}" is outside the dl package; references name objects in dl/')
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f'module {module_name} of "{reference}" cannot be imported ({exc})') from exc
    if not hasattr(module, name):
        raise ValueError(f'module {module_name} has no "{name}"')
    return getattr(module, name)


def load_manifest(root: str | Path = ".") -> Course:
    """Read and validate ``<root>/course/manifest.toml``.

    Checks: required keys and their types, no unknown keys, grade ids made of letters, digits,
    ``_`` and ``-`` and unique in the course, each unit with exactly one of ``reference`` and
    ``artifact``, references that import to a function or class defined in ``dl`` (not checked
    for planned notebooks, whose code may not exist yet), reveals naming other existing
    assignments, every notebook listed by exactly one assignment (the one it names), and a source
    file for every notebook that is not planned.
    """
    root = Path(root).resolve()
    path = root / MANIFEST
    label = MANIFEST.as_posix()
    if not path.is_file():
        raise ManifestError(f"{label}: not found under {root}; run from the course root or pass --root")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(f"{label}: not valid TOML ({exc}); fix the syntax") from exc

    problems: list[str] = []

    def problem(where: str, message: str) -> None:
        problems.append(f"{label}: {where} {message}")

    course_table = _table(data.get("course"), "[course]", problem)
    _check_keys(course_table, _COURSE_KEYS, "[course]", problem)
    course_id = course_table.get("id")
    if not isinstance(course_id, str) or not GRADE_ID.match(course_id):
        problem("[course]", 'needs id = "<letters, digits, _ or ->", e.g. id = "dl-course"')
        course_id = ""
    for unknown in sorted(set(data) - {"course", "assignments", "notebooks"}):
        problem(f"[{unknown}]", "is an unknown table; the manifest has [course], [assignments.<id>] and [notebooks.<name>]")

    assignments = _load_assignments(_table(data.get("assignments"), "[assignments]", problem), problem)
    notebooks = _load_notebooks(_table(data.get("notebooks"), "[notebooks]", problem), problem)
    _check_cross_references(root, assignments, notebooks, problem)
    if problems:
        raise ManifestError(f"{len(problems)} problem(s) in the manifest:\n" + "\n".join(problems))
    return Course(course_id, root, assignments, notebooks)


def _check_keys(table: dict, allowed: set[str], where: str, problem) -> None:
    for unknown in sorted(set(table) - allowed):
        problem(where, f'has an unknown key "{unknown}"; allowed keys are {", ".join(sorted(allowed))}')


def _table(value, where: str, problem) -> dict:
    if value is None:
        problem(where, "is missing")
        return {}
    if not isinstance(value, dict):
        problem(where, f"must be a table, got {type(value).__name__}")
        return {}
    return value


def _string_list(value, where: str, name: str, problem) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problem(where, f'{name} must be a list of strings, e.g. {name} = ["a1"]')
        return []
    return list(value)


def _load_assignments(tables: dict, problem) -> dict[str, Assignment]:
    assignments: dict[str, Assignment] = {}
    for aid, table in tables.items():
        where = f"[assignments.{aid}]"
        if not isinstance(table, dict):
            problem(where, "must be a table")
            continue
        _check_keys(table, _ASSIGNMENT_KEYS, where, problem)
        if not GRADE_ID.match(aid):
            problem(where, "has an id with characters other than letters, digits, '_' and '-'; rename it")
        title = table.get("title")
        if not isinstance(title, str) or not title:
            problem(where, 'needs title = "..."')
            title = ""
        notebooks = _string_list(table.get("notebooks"), where, "notebooks", problem)
        reveals = _string_list(table.get("reveals", []), where, "reveals", problem)
        assignments[aid] = Assignment(aid, title, notebooks, reveals)
    return assignments


def _load_notebooks(tables: dict, problem) -> dict[str, Notebook]:
    notebooks: dict[str, Notebook] = {}
    for name, table in tables.items():
        where = f"[notebooks.{name}]"
        if not isinstance(table, dict):
            problem(where, "must be a table")
            continue
        _check_keys(table, _NOTEBOOK_KEYS, where, problem)
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name):
            problem(where, "has a name that is not an identifier (letters, digits, '_'); rename it")
        assignment = table.get("assignment")
        if not isinstance(assignment, str):
            problem(where, 'needs assignment = "<assignment id>", e.g. assignment = "a1"')
            assignment = ""
        short = table.get("short")
        if not isinstance(short, str) or not GRADE_ID.match(short):
            problem(where, 'needs short = "<letters, digits, _ or ->" (used in grade ids), e.g. short = "fc"')
            short = ""
        planned = table.get("planned", False)
        if not isinstance(planned, bool):
            problem(where, "has planned that is not true or false")
            planned = False
        uses = _string_list(table.get("uses", []), where, "uses", problem)
        units = []
        for i, unit_table in enumerate(_array(table.get("units", []), f"notebooks.{name}.units", problem)):
            unit = _load_unit(unit_table, f"[[notebooks.{name}.units]] #{i + 1}", planned, problem)
            if unit is not None:
                units.append(unit)
        questions = [
            _load_question(question_table, f"[[notebooks.{name}.questions]] #{i + 1}", problem)
            for i, question_table in enumerate(_array(table.get("questions", []), f"notebooks.{name}.questions", problem))
        ]
        notebooks[name] = Notebook(name, assignment, short, units, questions, planned, uses)
    return notebooks


def _array(value, key: str, problem) -> list:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        problem(f"[{key}]", f"must be an array of tables, written [[{key}]]")
        return []
    return value


def _points(table: dict, where: str, problem) -> float:
    points = table.get("points")
    if isinstance(points, bool) or not isinstance(points, (int, float)) or points < 0:
        problem(where, "needs points = <a number >= 0>, e.g. points = 2")
        return 0
    return points


def _grade_id(table: dict, where: str, problem) -> str:
    grade_id = table.get("grade_id")
    if not isinstance(grade_id, str):
        problem(where, 'needs grade_id = "...", e.g. grade_id = "a1-fc-affine_forward"')
        return ""
    if not GRADE_ID.match(grade_id):
        problem(where, f"has grade_id \"{grade_id}\" with characters other than letters, digits, '_' and '-'; "
                       "rename it (nbgrader and file names need that charset)")
    return grade_id


def _load_unit(table: dict, where: str, planned: bool, problem) -> Unit | None:
    _check_keys(table, _UNIT_KEYS, where, problem)
    grade_id = _grade_id(table, where, problem)
    if grade_id:
        where = f'{where} (grade_id "{grade_id}")'
    points = _points(table, where, problem)
    checks = table.get("checks", [])
    if not isinstance(checks, list) or not all(isinstance(c, str) for c in checks):
        problem(where, 'has checks that are not a list of check names, e.g. checks = ["affine_forward"]')
        checks = []
    reference, artifact, written_in = table.get("reference"), table.get("artifact"), table.get("written_in")
    if written_in is not None and (not isinstance(written_in, str) or reference is None):
        problem(where, 'has written_in, which needs a code unit (reference = "dl.module:name") and the grade id '
                       'of the unit whose cell holds its code, e.g. written_in = "a1-fc-FullyConnectedNet"')
        written_in = None
    if (reference is None) == (artifact is None):
        problem(where, 'needs exactly one of reference = "dl.module:name" (a code unit) and artifact = "<name>" (a saved file)')
        return None
    if artifact is not None and (not isinstance(artifact, str) or not GRADE_ID.match(artifact)):
        problem(where, 'has an artifact that is not a file stem of letters, digits, \'_\' and \'-\', e.g. artifact = "a1_best_fc"')
        return None
    if reference is not None:
        if not isinstance(reference, str) or not REFERENCE.match(reference):
            problem(where, f'has reference {reference!r}, which is not "module:name" of a top-level object; '
                           'write e.g. reference = "dl.layers:affine_forward"')
            return None
        if not planned:  # a planned notebook's code may not exist yet
            try:
                obj = resolve_reference(reference)
            except ValueError as exc:
                problem(where, f"has a reference that does not resolve: {exc}; fix the reference or the dl module")
            else:
                defined_in = getattr(obj, "__module__", None) or ""
                if not (inspect.isfunction(obj) or inspect.isclass(obj)):
                    problem(where, f'has reference "{reference}" naming a {type(obj).__name__}; '
                                   "a unit's reference is a function or class")
                elif defined_in != "dl" and not defined_in.startswith("dl."):
                    problem(where, f'has reference "{reference}" to an object defined in {defined_in}, not in dl; '
                                   "reference the dl module that defines it")
    return Unit(grade_id, points, tuple(checks), reference, artifact, written_in)


def _load_question(table: dict, where: str, problem) -> Question:
    _check_keys(table, _QUESTION_KEYS, where, problem)
    grade_id = _grade_id(table, where, problem)
    if grade_id:
        where = f'{where} (grade_id "{grade_id}")'
    return Question(grade_id, _points(table, where, problem))


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
