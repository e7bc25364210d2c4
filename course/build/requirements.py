"""What the course's own package needs, read once from the installed ``dl-course`` distribution.

The metadata is ``pyproject.toml`` as pip installed it (``run.sh`` reinstalls whenever
``pyproject.toml`` changes), so the build needs no ``pyproject.toml`` beside the course it builds
(tests build copies of the course). Used for the Colab marker (the packages a notebook may have to
install) and the students' README (what to install).
"""
from __future__ import annotations

import re
from importlib import metadata

from course.build.context import BuildError

DISTRIBUTION = "dl-course"
MODULE_NAMES = {"scikit-learn": "sklearn", "pillow": "PIL"}  # pip names whose module is named otherwise


def _metadata():
    try:
        return metadata.metadata(DISTRIBUTION)
    except metadata.PackageNotFoundError as exc:
        raise BuildError(f"the {DISTRIBUTION} distribution is not installed, so its requirements are unknown; "
                         "install the course with `pip install -e .` (run.sh does)") from exc


def dependencies() -> list[str]:
    """The pip requirements of ``dl`` (``["numpy>=1.24", ...]``), extras left out, in pyproject's order."""
    found = []
    for requirement in _metadata().get_all("Requires-Dist") or []:
        spec, _, marker = requirement.partition(";")
        if "extra" not in marker:
            found.append(spec.strip().replace(" ", ""))
    return found


def python_requirement() -> str:
    """The Python versions the course supports, in words ("3.11 or newer")."""
    requires = _metadata().get("Requires-Python") or ""
    return f"{requires[2:]} or newer" if requires.startswith(">=") else requires or "3"


def module_requirements() -> dict[str, str]:
    """Module -> pip requirement of everything ``dl`` needs (``{"sklearn": "scikit-learn>=1.3"}``)."""
    found = {}
    for spec in dependencies():
        name = re.match(r"[A-Za-z0-9._-]+", spec).group(0)
        found[MODULE_NAMES.get(name.lower(), name.replace("-", "_"))] = spec
    return found
