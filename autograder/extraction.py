"""Build the student's program from a submission: what the worker runs before any check.

The cells are chosen by :func:`dl.program.assemble`, the rules the student's kernel and the build
share: the imports of the release's setup cells and its provided cells (from the instructor's
pristine copy, never the student's), and the student's cell of each graded unit, found by
metadata or by the names the unit defines, placed where the release has it. Deleted, duplicated,
reordered or retyped cells therefore cost only the units they break, and nothing else of the
student's (experiments, training runs, plots, their own checks) ever runs.

What this module adds is what the grader tells the student: a note per unit whose cell was a
duplicate or found by name, the units whose cell is still as released, and the cell labels of the
feedback (``cell 7 of your notebook``).

A notebook that ``uses`` earlier ones (BatchNormalization imports the student's layers and
``FullyConnectedNet`` from FullyConnectedNets.ipynb) runs their programs first, in the same
namespace, as :func:`with_used_notebooks` arranges; a unit ``written_in`` an earlier notebook's
cell is graded from that cell.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Mapping, Sequence

from autograder.units import Unit
from dl import program as assembly
from dl.program import ProgramCell

__all__ = ["Program", "ProgramCell", "build_program", "code_units", "with_used_notebooks"]


@dataclass
class Program(assembly.Program):
    """The student's program (:class:`dl.program.Program`) with what the grader reports on it."""

    notes: dict[str, str] = field(default_factory=dict)  # grade id -> remark (duplicates, lost metadata)
    as_released: set[str] = field(default_factory=set)  # grade ids whose cell is still the release's (not done yet)


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
    - notebook_name: the notebook's file name, used in messages.
    """
    wanted = code_units(units)
    assembled = assembly.assemble(submission_nb, wanted, notebook_name, pristine=release_nb)
    released = assembly.find_unit_cells(release_nb, wanted, notebook_name).cells
    cells = [replace(cell, label=f"cell {cell.index + 1} of your notebook") if cell.units else cell for cell in assembled.cells]
    program = Program(cells, assembled.missing, assembled.found)
    for grade_id, found in assembled.found.items():
        notes = []
        if found.duplicates:
            notes.append(f"{found.duplicates + 1} cells of your notebook define this unit; the last one was graded")
        if found.matched_by == "names":
            notes.append("its cell was found by name, as the cell's metadata was lost")
        if notes:
            program.notes[grade_id] = "; ".join(notes)
        if grade_id in released and found.source.strip() == released[grade_id].source.strip():
            program.as_released.add(grade_id)
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
