"""Solution regions: the lines between ``### BEGIN SOLUTION`` and ``### END SOLUTION``.

The same markers wrap the graded bodies in ``dl/*.py`` and the solution regions of notebook
cells. nbgrader treats any line *containing* ``BEGIN SOLUTION`` as a marker, so a marker-like
line that is not exactly a marker is an error here too rather than a surprise in the release.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
MARKER_WORDS = ("BEGIN SOLUTION", "END SOLUTION")
_MARKER = re.compile(r"^(?P<indent>[ \t]*)### (?P<kind>BEGIN|END) SOLUTION[ \t]*$")


class RegionError(ValueError):
    """Unbalanced, nested or malformed solution markers; the message names the line."""


@dataclass(frozen=True)
class Region:
    """One solution region: 0-based indices of its BEGIN and END lines, and their indentation."""

    begin: int
    end: int
    indent: str

    def body(self, lines: list[str]) -> list[str]:
        """The lines strictly between the markers."""
        return lines[self.begin + 1:self.end]


def has_markers(text: str) -> bool:
    return any(word in text for word in MARKER_WORDS)


def find_regions(text: str, name: str = "the text") -> list[Region]:
    """All solution regions of ``text``, in order.

    Raises ``RegionError`` (naming ``name`` and the 1-based line) for a BEGIN inside a region, an
    END without BEGIN, a BEGIN without END, an END indented differently from its BEGIN, or a line
    that mentions a marker but is not exactly one (nbgrader would take it for one).
    """
    regions: list[Region] = []
    open_at: tuple[int, str] | None = None
    for i, line in enumerate(text.splitlines()):
        match = _MARKER.match(line)
        if match is None:
            if any(word in line for word in MARKER_WORDS):
                raise RegionError(f"{name} line {i + 1}: {line.strip()!r} mentions a solution marker but is not one; "
                                  f'a marker line is exactly "{BEGIN}" or "{END}" (indented like the code)')
            continue
        if match["kind"] == "BEGIN":
            if open_at is not None:
                raise RegionError(f"{name} line {i + 1}: {BEGIN} inside the region opened at line {open_at[0] + 1}; "
                                  "regions cannot nest")
            open_at = (i, match["indent"])
        else:
            if open_at is None:
                raise RegionError(f"{name} line {i + 1}: {END} without a {BEGIN} before it")
            if match["indent"] != open_at[1]:
                raise RegionError(f"{name} line {i + 1}: {END} is indented differently from its {BEGIN} "
                                  f"at line {open_at[0] + 1}; indent both like the code they wrap")
            regions.append(Region(open_at[0], i, open_at[1]))
            open_at = None
    if open_at is not None:
        raise RegionError(f"{name} line {open_at[0] + 1}: {BEGIN} has no {END}")
    return regions


def remove_markers(text: str, name: str = "the text") -> str:
    """``text`` without its marker lines; the solution code stays."""
    lines = text.splitlines(keepends=True)
    markers = {i for r in find_regions(text, name) for i in (r.begin, r.end)}
    return "".join(line for i, line in enumerate(lines) if i not in markers)


def replace_regions(text: str, replacements: dict[Region, str | None], name: str = "the text") -> str:
    """Rewrite each region of ``text``: ``None`` keeps its code (markers removed), a string
    replaces the whole region, markers included, by that one statement at the region's indent.

    Every line outside the regions is kept byte for byte. Regions of ``text`` missing from
    ``replacements`` raise ``KeyError``.
    """
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    position = 0
    for region in find_regions(text, name):
        out.extend(lines[position:region.begin])
        statement = replacements[region]
        if statement is None:
            out.extend(lines[region.begin + 1:region.end])
        else:
            newline = "\n" if lines[region.end].endswith("\n") else ""
            out.append(f"{region.indent}{statement}{newline}")
        position = region.end + 1
    out.extend(lines[position:])
    return "".join(out)
