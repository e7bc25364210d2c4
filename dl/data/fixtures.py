"""Small generated data sets in the real on-disk formats, for tests and smoke mode.

The images are scikit-learn's bundled 8×8 handwritten digits (1,797 real images, values 0..16),
enlarged and coloured, so that models trained on a fixture show real learning without any download.
Every writer is deterministic for a given seed (byte-identical files) and publishes its folder with
one atomic rename, so a concurrent reader never sees a half-written fixture. Each fixture folder
carries :data:`~dl.data.integrity.FIXTURE_MARKER`, which keeps it from being mistaken for real data.
"""
from __future__ import annotations

import gzip
import json
import os
import pickle
import shutil
import tarfile
import tempfile
from pathlib import Path

import numpy as np

from dl.data.cifar10 import CIFAR10_FOLDER, CLASSES, META_FILE, TEST_FILE, TRAIN_FILES
from dl.data.download import data_dir, get_entry
from dl.data.integrity import FIXTURE_MARKER

_README = (
    "<html><body><p>Generated CIFAR-10-format fixture for the course's tests and smoke mode. "
    "The images are enlarged, tinted 8x8 handwritten digits; label d is the digit d. "
    "This is not the CIFAR-10 data set.</p></body></html>\n"
)


def digit_images(n: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` enlarged, tinted, noisy digits as (images uint8 (n, size, size, 3), labels int64 (n,)).

    ``size`` must be a multiple of 8. Digits are drawn without replacement while ``n`` <= 1797. Each
    image gets a random shift of up to ``size // 16`` pixels, a dark random background, a foreground
    colour that depends on the class plus per-image jitter, and Gaussian noise (sigma 8).
    """
    from sklearn.datasets import load_digits  # bundled with scikit-learn: no download

    digits = load_digits()
    rng = np.random.default_rng(seed)
    index = rng.choice(len(digits.target), size=n, replace=n > len(digits.target))
    scale = size // 8
    gray = np.kron(digits.images[index] / 16.0, np.ones((scale, scale)))  # (n, size, size) in [0, 1]
    pad = size // 16
    padded = np.pad(gray, ((0, 0), (pad, pad), (pad, pad)))
    offsets = rng.integers(0, 2 * pad + 1, size=(n, 2))
    gray = np.stack([p[r : r + size, c : c + size] for p, (r, c) in zip(padded, offsets)])
    labels = digits.target[index].astype(np.int64)
    class_tint = 0.4 + 0.6 * rng.random((10, 3))
    tint = np.clip(class_tint[labels] + rng.normal(0.0, 0.15, (n, 3)), 0.2, 1.0)
    background = rng.uniform(0.0, 60.0, (n, 1, 1, 3))
    rgb = background + gray[..., None] * (255.0 - background) * tint[:, None, None, :]
    rgb += rng.normal(0.0, 8.0, rgb.shape)
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8), labels


def _dump(path: Path, obj: dict) -> None:
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)


def _batch(images: np.ndarray, labels: np.ndarray, batch_label: str, first: int) -> dict:
    """A batch dict in the CIFAR-10 layout: rows are the R, G and B planes, each row-major."""
    return {
        "batch_label": batch_label,
        "labels": [int(label) for label in labels],
        "data": np.ascontiguousarray(images.transpose(0, 3, 1, 2)).reshape(len(images), -1),
        "filenames": [f"digit_{label}_s_{first + i:06d}.png" for i, label in enumerate(labels)],
    }


def _publish(staging: Path, target: Path, replace: bool) -> None:
    """Rename ``staging`` to ``target``. An existing fixture is replaced only if ``replace``; any other
    existing folder is refused, so real data is never overwritten."""
    if target.exists():
        if not (target / FIXTURE_MARKER).exists():
            shutil.rmtree(staging)
            raise FileExistsError(f"{target} exists and is not a generated fixture; not overwriting it")
        if not replace:
            shutil.rmtree(staging)
            return
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
        os.replace(target, old / target.name)
        shutil.rmtree(old)
    try:
        os.replace(staging, target)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if not (target / FIXTURE_MARKER).exists():  # else a concurrent writer published first
            raise


def write_cifar10_fixture(
    root: str | os.PathLike, n_train: int = 600, n_test: int = 200, seed: int = 0
) -> Path:
    """Write ``root/cifar-10-batches-py/`` in the exact CIFAR-10 python format and return it.

    ``n_train`` rows are split over ``data_batch_1`` … ``data_batch_5``; ``n_test`` rows go to
    ``test_batch``; ``batches.meta``, ``readme.html`` and the fixture marker complete the folder.
    Replaces an earlier fixture in the same place; refuses to replace any other folder.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    images, labels = digit_images(n_train + n_test, 32, seed)
    staging = Path(tempfile.mkdtemp(prefix=f".{CIFAR10_FOLDER}.", dir=root))
    staging.chmod(0o755)  # mkdtemp makes it private; the published folder should not be
    starts = np.linspace(0, n_train, len(TRAIN_FILES) + 1).astype(int)
    for i, name in enumerate(TRAIN_FILES):
        lo, hi = starts[i], starts[i + 1]
        _dump(staging / name, _batch(images[lo:hi], labels[lo:hi], f"training batch {i + 1} of 5", lo))
    _dump(staging / TEST_FILE, _batch(images[n_train:], labels[n_train:], "testing batch 1 of 1", n_train))
    meta = {"label_names": list(CLASSES), "num_cases_per_batch": int(np.diff(starts).max()), "num_vis": 3072}
    _dump(staging / META_FILE, meta)
    (staging / "readme.html").write_text(_README)
    marker = {
        "generated": True,
        "by": "dl.data.fixtures.write_cifar10_fixture",
        "format": "CIFAR-10 python batches",
        "source_images": "sklearn.datasets.load_digits, enlarged to 32x32 and tinted",
        "n_train": n_train,
        "n_test": n_test,
        "seed": seed,
    }
    (staging / FIXTURE_MARKER).write_text(json.dumps(marker, indent=2) + "\n")
    target = root / CIFAR10_FOLDER
    _publish(staging, target, replace=True)
    return target


def ensure_cifar10_fixture(root: str | os.PathLike | None = None) -> Path:
    """The default CIFAR-10 fixture folder under ``root`` (default ``data_dir()/fixtures``),
    written on first use with the default sizes (600 training, 200 test rows)."""
    root = Path(root) if root is not None else data_dir() / "fixtures"
    target = root / CIFAR10_FOLDER
    if (target / FIXTURE_MARKER).exists():
        return target
    root.mkdir(parents=True, exist_ok=True)
    staging_root = Path(tempfile.mkdtemp(prefix=".fixture.", dir=root))
    try:
        written = write_cifar10_fixture(staging_root)
        _publish(written, target, replace=False)
    finally:
        shutil.rmtree(staging_root, ignore_errors=True)
    return target


def write_cifar10_archive(root: str | os.PathLike, **fixture_options) -> Path:
    """Write ``root/cifar-10-python.tar.gz`` holding a generated ``cifar-10-batches-py/`` folder.

    The archive is byte-identical for the same ``fixture_options`` (passed to
    :func:`write_cifar10_fixture`): members are sorted, owners and times are zeroed. Used to test the
    downloader.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    archive = root / get_entry("cifar10").filename
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        folder = write_cifar10_fixture(tmp, **fixture_options)
        with open(archive, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
            with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
                for path in [folder, *sorted(folder.iterdir())]:
                    info = tar.gettarinfo(path, arcname=path.relative_to(folder.parent).as_posix())
                    info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
                    info.mode = 0o755 if path.is_dir() else 0o644
                    if path.is_dir():
                        tar.addfile(info)
                    else:
                        with open(path, "rb") as f:
                            tar.addfile(info, f)
    return archive
