"""Serialise a built notebook deterministically, and write it only where it changed.

The text depends on nothing but the notebook: nbformat's JSON layout (sorted keys, one-space
indent), sources split into lines, no outputs or execution counts, a final newline. Rebuilding
from the same sources therefore gives byte-identical files, which is what ``--check`` compares.
"""
from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat import NotebookNode


def notebook_text(nb: NotebookNode) -> str:
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    text = nbformat.writes(nb, version=4)
    return text if text.endswith("\n") else text + "\n"


def write_if_changed(path: Path, data: str | bytes) -> bool:
    """Write ``data`` (text is written as UTF-8) to ``path`` (creating folders) unless it already holds
    exactly that; True if written."""
    data = data.encode("utf-8") if isinstance(data, str) else data
    if path.is_file() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return True
