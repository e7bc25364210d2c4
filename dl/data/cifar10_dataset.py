"""CIFAR-10 for PyTorch: a ``torch.utils.data.Dataset`` over the python archive and the seeded
training, validation and test loaders of the PyTorch notebooks.

The data are read by :func:`dl.data.cifar10.read_cifar10` (the one CIFAR-10 reader: restricted
unpickler, checksums, the smoke-mode fixture), so everything said there holds here too. This module
is apart from :mod:`dl.data.cifar10` only because it needs torch, which the numpy notebooks do not
import.
"""
from __future__ import annotations

import copy
import os
from collections.abc import Callable

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, SubsetRandomSampler

from dl.data.cifar10 import CIFAR10_FOLDER, META_FILE, TEST_FILE, TRAIN_FILES, cifar10_defaults, read_cifar10
from dl.data.transforms import Compose, Normalize, ToTensor

# Per-channel mean and standard deviation of the training images' pixels in [0, 1], as used by
# the PyTorch notebooks (and SimCLR's test transform).
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2023, 0.1994, 0.2010)


def cifar10_transform() -> Compose:
    """The notebooks' standard transform: image -> float32 (3, 32, 32) standardised per channel.

    ``Compose([ToTensor(), Normalize(CIFAR10_MEAN, CIFAR10_STD)])``; also takes a batch (N, 32, 32, 3)
    of uint8 images and returns (N, 3, 32, 32).
    """
    return Compose([ToTensor(), Normalize(CIFAR10_MEAN, CIFAR10_STD)])


class CIFAR10(Dataset):
    """The training (50000) or test (10000) images of CIFAR-10, one ``(image, label)`` per index.

    - root: the ``cifar-10-batches-py`` folder; None: ``data_dir()/cifar-10-batches-py``, or in smoke
      mode the generated fixture (600 training and 200 test images), as for
      :func:`dl.data.cifar10_defaults`.
    - train: the five training batches (True) or the test batch (False).
    - transform: applied to each PIL image (32 x 32, RGB) by ``__getitem__``; None returns the PIL image.
    - download: fetch and verify the archive first if files are missing (``root`` must then end
      in ``cifar-10-batches-py``). Without it a missing file raises FileNotFoundError naming the
      command that fetches it.
    - smoke: smoke mode (True/False); None reads ``DL_SMOKE``.

    Attributes: ``data`` uint8 (N, 32, 32, 3), ``targets`` list of N ints in 0..9, ``classes`` the ten
    class names, ``root``, ``train``, ``transform``.
    """

    def __init__(self, root: str | os.PathLike | None = None, train: bool = True,
                 transform: Callable | None = None, download: bool = False, smoke: bool | None = None):
        self.root = cifar10_defaults(root, smoke).root
        if download and not all((self.root / name).is_file() for name in (*TRAIN_FILES, TEST_FILE, META_FILE)):
            self._download()
        images, labels, classes = read_cifar10(self.root, train, smoke)
        self.train, self.transform = train, transform
        self.data: np.ndarray = images
        self.targets: list[int] = labels.tolist()
        self.classes: list[str] = classes

    def _download(self) -> None:
        from dl.data.download import download

        if self.root.name != CIFAR10_FOLDER:
            raise ValueError(f"download=True fetches the archive that unpacks to {CIFAR10_FOLDER}/, but root is "
                             f"{self.root}; pass a root ending in {CIFAR10_FOLDER} (or its default, None)")
        download("cifar10", self.root.parent)

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> tuple[object, int]:
        """(transform(PIL image), label) of image ``index``."""
        image = Image.fromarray(self.data[index])
        return (image if self.transform is None else self.transform(image)), self.targets[index]

    def with_transform(self, transform: Callable | None) -> "CIFAR10":
        """A copy that shares this data set's arrays but applies ``transform`` (e.g. augmentation)."""
        view = copy.copy(self)
        view.transform = transform
        return view

    def __repr__(self) -> str:
        split = "training" if self.train else "test"
        return f"CIFAR10({len(self)} {split} images from {self.root}, transform={self.transform!r})"


def cifar10_loaders(
    batch_size: int = 64,
    num_train: int | None = None,
    transform: Callable | None = None,
    seed: int = 0,
    root: str | os.PathLike | None = None,
    *,
    train_transform: Callable | None = None,
    smoke: bool | None = None,
) -> tuple[DataLoader, DataLoader, DataLoader]:
    """The three loaders of the PyTorch notebooks: ``(loader_train, loader_val, loader_test)``.

    - loader_train: training images ``0 .. num_train-1`` in a random order drawn from a
      ``torch.Generator`` seeded with ``seed`` (a new order every epoch; the same sequence of
      orders for the same seed).
    - loader_val: the remaining training images ``num_train .. N-1``, in order. Its dataset is the
      training set (``loader_val.dataset.train`` is True).
    - loader_test: every test image, in order.

    Each batch is ``(images float32 (B, 3, 32, 32), labels int64 (B,))`` with B = ``batch_size``
    (the last batch may be smaller). ``transform`` (default :func:`cifar10_transform`) is applied to
    every split; ``train_transform``, if given, replaces it for loader_train only (augmentation).
    ``num_train`` None means 49000 of the real 50000 training images (500 of the fixture's 600 in
    smoke mode), as for :func:`dl.data.cifar10_defaults`. ``root`` and ``smoke`` as for
    :class:`CIFAR10`. Data are loaded in the main process (``num_workers=0``): the per-image
    transforms are cheap, and worker processes would copy a transform's generator.
    """
    transform = cifar10_transform() if transform is None else transform
    train_set = CIFAR10(root, train=True, transform=transform, smoke=smoke)
    test_set = CIFAR10(root, train=False, transform=transform, smoke=smoke)
    if num_train is None:
        num_train = cifar10_defaults(root, smoke).num_training
    if not 1 <= num_train < len(train_set):
        raise ValueError(f"num_train must leave at least one of the {len(train_set)} training images of "
                         f"{train_set.root} for validation and keep one for training; got {num_train}")
    order = SubsetRandomSampler(range(num_train), generator=torch.Generator().manual_seed(seed))
    train_view = train_set if train_transform is None else train_set.with_transform(train_transform)
    loader_train = DataLoader(train_view, batch_size=batch_size, sampler=order)
    loader_val = DataLoader(train_set, batch_size=batch_size, sampler=range(num_train, len(train_set)))
    loader_test = DataLoader(test_set, batch_size=batch_size)
    return loader_train, loader_val, loader_test


def cifar10_test_arrays(smoke: bool | None = None) -> dict[str, np.ndarray]:
    """Every CIFAR-10 test image as the PyTorch notebooks' models receive it: held-out data for grading.

    Returns ``X_test`` float32 (N, 3, 32, 32) transformed by :func:`cifar10_transform` and ``y_test``
    int64 (N,); N = 10000 (200 for smoke mode's fixture). ``smoke`` as for :class:`CIFAR10`.
    """
    test_set = CIFAR10(train=False, smoke=smoke)
    return {"X_test": cifar10_transform()(test_set.data).numpy(), "y_test": np.asarray(test_set.targets, np.int64)}
