"""Pickle-free artifact files: arrays in an ``.npz`` and everything else in a JSON beside it.

An artifact called ``name`` is two files in a folder (``artifacts/`` by default):

- ``<name>.npz``: the named numpy arrays, written with ``np.savez`` and read back with
  ``np.load(allow_pickle=False)``, so loading never executes code;
- ``<name>.json``: ``{"meta": <your JSON-serialisable dict>, "arrays": [sorted array names]}``.

Both are written to temporary files first and renamed into place, so an interrupted save never
leaves a half-written artifact behind. They get the permissions of any new file (``0o666`` less
the process's umask), so a course staff member or a grader running as another user can read
them where the umask allows. The grader reads trained weights from these files.
"""
from __future__ import annotations

import json
import os
import secrets
import zipfile
from pathlib import Path

import numpy as np

DEFAULT_DIR = Path("artifacts")


def _atomic_write(path: Path, write) -> None:
    """Call ``write(fileobj)`` on a temporary file beside ``path`` and rename it onto ``path``.

    The temporary file is created with mode ``0o666``, which the kernel narrows by the umask as
    for any new file (``tempfile.mkstemp`` would make it ``0o600``, private to its owner).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(8)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def save(name: str, directory: str | os.PathLike = DEFAULT_DIR, meta: dict | None = None, **arrays) -> Path:
    """Save numpy arrays (keyword arguments) and a JSON ``meta`` dict as artifact ``name``.

    Returns the path of the ``.npz`` file. Raises ``TypeError`` for a value that is not an array
    of numbers or for meta that JSON cannot encode, before anything is written.
    """
    clean = {}
    for key, value in arrays.items():
        array = np.asarray(value)
        if array.dtype == object:
            raise TypeError(f"artifact {name!r}: array {key!r} has dtype object; only numeric arrays can be saved")
        clean[key] = array
    meta_text = json.dumps({"meta": meta or {}, "arrays": sorted(clean)}, indent=2, sort_keys=True)
    directory = Path(directory)
    npz_path = directory / f"{name}.npz"
    _atomic_write(npz_path, lambda f: np.savez(f, **clean))
    _atomic_write(directory / f"{name}.json", lambda f: f.write(meta_text.encode()))
    return npz_path


def array_bytes(npz_path: str | os.PathLike) -> int:
    """The memory the arrays of an ``.npz`` file take once loaded, read from its headers alone.

    Counts both what each member's numpy header claims (``np.load`` allocates that) and the
    member's declared uncompressed size (a compressed member of zeros is tiny on disk and huge
    in memory). Raises ``ValueError`` for a file that is not an ``.npz`` of plain ``.npy`` arrays.
    """
    try:
        with zipfile.ZipFile(npz_path) as archive:
            total = 0
            for info in archive.infolist():
                with archive.open(info) as member:
                    version = np.lib.format.read_magic(member)
                    if version not in ((1, 0), (2, 0)):
                        raise ValueError(f"{info.filename} has .npy format version {version}")
                    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                    shape, _, dtype = read_header(member)
                total += max(int(np.prod(shape, dtype=object)) * dtype.itemsize, info.file_size)
            return total
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ValueError(f"{Path(npz_path).name} is not an .npz archive of arrays ({exc})") from exc


def load(name: str, directory: str | os.PathLike = DEFAULT_DIR, *, max_bytes: int | None = None) -> tuple[dict[str, np.ndarray], dict]:
    """Load artifact ``name``; returns ``(arrays, meta)``.

    ``max_bytes`` bounds the memory the arrays may take (:func:`array_bytes`), checked before any
    array is read: a grader loading files it did not write sets it. Raises ``FileNotFoundError``
    naming the missing file, and ``ValueError`` when the two files disagree, the ``.json`` is not
    the dict :func:`save` writes, the ``.npz`` is over ``max_bytes`` or cannot be read without
    pickles.
    """
    directory = Path(directory)
    npz_path, json_path = directory / f"{name}.npz", directory / f"{name}.json"
    for path in (npz_path, json_path):
        if not path.is_file():
            raise FileNotFoundError(f"artifact file {path} is missing; run the cell that saves {name!r} first")
    try:
        info = json.loads(json_path.read_text())
        size = array_bytes(npz_path)
        if max_bytes is not None and size > max_bytes:
            raise ValueError(f"its arrays take {size / 2**20:,.0f} MiB in memory, over the {max_bytes / 2**20:,.0f} MiB limit")
        with np.load(npz_path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (ValueError, OSError, RecursionError) as exc:  # RecursionError: absurdly nested JSON
        raise ValueError(f"artifact {name!r} in {directory} cannot be read: {exc}") from exc
    if not isinstance(info, dict) or not isinstance(info.get("meta"), dict):
        raise ValueError(f"artifact {name!r}: {json_path.name} is not a saved artifact's description (a dict with 'meta'); save it again")
    if sorted(arrays) != info.get("arrays"):
        raise ValueError(f"artifact {name!r}: {npz_path.name} holds {sorted(arrays)} but {json_path.name} lists {info.get('arrays')}")
    return arrays, info["meta"]
