"""The students' README of an assignment, written by the build to ``source_notebooks/<a>/README.md``.

nbgrader copies it into ``release/<a>/`` with the notebooks. It is the one template
``course/student_readme.md`` of the course, whose ``$placeholders`` (:class:`string.Template`)
are filled from what the course already states elsewhere, so the README cannot drift from it:

- ``$assignment``, ``$title``: the assignment's id and title (``course/manifest.toml``);
- ``$notebooks``: its notebooks, numbered in manifest order;
- ``$python``, ``$packages``: ``requires-python`` and the ``dependencies`` of ``pyproject.toml``,
  as installed (:mod:`course.build.requirements`)
  (the library's own; extras are the instructor's);
- ``$data``: the downloads of the data sets its checks grade on
  (:func:`autograder.checks.registry.datasets_needed`, as for the Gradescope bundle), each named
  by its ``dl.data.download`` entry, with the shell command and the Colab call;
- ``$artifacts``: the files of the saved models its units are graded from (:attr:`autograder.units.Unit.artifact_files`).
"""
from __future__ import annotations

from pathlib import Path
from string import Template

from autograder.checks.registry import datasets_needed
from autograder.datasets import DATASETS
from course.build.context import BuildError
from course.build.requirements import dependencies, python_requirement
from course.manifest import Course
from dl.data.download import download_command

TEMPLATE = Path("course") / "student_readme.md"
README = "README.md"  # its name in source_notebooks/<a>/ and release/<a>/


def student_readme(course: Course, assignment: str) -> str:
    """The README of ``assignment``, from the course's template. Raises ``BuildError`` naming the
    file when the template is missing or has an unknown placeholder."""
    template_path = course.root / TEMPLATE
    if not template_path.is_file():
        raise BuildError(f"{TEMPLATE}: not found; the build writes every assignment's README.md from it")
    notebooks = course.built_notebooks(assignment)
    units = [unit for notebook in notebooks for unit in notebook.units]
    values = {
        "assignment": assignment,
        "title": course.assignments[assignment].title,
        "notebooks": "\n".join(f"{i}. `{nb.name}.ipynb`" for i, nb in enumerate(notebooks, start=1)),
        "python": python_requirement(),
        "packages": " ".join(f'"{spec}"' for spec in dependencies()),
        "data": _data_section(units),
        "artifacts": _artifacts_section(notebooks),
    }
    try:
        return Template(template_path.read_text(encoding="utf-8")).substitute(values)
    except (KeyError, ValueError) as exc:
        raise BuildError(f"{TEMPLATE}: unknown or malformed placeholder ({exc}); it may use "
                         f"{', '.join('$' + key for key in values)}, and $$ for a dollar sign") from exc


def _data_section(units) -> str:
    needed = datasets_needed(units)
    if not needed:
        return "The notebooks of this assignment need no data to download."
    entries = dict.fromkeys(DATASETS[name].download for name in needed)  # two data sets may share a download
    commands = "\n".join(download_command(name) for name in entries)
    calls = "\n".join(f'download("{name}")' for name in entries)
    return f"""\
The notebooks read their data from `~/.cache/dl-course/data`, or from the folder that the
environment variable `DL_DATA_DIR` names. Download them once, from this folder (the download is
checked, and resumes if it is interrupted):

```bash
{commands}
```

In Colab, run this in a cell after the notebook's first cell (the data last as long as the
Colab session):

```python
from dl.data.download import download
{calls}
```

If the data are missing, a notebook stops where it loads them, with a message that gives the
same command."""


def _artifacts_section(notebooks) -> str:
    saved = [(unit.artifact_files, notebook.name) for notebook in notebooks for unit in notebook.units if unit.artifact]
    if not saved:
        return "(No notebook of this assignment saves a model.)"
    return "\n".join(f"- {' and '.join(f'`artifacts/{file}`' for file in files)}, saved by `{notebook}.ipynb`"
                      for files, notebook in saved)
