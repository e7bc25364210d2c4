"""The course manifest (``course/manifest.toml``, format in docs/authoring.md), read once, typed.

:func:`read_manifest` is the only reader of the file: it parses the TOML and returns a
:class:`Course` of :class:`Assignment`, :class:`Notebook`, :class:`~autograder.units.Unit` and
:class:`~autograder.units.Question` objects, after checking the structure (keys, types, grade ids,
limits). Every problem found is reported at once, in one :class:`ManifestError` whose lines name
the file, the table (with its line for units) and the fix. The course tooling adds what needs the
course around the file (references that import, sources that exist, cross-references) through
``validate`` (:func:`course.manifest.load_manifest`); the autograder needs none of that and does
not import the ``course`` package. By default the file is found beside this package, at
``<repository>/course/manifest.toml``; every function takes another path for a grader installed
elsewhere.
"""
from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from autograder.units import Question, Unit

MANIFEST = Path("course") / "manifest.toml"
DEFAULT_MANIFEST = Path(__file__).resolve().parents[1] / MANIFEST
GRADE_ID = re.compile(r"^[A-Za-z0-9_-]+$")
REFERENCE = re.compile(r"^(?P<module>[A-Za-z_][\w.]*):(?P<name>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)?)$")

_COURSE_KEYS = {"id"}
_ASSIGNMENT_KEYS = {"title", "notebooks", "reveals"}
_NOTEBOOK_KEYS = {"assignment", "short", "planned", "uses", "units", "questions"}
_UNIT_KEYS = {"grade_id", "points", "reference", "artifact", "checks", "written_in", "time_limit_s", "memory_mb"}
_QUESTION_KEYS = {"grade_id", "points"}

Problem = Callable[[str, str], None]  # problem(where, message) records one problem
Validator = Callable[["Course", Problem, dict[str, str]], None]  # (course, problem, grade id -> where its unit is)


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

    def unit(self, grade_id: str) -> Unit | None:
        """The unit with ``grade_id`` in any notebook, or None."""
        return next((u for nb in self.notebooks.values() for u in nb.units if u.grade_id == grade_id), None)


def read_manifest(path: str | os.PathLike | None = None,
                  validate: Validator | None = None) -> Course:
    """Read ``path`` (default: :data:`DEFAULT_MANIFEST`) into a :class:`Course`.

    Checks: required keys and their types, no unknown keys, grade ids made of letters, digits,
    ``_`` and ``-``, each unit with a ``reference`` (``"module:name"`` or ``"module:Class.method"``),
    an ``artifact`` or both (a torch model rebuilt by the builder), ``written_in`` only on code units, positive
    ``time_limit_s`` and ``memory_mb``. ``validate(course, problem, locations)`` may add problems
    of its own (``locations`` maps each unit's grade id to where it is, line included, for its
    messages); all of them are raised together in one ManifestError. The course root is the folder above
    the manifest's folder.
    """
    path = Path(path) if path is not None else DEFAULT_MANIFEST
    label = f"{path.parent.name}/{path.name}"
    if not path.is_file():
        raise ManifestError(f"{label}: not found under {path.parent.parent}; run from the course root or pass --root")
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
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
    locations: dict[str, str] = {}
    notebooks = _load_notebooks(_table(data.get("notebooks"), "[notebooks]", problem), _header_lines(text), locations, problem)
    course = Course(course_id, path.resolve().parent.parent, assignments, notebooks)
    if validate is not None:
        validate(course, problem, locations)
    if problems:
        raise ManifestError(f"{len(problems)} problem(s) in the manifest:\n" + "\n".join(problems))
    return course


def read_units(manifest: str | os.PathLike | None = None) -> dict[str, list[Unit]]:
    """Notebook name -> its graded units, in manifest order (see :func:`read_manifest`)."""
    return {name: nb.units for name, nb in read_manifest(manifest).notebooks.items()}


def find_unit(grade_id: str, manifest: str | os.PathLike | None = None) -> Unit:
    """The unit with ``grade_id``; raises KeyError naming it when the manifest has no such unit."""
    unit = read_manifest(manifest).unit(grade_id)
    if unit is None:
        raise KeyError(f"the course manifest has no graded unit {grade_id!r}")
    return unit


def _header_lines(text: str) -> dict[str, list[int]]:
    """``[[table.array]]`` header -> the line numbers (1-based) where it occurs, in order."""
    lines: dict[str, list[int]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        match = re.match(r"^\s*\[\[\s*([^\]]+?)\s*\]\]", line)
        if match:
            lines.setdefault(re.sub(r"\s+", "", match[1]), []).append(number)
    return lines


def _check_keys(table: dict, allowed: set[str], where: str, problem: Problem) -> None:
    for unknown in sorted(set(table) - allowed):
        problem(where, f'has an unknown key "{unknown}"; allowed keys are {", ".join(sorted(allowed))}')


def _table(value, where: str, problem: Problem) -> dict:
    if value is None:
        problem(where, "is missing")
        return {}
    if not isinstance(value, dict):
        problem(where, f"must be a table, got {type(value).__name__}")
        return {}
    return value


def _string_list(value, where: str, name: str, problem: Problem) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problem(where, f'{name} must be a list of strings, e.g. {name} = ["a1"]')
        return []
    return list(value)


def _load_assignments(tables: dict, problem: Problem) -> dict[str, Assignment]:
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


def _load_notebooks(tables: dict, header_lines: dict[str, list[int]], locations: dict[str, str],
                    problem: Problem) -> dict[str, Notebook]:
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
        unit_lines = header_lines.get(f"notebooks.{name}.units", [])
        for i, unit_table in enumerate(_array(table.get("units", []), f"notebooks.{name}.units", problem)):
            line = f"line {unit_lines[i]}, " if i < len(unit_lines) else ""
            unit = _load_unit(unit_table, f"{line}[[notebooks.{name}.units]] #{i + 1}", problem)
            if unit is not None:
                units.append(unit)
                locations.setdefault(unit.grade_id, f'{line}[[notebooks.{name}.units]] #{i + 1} (grade_id "{unit.grade_id}")')
        questions = [
            _load_question(question_table, f"[[notebooks.{name}.questions]] #{i + 1}", problem)
            for i, question_table in enumerate(_array(table.get("questions", []), f"notebooks.{name}.questions", problem))
        ]
        notebooks[name] = Notebook(name, assignment, short, units, questions, planned, uses)
    return notebooks


def _array(value, key: str, problem: Problem) -> list:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        problem(f"[{key}]", f"must be an array of tables, written [[{key}]]")
        return []
    return value


def _points(table: dict, where: str, problem: Problem) -> float:
    points = table.get("points")
    if isinstance(points, bool) or not isinstance(points, (int, float)) or points < 0:
        problem(where, "needs points = <a number >= 0>, e.g. points = 2")
        return 0
    return points


def _grade_id(table: dict, where: str, problem: Problem) -> str:
    grade_id = table.get("grade_id")
    if not isinstance(grade_id, str):
        problem(where, 'needs grade_id = "...", e.g. grade_id = "a1-fc-affine_forward"')
        return ""
    if not GRADE_ID.match(grade_id):
        problem(where, f"has grade_id \"{grade_id}\" with characters other than letters, digits, '_' and '-'; "
                       "rename it (nbgrader and file names need that charset)")
    return grade_id


def _limit(table: dict, key: str, kind: type, example: str, where: str, problem: Problem):
    """The optional positive limit ``key`` of a unit (``kind`` int or float), or None."""
    value = table.get(key)
    if value is None:
        return None
    allowed = (int, float) if kind is float else (int,)
    if isinstance(value, bool) or not isinstance(value, allowed) or value <= 0:
        problem(where, f"has {key} = {value!r}; it must be a positive {'number' if kind is float else 'whole number'}, "
                       f"e.g. {key} = {example}, or be left out for the grader's default")
        return None
    return kind(value)


def _load_unit(table: dict, where: str, problem: Problem) -> Unit | None:
    _check_keys(table, _UNIT_KEYS, where, problem)
    grade_id = _grade_id(table, where, problem)
    if grade_id:
        where = f'{where} (grade_id "{grade_id}")'
    points = _points(table, where, problem)
    checks = table.get("checks", [])
    if not isinstance(checks, list) or not all(isinstance(c, str) for c in checks):
        problem(where, 'has checks that are not a list of check names, e.g. checks = ["affine_forward"]')
        checks = []
    time_limit_s = _limit(table, "time_limit_s", float, "120", where, problem)
    memory_mb = _limit(table, "memory_mb", int, "4096", where, problem)
    reference, artifact, written_in = table.get("reference"), table.get("artifact"), table.get("written_in")
    if written_in is not None and (not isinstance(written_in, str) or reference is None):
        problem(where, 'has written_in, which needs a code unit (reference = "dl.module:name") and the grade id '
                       'of the unit whose cell holds its code, e.g. written_in = "a1-fc-FullyConnectedNet"')
        written_in = None
    if reference is None and artifact is None:
        problem(where, 'needs reference = "dl.module:name" (a code unit), artifact = "<name>" (a saved model), or both '
                       '(a code unit graded from the torch model that its builder, the reference, rebuilds)')
        return None
    if artifact is not None and (not isinstance(artifact, str) or not GRADE_ID.match(artifact)):
        problem(where, 'has an artifact that is not a file stem of letters, digits, \'_\' and \'-\', e.g. artifact = "a1_best_fc"')
        return None
    if reference is not None and (not isinstance(reference, str) or not REFERENCE.match(reference)):
        problem(where, f'has reference {reference!r}, which is not "module:name" of a top-level object or '
                       '"module:Class.method"; write e.g. reference = "dl.layers:affine_forward"')
        return None
    return Unit(grade_id, points, tuple(checks), reference, artifact, written_in, time_limit_s, memory_mb)


def _load_question(table: dict, where: str, problem: Problem) -> Question:
    _check_keys(table, _QUESTION_KEYS, where, problem)
    grade_id = _grade_id(table, where, problem)
    if grade_id:
        where = f'{where} (grade_id "{grade_id}")'
    return Question(grade_id, _points(table, where, problem))
