"""Read a jupytext percent source (``course/<a>/<Notebook>.py``) into a notebook.

The ``key="value"`` pairs of a ``# %%`` header arrive in ``cell.metadata`` (jupytext puts them
there; a header it cannot parse arrives as ``incorrectly_encoded_metadata``). jupytext's own
layout keys are dropped, and so is the notebook metadata of the source: the build writes its own.
jupytext does not say where a cell started, so this module finds the ``# %%`` lines itself.
"""
from __future__ import annotations

import re

import jupytext
from nbformat import NotebookNode

# Keys jupytext adds to record the layout of the text file; they mean nothing in the notebook.
LAYOUT_KEYS = {"lines_to_next_cell", "cell_marker", "title", "region_name", "comment_magics", "cell_depth"}
CELL_HEADER = re.compile(r"^#\s?%%(?!%)")


def read_source(text: str) -> tuple[NotebookNode, list[int | None]]:
    """Parse ``text`` (py:percent) and return the notebook and each cell's header line (1-based).

    A cell before the first ``# %%`` line (code at the very top) gets ``None``, as do all cells
    when the count of header lines does not match the cells (a ``# %%`` inside a string, say).
    """
    nb = jupytext.reads(text, fmt="py:percent")
    nb.metadata = NotebookNode()
    for cell in nb.cells:
        for key in LAYOUT_KEYS & set(cell.metadata):
            del cell.metadata[key]
    headers = [i + 1 for i, line in enumerate(text.splitlines()) if CELL_HEADER.match(line)]
    lines: list[int | None]
    if len(headers) == len(nb.cells):
        lines = list(headers)
    elif len(headers) + 1 == len(nb.cells):
        lines = [None, *headers]
    else:
        lines = [None] * len(nb.cells)
    return nb, lines
