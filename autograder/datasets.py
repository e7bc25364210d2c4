"""Held-out data that checks grade on, by name: ``cifar10``, ``cifar10_test`` (``coco_captions``, ``mnist``, ... to follow).

A check declares the data sets it reads (``@register("...", datasets=("cifar10",))``); the
grader loads exactly those of the units it grades, once per process, before grading anyone
(:func:`autograder.grade.preload_data`), and the Gradescope bundle fetches them at set-up.
Each entry names its loader as ``"module:function"``, imported only when the data set is
loaded (a loader may need torch), and the entry of ``dl.data.download`` that fetches its files.
Adding a data set is one line in :data:`DATASETS` plus its loader and download entry in ``dl.data``.
"""
from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np

DataSource = Callable[[], Mapping[str, np.ndarray]]  # loads one data set: array name -> array


@dataclass(frozen=True)
class Dataset:
    """A data set checks can read: its loader (``"module:function"``, taking ``smoke``) and download entry."""

    loader: str
    download: str

    def load(self, smoke: bool | None = None) -> Mapping[str, np.ndarray]:
        """The data set from disk; ``smoke`` True loads smoke mode's generated stand-in, False the
        real files, None follows ``DL_SMOKE`` (as a student's kernel does)."""
        module, function = self.loader.split(":")
        return getattr(importlib.import_module(module), function)(smoke=smoke)


DATASETS: dict[str, Dataset] = {
    # The split the numpy notebooks use: X_train, y_train, X_val, y_val, X_test, y_test, float64
    # (N, 3, 32, 32) less the training split's mean image (smoke mode shrinks it).
    "cifar10": Dataset("dl.data:get_cifar10_data", "cifar10"),
    # Every test image as the PyTorch notebooks' models receive it (ToTensor, then Normalize with the
    # CIFAR-10 mean and std): X_test float32 (N, 3, 32, 32), y_test int64 (N,); N = 10000 (smoke: 200).
    # The held-back images of the accuracy checks of saved torch models (a2 challenge, SimCLR probe).
    "cifar10_test": Dataset("dl.data:cifar10_test_arrays", "cifar10"),
}


def download_command(name: str) -> str:
    """The shell command that fetches data set ``name``, e.g. ``python -m dl.data.download cifar10``."""
    from dl.data.download import download_command as command

    return command(DATASETS[name].download)


def default_sources(smoke: bool | None = None) -> dict[str, DataSource]:
    """Data set name -> the source that loads it from disk with its real loader (``smoke``: see :meth:`Dataset.load`)."""
    return {name: functools.partial(dataset.load, smoke=smoke) for name, dataset in DATASETS.items()}
