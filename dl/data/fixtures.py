"""Small generated data sets in the real on-disk formats, for tests and smoke mode.

CIFAR-10's images are scikit-learn's bundled 8×8 handwritten digits (1,797 real images, values
0..16), enlarged and coloured, so that models trained on a fixture show real learning without any
download. The ImageNet sample's images are crops of the two photographs scikit-learn bundles.
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
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from dl.data.cifar10 import CIFAR10_FOLDER, CLASSES, META_FILE, TEST_FILE, TRAIN_FILES
from dl.data.download import data_dir, get_entry
from dl.data.imagenet_classes import IMAGENET_CLASSES
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


def _ensure_fixture(root: str | os.PathLike | None, folder: str, write: Callable[[Path], Path]) -> Path:
    """``root/folder`` (root default ``data_dir()/fixtures``), written by ``write(staging_root)`` and
    published atomically on first use; an existing fixture there is kept."""
    root = Path(root) if root is not None else data_dir() / "fixtures"
    target = root / folder
    if (target / FIXTURE_MARKER).exists():
        return target
    root.mkdir(parents=True, exist_ok=True)
    staging_root = Path(tempfile.mkdtemp(prefix=".fixture.", dir=root))
    try:
        _publish(write(staging_root), target, replace=False)
    finally:
        shutil.rmtree(staging_root, ignore_errors=True)
    return target


def ensure_cifar10_fixture(root: str | os.PathLike | None = None) -> Path:
    """The default CIFAR-10 fixture folder under ``root`` (default ``data_dir()/fixtures``),
    written on first use with the default sizes (600 training, 200 test rows)."""
    return _ensure_fixture(root, CIFAR10_FOLDER, write_cifar10_fixture)


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


IMAGENET_FIXTURE_FOLDER = "imagenet_val"


def photo_crops(n: int, size: int, seed: int) -> np.ndarray:
    """``n`` random square crops of scikit-learn's two bundled photographs (:mod:`dl.data.photos`),
    each resized to ``size`` x ``size`` (bilinear) and mirrored at random: uint8 (n, size, size, 3).

    A crop's side is uniform in [H/2, H] of the 427 x 640 photo; photos alternate (crop i uses photo i mod 2).
    """
    from PIL import Image
    from sklearn.datasets import load_sample_images  # bundled with scikit-learn: no download

    photos = load_sample_images().images
    rng = np.random.default_rng(seed)
    crops = []
    for i in range(n):
        photo = photos[i % len(photos)]
        H, W, _ = photo.shape
        side = int(rng.integers(H // 2, H + 1))
        top, left = int(rng.integers(0, H - side + 1)), int(rng.integers(0, W - side + 1))
        square = Image.fromarray(photo[top : top + side, left : left + side])
        crop = np.asarray(square.resize((size, size), Image.Resampling.BILINEAR))
        crops.append(crop[:, ::-1] if rng.random() < 0.5 else crop)
    return np.ascontiguousarray(np.stack(crops))


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """An ``.npz`` file (a zip of ``.npy`` members) as ``np.savez`` writes it, but byte-identical for the
    same arrays: the member times are fixed. Object arrays are stored pickled, as numpy does."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            with archive.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=array.dtype.hasobject)


def write_imagenet_val_fixture(root: str | os.PathLike, num_images: int = 25, seed: int = 0) -> Path:
    """Write ``root/imagenet_val/imagenet_val_25.npz`` in the real format and return the file.

    Keys: ``X`` uint8 (num_images, 224, 224, 3) photo crops (:func:`photo_crops`), ``y`` int64
    (num_images,) class indices drawn at random (not the photos' classes), ``label_map`` a 0-d
    object array holding {index: name} for the 1000 classes of :mod:`dl.data.imagenet_classes`.
    The folder also holds the fixture marker. Replaces an earlier fixture in the same place; refuses
    to replace any other folder.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(IMAGENET_CLASSES), size=num_images).astype(np.int64)
    label_map = np.empty((), dtype=object)
    label_map[()] = dict(enumerate(IMAGENET_CLASSES))
    staging = Path(tempfile.mkdtemp(prefix=f".{IMAGENET_FIXTURE_FOLDER}.", dir=root))
    staging.chmod(0o755)
    filename = get_entry("imagenet_val").filename
    _write_npz(staging / filename, {"X": photo_crops(num_images, 224, seed), "y": labels, "label_map": label_map})
    marker = {
        "generated": True,
        "by": "dl.data.fixtures.write_imagenet_val_fixture",
        "format": "imagenet_val_25.npz (X, y, label_map)",
        "source_images": "sklearn.datasets.load_sample_images, random crops resized to 224x224",
        "labels": "drawn at random; not the classes of the photographs",
        "num_images": num_images,
        "seed": seed,
    }
    (staging / FIXTURE_MARKER).write_text(json.dumps(marker, indent=2) + "\n")
    target = root / IMAGENET_FIXTURE_FOLDER
    _publish(staging, target, replace=True)
    return target / filename


def ensure_imagenet_val_fixture(root: str | os.PathLike | None = None) -> Path:
    """The default ImageNet-sample fixture file under ``root`` (default ``data_dir()/fixtures``),
    written on first use (25 images)."""
    folder = _ensure_fixture(root, IMAGENET_FIXTURE_FOLDER, lambda staging: write_imagenet_val_fixture(staging).parent)
    return folder / get_entry("imagenet_val").filename
