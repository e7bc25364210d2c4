"""Graded units read from the course manifest (``course/manifest.toml``, format in docs/authoring.md).

The autograder does not import the ``course`` package: it reads the TOML file itself. By default
the file is found beside this package, at ``<repository>/course/manifest.toml``; every function
takes another path for a grader installed elsewhere.
"""
from __future__ import annotations

import os
import tomllib
from pathlib import Path

from autograder.units import Unit

DEFAULT_MANIFEST = Path(__file__).resolve().parents[1] / "course" / "manifest.toml"


def read_units(manifest: str | os.PathLike | None = None) -> dict[str, list[Unit]]:
    """Notebook name -> its graded units, in manifest order. Raises FileNotFoundError naming the file."""
    path = Path(manifest) if manifest is not None else DEFAULT_MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"course manifest {path} not found; pass the path of course/manifest.toml")
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    result: dict[str, list[Unit]] = {}
    for notebook, spec in data.get("notebooks", {}).items():
        result[notebook] = [
            Unit(grade_id=u["grade_id"], points=float(u["points"]), checks=tuple(u.get("checks", ())),
                 reference=u.get("reference"), artifact=u.get("artifact"), written_in=u.get("written_in"))
            for u in spec.get("units", [])
        ]
    return result


def read_uses(manifest: str | os.PathLike | None = None) -> dict[str, list[str]]:
    """Notebook name -> the earlier notebooks whose graded code it runs (its ``uses`` list)."""
    path = Path(manifest) if manifest is not None else DEFAULT_MANIFEST
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    return {notebook: list(spec.get("uses", [])) for notebook, spec in data.get("notebooks", {}).items()}


def find_unit(grade_id: str, manifest: str | os.PathLike | None = None) -> Unit:
    """The unit with ``grade_id``; raises KeyError naming it when the manifest has no such unit."""
    for units in read_units(manifest).values():
        for unit in units:
            if unit.grade_id == grade_id:
                return unit
    raise KeyError(f"the course manifest has no graded unit {grade_id!r}")
