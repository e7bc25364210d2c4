"""Data sets of the course: loaders for the real on-disk formats, a verifying downloader and
generated fixtures in the same formats.

Note that ``dl.data.download`` names both the downloader function (this package's attribute) and
the module holding it; import module contents with ``from dl.data.download import …``.

The names that need torch (``CIFAR10``, ``cifar10_loaders``, ..., and the ``transforms`` module) are
imported on first use, so that ``import dl.data`` stays free of torch for the numpy notebooks.
"""
import importlib

from dl.data.cifar10 import cifar10_defaults, get_cifar10_data, load_cifar10, load_cifar10_classes, read_cifar10
from dl.data.download import ChecksumError, DownloadError, data_dir, download, download_command
from dl.data.download.registry import REGISTRY, RemoteFile
from dl.data.fixtures import (
    ensure_cifar10_fixture, ensure_imagenet_val_fixture, write_cifar10_archive, write_cifar10_fixture,
    write_imagenet_val_fixture,
)
from dl.data.imagenet import imagenet_class_names, load_imagenet_val
from dl.data.photos import course_photos

# name -> module that defines it, imported when the name is first used (PEP 562)
_TORCH_NAMES = {
    "CIFAR10": "dl.data.cifar10_dataset",
    "CIFAR10_MEAN": "dl.data.cifar10_dataset",
    "CIFAR10_STD": "dl.data.cifar10_dataset",
    "cifar10_loaders": "dl.data.cifar10_dataset",
    "cifar10_test_arrays": "dl.data.cifar10_dataset",
    "cifar10_transform": "dl.data.cifar10_dataset",
}


def __getattr__(name: str):
    if name == "transforms":
        return importlib.import_module("dl.data.transforms")
    if name in _TORCH_NAMES:
        return getattr(importlib.import_module(_TORCH_NAMES[name]), name)
    raise AttributeError(f"module 'dl.data' has no attribute {name!r}")


__all__ = [
    *_TORCH_NAMES,
    "REGISTRY",
    "ChecksumError",
    "DownloadError",
    "RemoteFile",
    "cifar10_defaults",
    "course_photos",
    "data_dir",
    "download",
    "download_command",
    "ensure_cifar10_fixture",
    "ensure_imagenet_val_fixture",
    "get_cifar10_data",
    "imagenet_class_names",
    "load_cifar10",
    "load_cifar10_classes",
    "load_imagenet_val",
    "read_cifar10",
    "write_cifar10_archive",
    "write_cifar10_fixture",
    "write_imagenet_val_fixture",
]
