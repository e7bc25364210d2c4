"""Submission folders and the student ids they are reported under."""
from __future__ import annotations

import os
import re
from pathlib import Path

from course.grading.plan import GradeError


def submission_folders(paths: list[Path], notebook_names: list[str], assignment: str = "") -> dict[str, Path]:
    """Student id -> submission folder; a bare notebook stands for its folder if the assignment has one notebook.

    The id is the folder's name, or its parent's when the folder is named after the assignment
    (nbgrader's layout, ``submitted/<student>/<assignment>/``). A folder that holds none of the
    notebooks, while exactly one of its subfolders does, is graded from that subfolder (an
    uploaded zip with a top folder of its own, as Gradescope unpacks it); the id stays the same.
    Raises GradeError for a path that is no submission, or two submissions with the same id.
    """
    folders: dict[str, Path] = {}
    for path in paths:
        if path.is_file() and path.suffix == ".ipynb":
            if len(notebook_names) != 1 or path.stem != notebook_names[0]:
                raise GradeError(f"{path}: pass the submission folder (it must hold {', '.join(n + '.ipynb' for n in notebook_names)})")
            path = path.parent
        if not path.is_dir():
            raise GradeError(f"{path} is not a submission folder or notebook")
        named = path.resolve()
        named = named.parent if assignment and named.name == assignment else named
        student = re.sub(r"[^A-Za-z0-9._-]", "_", named.name).lstrip(".") or "submission"
        if student in folders:
            raise GradeError(f"two submissions are both called {student!r}: {folders[student]} and {path}")
        folders[student] = _notebook_folder(path, notebook_names)
    return folders


def _notebook_folder(folder: Path, notebook_names: list[str]) -> Path:
    """``folder``, or its only subfolder holding any of the notebooks when ``folder`` holds none."""
    def holds(candidate: Path) -> bool:
        return any(os.path.lexists(candidate / f"{name}.ipynb") for name in notebook_names)
    if holds(folder):
        return folder
    inside = [sub for sub in sorted(folder.iterdir()) if sub.is_dir() and not sub.is_symlink() and holds(sub)]
    return inside[0] if len(inside) == 1 else folder
