"""Build the student's program from a submission: what the worker runs before any check.

The program is, in the order of the release notebook:

1. the ``import`` statements of the release's setup cells (role ``setup``; taken from the
   instructor's pristine copy, never the student's, and without the data loading or plotting);
2. the release's provided cells (role ``provide``), verbatim;

(A release whose cells lost their roles falls back as ``dl.notebook_import`` does: the imports of
the cells before the first unit, and the cells defining the notebook's ``metadata.dl.provided``.)
3. the student's cell of each graded unit, found by :func:`dl.notebook_import.find_unit_cells`
   (cell metadata first, else the names the unit defines).

Placing every unit cell where the release has it makes deleted, duplicated, reordered or
retyped cells harmless: they cost only the units they break. Cells that are not listed above
(experiments, training runs, plots, the student's own checks) never run.

A notebook that ``uses`` earlier ones (BatchNormalization imports the student's layers and
``FullyConnectedNet`` from FullyConnectedNets.ipynb) runs their programs first, in the same
namespace, as :func:`with_used_notebooks` arranges; a unit ``written_in`` an earlier notebook's
cell is graded from that cell.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Mapping, Sequence

from autograder.units import Unit
from dl.notebook_import import cell_role, cell_source, defined_names, find_unit_cells, import_statements


@dataclass(frozen=True)
class ProgramCell:
    """One cell of the program: a label for messages, its source and the units it answers."""

    label: str
    source: str
    units: tuple[str, ...] = ()


@dataclass
class Program:
    """The student's program, and per unit why it is missing or how it was found."""

    cells: list[ProgramCell] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)  # grade id -> message for the student
    notes: dict[str, str] = field(default_factory=dict)  # grade id -> remark (duplicates, lost metadata)
    as_released: set[str] = field(default_factory=set)  # grade ids whose cell is still the release's (not done yet)

    def unit_cell(self, grade_id: str) -> ProgramCell | None:
        return next((c for c in self.cells if grade_id in c.units), None)


def code_units(units: Sequence[Unit]) -> dict[str, tuple[str, ...]]:
    """Grade id -> names for the units graded from this notebook's code cells.

    Artifact units and units written in another notebook's cell are left out.
    """
    return {u.grade_id: u.names for u in units if u.names and u.written_in is None}


def build_program(release_nb: Mapping, submission_nb: Mapping, units: Sequence[Unit], notebook_name: str = "the notebook") -> Program:
    """The program of ``submission_nb`` (see the module docstring); never raises for a student's notebook.

    Inputs:
    - release_nb: the pristine release notebook (a dict from ``read_notebook``).
    - submission_nb: the student's notebook (a dict).
    - units: the notebook's graded units; artifact units are ignored here.
    - notebook_name: used in messages.
    """
    wanted = code_units(units)
    release_cells = [(i, c) for i, c in enumerate(release_nb.get("cells", [])) if isinstance(c, dict) and c.get("cell_type") == "code"]
    in_release = find_unit_cells(release_nb, wanted, "the release notebook").cells
    first_unit = min((u.index for u in in_release.values()), default=len(release_nb.get("cells", [])))
    has_roles = any(cell_role(c) for _, c in release_cells)
    meta = release_nb.get("metadata", {}).get("dl", {}) if isinstance(release_nb.get("metadata"), dict) else {}
    provided_names = set(meta.get("provided", [])) if isinstance(meta, dict) else set()

    ordered: list[tuple[float, ProgramCell]] = []
    for i, cell in release_cells:
        role = cell_role(cell)
        if role == "setup" or (not has_roles and i < first_unit):
            imports = import_statements(cell_source(cell))
            if imports:
                ordered.append((i, ProgramCell(f"imports of setup cell {i + 1}", imports)))
        elif role == "provide" or (not has_roles and provided_names and provided_names <= defined_names(cell_source(cell))):
            ordered.append((i, ProgramCell(f"provided cell {i + 1}", cell_source(cell))))

    program = Program()
    found = find_unit_cells(submission_nb, wanted, notebook_name)
    program.missing.update(found.missing)
    by_index: dict[int, list[str]] = {}
    for grade_id, unit_cell in found.cells.items():
        by_index.setdefault(unit_cell.index, []).append(grade_id)
        notes = []
        if unit_cell.duplicates:
            notes.append(f"{unit_cell.duplicates + 1} cells of your notebook define this unit; the last one was graded")
        if unit_cell.matched_by == "names":
            notes.append("its cell was found by name, as the cell's metadata was lost")
        if notes:
            program.notes[grade_id] = "; ".join(notes)
        if grade_id in in_release and unit_cell.source.strip() == in_release[grade_id].source.strip():
            program.as_released.add(grade_id)
    for index, grade_ids in by_index.items():
        position = min(in_release[g].index if g in in_release else float("inf") for g in grade_ids)
        label = f"cell {index + 1} of your notebook"
        ordered.append((position, ProgramCell(label, found.cells[grade_ids[0]].source, tuple(grade_ids))))

    ordered.sort(key=lambda pair: pair[0])  # stable: ties keep the release's order
    program.cells = [cell for _, cell in ordered]
    return program


def with_used_notebooks(program: Program, used: Sequence[tuple[str, Program | str]], units: Sequence[Unit]) -> Program:
    """The program of a notebook that uses earlier ones: their programs' cells first, then its own.

    Inputs:
    - program: this notebook's program (:func:`build_program`).
    - used: ``(file name, program)`` of each used notebook, in order; instead of a program, a
      message saying why the student's copy could not be read.
    - units: this notebook's units; one ``written_in`` a used notebook's unit is graded from the
      cell of that unit (and is missing if that cell is).
    """
    combined = Program(missing=dict(program.missing), notes=dict(program.notes), as_released=set(program.as_released))
    unreadable: list[str] = []
    used_programs: list[Program] = []
    for name, used_program in used:
        if isinstance(used_program, str):
            unreadable.append(used_program)
            continue
        used_programs.append(used_program)
        combined.cells += [replace(cell, label=f"{cell.label} ({name})") for cell in used_program.cells]
    combined.cells += program.cells

    for unit in units:
        if unit.written_in is None:
            if unreadable and unit.names:
                combined.notes[unit.grade_id] = "; ".join(filter(None, [combined.notes.get(unit.grade_id), *unreadable]))
            continue
        index = next((i for i, c in enumerate(combined.cells) if unit.written_in in c.units), None)
        if any(unit.written_in in p.as_released for p in used_programs):
            combined.as_released.add(unit.grade_id)
        if index is not None:
            cell = combined.cells[index]
            combined.cells[index] = replace(cell, units=(*cell.units, unit.grade_id))
            note = next((p.notes[unit.written_in] for p in used_programs if unit.written_in in p.notes), None)
            if note:
                combined.notes[unit.grade_id] = note
        else:
            reasons = [p.missing[unit.written_in] for p in used_programs if unit.written_in in p.missing] or unreadable
            combined.missing[unit.grade_id] = "; ".join(reasons) or f"the cell of {unit.written_in} was not found"
    return combined
