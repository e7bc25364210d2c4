"""CIFAR-10 in its standard python format: a folder ``cifar-10-batches-py/`` of pickled batches.

Each of ``data_batch_1`` … ``data_batch_5`` and ``test_batch`` is a pickled dict with ``data``, a
uint8 array (N, 3072) whose rows hold 1024 red, then 1024 green, then 1024 blue values, each plane a
32×32 image in row-major order, and ``labels``, a list of N ints in 0..9. ``batches.meta`` holds the
class names. The pickles are read with a restricted unpickler that can only rebuild numpy arrays and
plain Python values (:mod:`dl.data.safe_pickle`), and every array is validated, so a damaged file gives an error, never a wrong array.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import numpy as np

from dl.data.download import data_dir, download_command, get_entry
from dl.data.integrity import checksums_waived, verify_md5s
from dl.data.safe_pickle import restricted_load
from dl.utils import smoke_mode

CIFAR10_FOLDER = "cifar-10-batches-py"
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"
META_FILE = "batches.meta"
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
ROW_SIZE = 3 * 32 * 32


def _read_pickle(path: Path) -> object:
    with open(path, "rb") as f:
        try:
            return restricted_load(f)
        except Exception as exc:  # a damaged pickle can fail in many ways; all mean "corrupt file"
            raise ValueError(f"{path}: not a readable CIFAR-10 pickle ({type(exc).__name__}: {exc})") from exc


def _read_dict(path: Path, keys: tuple[str, ...]) -> dict:
    """The pickled dict in ``path`` with str keys (bytes keys are decoded); checks ``keys`` exist."""
    obj = _read_pickle(path)
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a pickled dict, found {type(obj).__name__}")
    obj = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}
    missing = [key for key in keys if key not in obj]
    if missing:
        raise ValueError(f"{path}: missing key(s) {', '.join(missing)}")
    return obj


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch file as (images uint8 (N, 32, 32, 3), labels int64 (N,)), fully validated."""
    batch = _read_dict(path, ("data", "labels"))
    data = batch["data"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != ROW_SIZE:
        found = f"{data.dtype} array of shape {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise ValueError(f"{path}: 'data' must be a uint8 array of shape (N, {ROW_SIZE}); found {found}")
    if not isinstance(batch["labels"], (list, tuple, np.ndarray)):
        raise ValueError(f"{path}: 'labels' must be a list of ints; found {type(batch['labels']).__name__}")
    labels = np.asarray(batch["labels"])
    if labels.size == 0:
        labels = labels.astype(np.int64)
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise ValueError(f"{path}: 'labels' must be a flat list of ints; found {labels.dtype} of shape {labels.shape}")
    if len(labels) != len(data):
        raise ValueError(f"{path}: {len(labels)} labels for {len(data)} images")
    if labels.size and (labels.min() < 0 or labels.max() >= len(CLASSES)):
        raise ValueError(f"{path}: labels must lie in 0..9; found values from {labels.min()} to {labels.max()}")
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return images, labels.astype(np.int64)


def _checked_folder(root: str | os.PathLike, smoke: bool | None) -> Path:
    """``root`` after checking every file exists and, for real data, matches the registry md5s."""
    root = Path(root)
    entry = get_entry("cifar10")
    command = download_command("cifar10", root.parent)
    for name in (*TRAIN_FILES, TEST_FILE, META_FILE):
        if not (root / name).is_file():
            raise FileNotFoundError(
                f"CIFAR-10 file not found: {root / name} (expected md5 {entry.members[name]}). "
                f"Get the data set ({entry.describe()}) with: {command}"
            )
    if not checksums_waived(root, smoke):
        verify_md5s(root, entry.members, command)
    return root


def _read_split(root: Path, train: bool) -> tuple[np.ndarray, np.ndarray]:
    """The training (``train``) or test rows of the checked folder ``root``: images uint8 (N, 32, 32, 3), labels int64 (N,)."""
    batches = [_read_batch(root / name) for name in (TRAIN_FILES if train else (TEST_FILE,))]
    return np.concatenate([images for images, _ in batches]), np.concatenate([labels for _, labels in batches])


def _read_classes(root: Path) -> list[str]:
    """The ten class names stored in ``root/batches.meta`` of the checked folder ``root``."""
    path = root / META_FILE
    names = _read_dict(path, ("label_names",))["label_names"]
    if not isinstance(names, list) or len(names) != len(CLASSES) or not all(isinstance(n, str) for n in names):
        raise ValueError(f"{path}: 'label_names' must be a list of {len(CLASSES)} strings")
    return names


def load_cifar10(root: str | os.PathLike, smoke: bool | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Load the folder ``root`` (``…/cifar-10-batches-py``); a generated fixture only in smoke mode
    (``smoke``; None reads ``DL_SMOKE``) or under pytest.

    Returns ``X_train`` float64 (N_train, 32, 32, 3), ``y_train`` int64 (N_train,), ``X_test`` float64
    (N_test, 32, 32, 3), ``y_test`` int64 (N_test,); pixel values 0..255. The real files hold 50000
    and 10000 rows. Raises FileNotFoundError (with the download command) for missing files and
    ValueError naming the file for any checksum, format or value problem.
    """
    root = _checked_folder(root, smoke)
    X_train, y_train = _read_split(root, train=True)
    X_test, y_test = _read_split(root, train=False)
    return X_train.astype(np.float64), y_train, X_test.astype(np.float64), y_test


def read_cifar10(root: str | os.PathLike, train: bool = True, smoke: bool | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """One split of the folder ``root`` as stored: the training rows (``train``) or the test rows.

    Returns ``images`` uint8 (N, 32, 32, 3) (50000 or 10000 rows for the real files), ``labels``
    int64 (N,) and the ten class names of ``batches.meta``. Checks and errors as :func:`load_cifar10`.
    """
    root = _checked_folder(root, smoke)
    images, labels = _read_split(root, train)
    return images, labels, _read_classes(root)


def load_cifar10_classes(root: str | os.PathLike) -> list[str]:
    """The ten class names stored in ``root/batches.meta`` (validated like the batches)."""
    return _read_classes(_checked_folder(root, None))


class Cifar10Defaults(NamedTuple):
    root: Path
    num_training: int
    num_validation: int
    num_test: int


def cifar10_defaults(root: str | os.PathLike | None = None, smoke: bool | None = None) -> Cifar10Defaults:
    """The one place where smoke mode affects CIFAR-10: the default folder and split sizes.

    Normally ``data_dir()/cifar-10-batches-py`` and 49000/1000/1000 rows. In smoke mode the
    generated fixture (created on first use) and 500/100/100 rows. ``smoke`` chooses the mode; None
    reads ``DL_SMOKE`` (:func:`dl.utils.smoke_mode`). An explicit ``root`` is always kept. Loading
    itself is the same in both modes.
    """
    if smoke_mode() if smoke is None else smoke:
        from dl.data.fixtures import ensure_cifar10_fixture  # fixtures builds on this module's constants

        return Cifar10Defaults(Path(root) if root is not None else ensure_cifar10_fixture(), 500, 100, 100)
    return Cifar10Defaults(Path(root) if root is not None else data_dir() / CIFAR10_FOLDER, 49000, 1000, 1000)


def get_cifar10_data(
    num_training: int | None = None,
    num_validation: int | None = None,
    num_test: int | None = None,
    subtract_mean: bool = True,
    root: str | os.PathLike | None = None,
    smoke: bool | None = None,
) -> dict[str, np.ndarray]:
    """CIFAR-10 split for the numpy classifiers, images channels-first.

    Training = rows ``[0, num_training)`` of the training files, validation = the next
    ``num_validation`` rows, test = the first ``num_test`` test rows. With ``subtract_mean`` the
    training split's mean image is subtracted from all three. Returns ``X_train`` float64
    (num_training, 3, 32, 32), ``y_train`` int64 (num_training,), and likewise ``X_val``, ``y_val``,
    ``X_test``, ``y_test``. ``None`` sizes and ``root`` take :func:`cifar10_defaults` (``smoke``: None reads ``DL_SMOKE``).
    """
    defaults = cifar10_defaults(root, smoke)
    num_training = defaults.num_training if num_training is None else num_training
    num_validation = defaults.num_validation if num_validation is None else num_validation
    num_test = defaults.num_test if num_test is None else num_test
    if num_training < 1 or num_validation < 0 or num_test < 0:
        raise ValueError(
            f"need num_training >= 1 and num_validation, num_test >= 0; "
            f"got {num_training}, {num_validation}, {num_test}"
        )
    X, y, X_test, y_test = load_cifar10(defaults.root, smoke)
    if num_training + num_validation > len(X):
        raise ValueError(
            f"asked for {num_training} training + {num_validation} validation rows, but "
            f"{defaults.root} holds only {len(X)} training rows"
        )
    if num_test > len(X_test):
        raise ValueError(f"asked for {num_test} test rows, but {defaults.root} holds only {len(X_test)}")
    split = {
        "train": (X[:num_training], y[:num_training]),
        "val": (X[num_training : num_training + num_validation], y[num_training : num_training + num_validation]),
        "test": (X_test[:num_test], y_test[:num_test]),
    }
    mean_image = split["train"][0].mean(axis=0) if subtract_mean else 0.0
    data = {}
    for name, (images, labels) in split.items():
        data[f"X_{name}"] = (images - mean_image).transpose(0, 3, 1, 2).copy()
        data[f"y_{name}"] = labels.copy()
    return data
