"""Data sets of the course: loaders for the real on-disk formats, a verifying downloader and
generated fixtures in the same formats.

Note that ``dl.data.download`` names both the downloader function (this package's attribute) and
the module holding it; import module contents with ``from dl.data.download import …``.
"""
from dl.data.cifar10 import cifar10_defaults, get_cifar10_data, load_cifar10, load_cifar10_classes
from dl.data.download import ChecksumError, DownloadError, data_dir, download, download_command
from dl.data.download.registry import REGISTRY, RemoteFile
from dl.data.fixtures import ensure_cifar10_fixture, write_cifar10_archive, write_cifar10_fixture
from dl.data.photos import course_photos

__all__ = [
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
    "get_cifar10_data",
    "load_cifar10",
    "load_cifar10_classes",
    "write_cifar10_archive",
    "write_cifar10_fixture",
]
