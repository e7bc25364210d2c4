"""The last guard of a release: no file under ``release/`` may carry a solution or a hidden test.

Two checks on every file:

- no marker text: ``BEGIN SOLUTION``, ``END SOLUTION``, ``BEGIN HIDDEN TESTS``,
  ``END HIDDEN TESTS`` (anywhere, in any file);
- no unrevealed reference body: for each solution region of ``dl`` that the release of that
  folder's assignment does not reveal, its lines, normalised (comments and all whitespace
  removed, blank lines dropped), must not appear as a consecutive run of normalised lines of
  the file (for notebooks: of its cells' sources and text outputs).

Files outside an assignment's folder are scanned as if nothing were revealed. A third check keeps
anything else out: an assignment's folder may hold only its notebooks, the ``.py`` files of its
``dl/``, the reference files its notebooks' check cells declare (``reference_file("<name>",
...)``, :mod:`course.build.reference_files`), the students' ``README.md``
(:mod:`course.build.student_readme`) and the Colab marker file (:data:`dl.colab.MARKER`). A
trained model or a data file written beside a
source notebook is refused, and so is any by-product of running code in ``release/``
(``__pycache__``, ``.ipynb_checkpoints``): the scan reports them rather than deleting them, since
they mean the folder is no longer exactly what was built (``dl-course release`` replaces it).
"""
from __future__ import annotations

import json
from pathlib import Path

from course.build.pipeline import BYPRODUCTS, ignored_by_release
from course.build.reference_files import declared_files
from course.build.student_readme import README
from course.build.stub_solutions import dl_folder, dl_sources, owned_regions
from course.manifest import Course
from dl.colab import MARKER

FORBIDDEN = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")


def normalize(line: str) -> str:
    """A line without its comment and without any whitespace ("" for blank and comment lines)."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#":
            line = line[:i]
            break
    return "".join(line.split())


def normalized_text(lines: list[str]) -> str:
    """Normalised non-empty lines joined by newlines, framed by newlines for whole-line matching."""
    kept = [n for n in map(normalize, lines) if n]
    return "\n" + "\n".join(kept) + "\n"


def secret_blocks(course: Course, revealed: set[str]) -> list[tuple[str, str]]:
    """(description, normalised block) of each region of ``dl`` a release revealing ``revealed`` must not ship."""
    folder = dl_folder()
    sources = dl_sources(folder)
    blocks = []
    for owned in owned_regions(course, sources, folder):
        if owned.unit is not None and owned.notebook.assignment in revealed:
            continue
        body = owned.region.body(sources[owned.path].splitlines())
        block = normalized_text(body).strip("\n")
        if block:
            who = owned.unit.grade_id if owned.unit else owned.function or "no unit"
            blocks.append((f"the solution of {who} (dl/{owned.path} line {owned.region.begin + 1})", block))
    return blocks


def file_lines(path: Path, text: str) -> list[str]:
    """The lines of a file to compare with solutions; a notebook contributes its cells' text."""
    if path.suffix == ".ipynb":
        try:
            nb = json.loads(text)
        except json.JSONDecodeError:
            return text.splitlines()
        lines: list[str] = []
        for cell in nb.get("cells", []):
            for chunk in [cell.get("source", "")] + [o.get("text", "") for o in cell.get("outputs", [])]:
                lines += ("".join(chunk) if isinstance(chunk, list) else str(chunk)).splitlines()
        return lines
    return text.splitlines()


def scan_leaks(release_dir: str | Path, course: Course) -> list[str]:
    """Every leak found under ``release_dir``, one message each (empty: the release is clean)."""
    release_dir = Path(release_dir)
    if not release_dir.is_dir():
        return []
    cache: dict[frozenset, list[tuple[str, str]]] = {}
    problems = []
    for path in sorted(p for p in release_dir.rglob("*") if p.is_file()):
        rel = path.relative_to(release_dir)
        assignment = course.assignments.get(rel.parts[0]) if len(rel.parts) > 1 else None
        revealed = frozenset(assignment.reveals if assignment else ())
        if revealed not in cache:
            cache[revealed] = secret_blocks(course, set(revealed))
        text = path.read_bytes().decode("utf-8", errors="replace")
        shown = f"release/{rel.as_posix()}"
        for word in FORBIDDEN:
            if word in text:
                problems.append(f"{shown}: contains {word!r}")
        haystack = normalized_text(file_lines(path, text))
        for description, block in cache[revealed]:
            if f"\n{block}\n" in haystack:
                problems.append(f"{shown}: contains {description}")
        if ignored_by_release(rel.parts, BYPRODUCTS):
            problems.append(f"{shown}: a by-product of running code in release/ (bytecode, checkpoints); "
                            "run `dl-course release` again, which replaces the folder")
        elif not _expected_file(rel, course):
            problems.append(f"{shown}: not a notebook of the assignment, a module of its dl/, one of its reference files, "
                            f"its {README} or its {MARKER}")
    return problems


def _expected_file(rel: Path, course: Course) -> bool:
    """Whether ``release/<rel>`` may exist: ``<a>/<Notebook>.ipynb``, ``<a>/dl/**.py``, ``<a>/<reference file>``
    ``<a>/README.md`` or ``<a>/<MARKER>``."""
    if len(rel.parts) < 2 or rel.parts[0] not in course.assignments:
        return False
    if len(rel.parts) == 2:
        if rel.suffix == ".ipynb":
            return rel.stem in course.assignments[rel.parts[0]].notebooks
        return rel.name in (README, MARKER) or rel.name in _reference_files(course, rel.parts[0])
    return rel.parts[1] == "dl" and rel.suffix == ".py"


def _reference_files(course: Course, assignment: str) -> set[str]:
    """The names of the reference files the notebooks of ``assignment`` declare."""
    names: set[str] = set()
    for notebook in course.built_notebooks(assignment):
        source = course.root / notebook.source
        if source.is_file():
            names |= declared_files(source.read_text(encoding="utf-8"))
    return names
