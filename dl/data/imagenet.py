"""The ImageNet validation sample ``imagenet_val_25.npz`` and the 1000 ImageNet class names.

The file is an ``.npz`` archive with three arrays (CURRICULUM §7.5):

- ``X``: uint8 (25, 224, 224, 3), RGB images;
- ``y``: int (25,), their class indices in 0..999;
- ``label_map``: a 0-d object array holding a dict {class index: class name} for the 1000 classes.

``X`` and ``y`` are plain arrays, read with ``allow_pickle=False``. ``label_map`` is a pickle, so it
is read only from a file that can be trusted — one whose md5 matches the registry, or a generated
fixture in smoke mode or under pytest — and then only by the restricted unpickler of
:mod:`dl.data.safe_pickle`. Any other file's names are replaced by the class names bundled with
``dl`` (:func:`imagenet_class_names`), which list the same classes in the same order. No global
setting of numpy is changed.
"""
from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from dl.data.download import data_dir, download_command, file_md5, get_entry
from dl.data.imagenet_classes import IMAGENET_CLASSES
from dl.data.integrity import checksums_waived
from dl.data.safe_pickle import restricted_load
from dl.utils import smoke_mode

NUM_CLASSES = len(IMAGENET_CLASSES)


def imagenet_class_names() -> list[str]:
    """The names of the 1000 ImageNet classes, by class index (0 "tench", ..., 999 "toilet tissue").

    Bundled with ``dl`` (:mod:`dl.data.imagenet_classes`); needs no file.
    """
    return list(IMAGENET_CLASSES)


def imagenet_val_path(smoke: bool | None = None) -> Path:
    """Where :func:`load_imagenet_val` looks by default: ``data_dir()/imagenet_val_25.npz``, or in
    smoke mode (``smoke``; None reads ``DL_SMOKE``) the generated fixture, written on first use."""
    if smoke_mode() if smoke is None else smoke:
        from dl.data.fixtures import ensure_imagenet_val_fixture  # fixtures builds on the class names

        return ensure_imagenet_val_fixture()
    return data_dir() / get_entry("imagenet_val").filename


def load_imagenet_val(
    num: int | None = None, path: str | os.PathLike | None = None, smoke: bool | None = None
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The first ``num`` images of the ImageNet validation sample (all if None) and the class names.

    Returns ``X`` uint8 (num, 224, 224, 3), ``y`` int64 (num,) and ``class_names``, a list of 1000
    strings (``class_names[y[i]]`` names image i). ``path`` defaults to :func:`imagenet_val_path`
    (``smoke`` as there). The names come from the file's ``label_map`` when the file can be trusted
    (see the module docstring), else from :func:`imagenet_class_names`. Raises FileNotFoundError
    naming the download command for a missing file, and ValueError naming the file for a checksum,
    format or value problem, or a generated fixture used outside smoke mode and the tests.
    """
    path = Path(path) if path is not None else imagenet_val_path(smoke)
    entry = get_entry("imagenet_val")
    if not path.is_file():
        raise FileNotFoundError(f"ImageNet validation sample not found: {path} ({entry.describe()}). "
                                f"Get it with: {download_command('imagenet_val', path.parent)}")
    trusted = _trusted(path, smoke)
    X, y = _read_images(path)
    if num is None:
        num = len(X)
    if not 1 <= num <= len(X):
        raise ValueError(f"num must be between 1 and {len(X)}, the number of images in {path}; got {num}")
    class_names = _read_label_map(path) if trusted else imagenet_class_names()
    return X[:num], y[:num], class_names


def _trusted(path: Path, smoke: bool | None) -> bool:
    """Whether ``path``'s pickled ``label_map`` may be read: a generated fixture in smoke mode or under
    pytest, or a file matching a pinned registry entry. ValueError for a file that does not match
    its pinned entry, and (from :func:`checksums_waived`) for a fixture anywhere else."""
    if checksums_waived(path.parent, smoke):
        return True
    entry = get_entry("imagenet_val")
    if not entry.pinned:
        return False
    size, md5 = path.stat().st_size, file_md5(path)
    if (size, md5) != (entry.size, entry.md5):
        raise ValueError(f"{path}: {size:,} bytes, md5 {md5}, differs from the expected {entry.describe()}; the file is "
                         f"damaged or not the published one. Delete it and run: "
                         f"{download_command('imagenet_val', path.parent)}")
    return True


def _read_images(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``X`` uint8 (N, H, W, 3) and ``y`` int64 (N,) of the file, validated; no pickle is read."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [key for key in ("X", "y") if key not in archive.files]
            if missing:
                raise ValueError(f"missing array(s) {', '.join(missing)} (found: {', '.join(archive.files)})")
            X, y = archive["X"], archive["y"]
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise ValueError(f"{path}: not a readable imagenet_val_25.npz ({type(exc).__name__}: {exc})") from exc
    if X.dtype != np.uint8 or X.ndim != 4 or X.shape[-1] != 3:
        raise ValueError(f"{path}: X must be a uint8 array of shape (N, H, W, 3); found {X.dtype} of shape {X.shape}")
    if y.dtype.kind not in "iu" or y.shape != (len(X),):
        raise ValueError(f"{path}: y must be {len(X)} integer labels, one per image; found {y.dtype} of shape {y.shape}")
    if y.size and (y.min() < 0 or y.max() >= NUM_CLASSES):
        raise ValueError(f"{path}: labels must lie in 0..{NUM_CLASSES - 1}; found values from {y.min()} to {y.max()}")
    return X, y.astype(np.int64)


def _read_label_map(path: Path) -> list[str]:
    """The class names of the file's ``label_map`` (a 0-d object array holding {index: name}), read
    with the restricted unpickler and validated."""
    try:
        with zipfile.ZipFile(path) as archive, archive.open("label_map.npy") as member:
            version = np.lib.format.read_magic(member)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            _, _, dtype = read_header(member)
            if not dtype.hasobject:
                raise ValueError(f"it holds a {dtype} array, not the pickled dict")
            label_map = restricted_load(member)  # numpy stores an object array as a pickle after the header
    except Exception as exc:  # a damaged or hostile member fails in many ways; all mean "unusable"
        raise ValueError(f"{path}: label_map is not readable ({type(exc).__name__}: {exc})") from exc
    names = label_map.item() if isinstance(label_map, np.ndarray) and label_map.shape == () else None
    valid = (isinstance(names, dict) and len(names) == NUM_CLASSES
             and all(isinstance(key, (int, np.integer)) for key in names)
             and set(map(int, names)) == set(range(NUM_CLASSES))
             and all(isinstance(name, str) for name in names.values()))
    if not valid:
        raise ValueError(f"{path}: label_map must be a 0-d object array holding a dict of "
                         f"{NUM_CLASSES} class names keyed 0..{NUM_CLASSES - 1}")
    return [names[i] for i in range(NUM_CLASSES)]
