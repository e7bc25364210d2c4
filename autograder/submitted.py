"""The files of a submission that the grader reads itself: its notebooks and saved models.

The grader reads them outside the sandbox, with the staff's rights. A symbolic link in a
submission (git and unzip both keep links) could point at the course's own files, say the
solution notebook or a trained reference model, which would then be graded as the student's
work. So the grader reads only regular files reached from the submission folder without
following a link.
"""
from __future__ import annotations

import stat
from pathlib import Path


def refusal(folder: str | Path, relative: str, max_mb: float | None = None) -> str | None:
    """Why the grader will not read ``folder/relative``, in words for the student; None if it will.

    Refused: a missing file, a symbolic link at any step below ``folder`` (``relative`` may name a
    file in a subfolder, ``artifacts/model.npz``), anything but a regular file (a folder, a FIFO,
    a device), and a file over ``max_mb`` MiB. Messages name the file by ``relative`` only, never
    by a path of the grading machine.
    """
    path, parts = Path(folder), Path(relative).parts
    for depth, part in enumerate(parts, 1):
        path = path / part
        shown = "/".join(parts[:depth])
        try:
            info = path.lstat()
        except FileNotFoundError:
            return f"{relative} is missing from your submission"
        except OSError as exc:
            return f"{shown} cannot be read ({exc.strerror})"
        if stat.S_ISLNK(info.st_mode):
            return f"{shown} is a symbolic link; the grader reads only files stored in your submission, so submit the file itself"
    if not stat.S_ISREG(info.st_mode):
        return f"{relative} is not a regular file"
    if max_mb is not None and info.st_size > max_mb * 2**20:
        return f"{relative} is over {max_mb:g} MiB"
    return None
