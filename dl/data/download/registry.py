"""The registry of the course's real data files: name, size, md5, archive members and location.

This is the only place where download locations are written. An entry whose size and md5 are not yet
known is *unpinned*: the downloader will fetch it but never treats it as verified. A maintainer pins
it after checking a download against its publisher. An entry without a location is fetched from the
``--url`` the instructor gives, or placed by hand. Adding a data set or a weights file means adding
an entry; data sets and pretrained weights are kept in separate blocks below.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping


@dataclass(frozen=True)
class RemoteFile:
    """One downloadable file of the registry.

    ``size`` (bytes) and ``md5`` are ``None`` while the entry is *unpinned*: the maintainer has not
    yet recorded them from a verified download, so the downloader will fetch the file but refuses to
    treat it as verified. ``url`` is ``None`` where no location is recorded (the instructor passes
    one, or the file is placed by hand). For archives, ``extract_to`` is the folder the archive
    creates and ``members`` maps paths inside that folder to their md5. ``sha256`` is the file's
    sha256 in hex, or only its first digits where that is all the publisher gives (pretrained weights
    files name the first 8 in their file name); the file's sha256 must start with it, pinned or not.
    """

    filename: str
    url: str | None = None
    size: int | None = None
    md5: str | None = None
    extract_to: str | None = None
    members: Mapping[str, str] = field(default_factory=dict)
    sha256: str | None = None

    @property
    def pinned(self) -> bool:
        return self.size is not None and self.md5 is not None

    def describe(self) -> str:
        """``name (N bytes, md5 X)``, or a note that the entry has no checksum yet."""
        if not self.pinned:
            facts = "no size or checksum pinned yet" + (f"; sha256 starts {self.sha256}" if self.sha256 else "")
            return f"{self.filename} ({facts})"
        sha256 = f", sha256 {self.sha256}" if self.sha256 else ""
        return f"{self.filename} ({self.size:,} bytes, md5 {self.md5}{sha256})"


REGISTRY: dict[str, RemoteFile] = {
    "cifar10": RemoteFile(
        filename="cifar-10-python.tar.gz",
        url="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        size=170_498_071,
        md5="c58f30108f718f92721af3b95e74349a",
        extract_to="cifar-10-batches-py",
        members={
            "data_batch_1": "c99cafc152244af753f735de768cd75f",
            "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
            "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
            "data_batch_4": "634d18415352ddfa80567beed471001a",
            "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
            "test_batch": "40351d587109b95175f43aff81a1287e",
            "batches.meta": "5ff9c542aee3614f3951f8cda6e48888",
        },
    ),
    # 25 ImageNet validation images (CURRICULUM §7.5). Unpinned: its size and md5 are recorded at the
    # first verified download. The file is distributed by the course that first used it; the
    # instructor records the location here or passes it with --url.
    "imagenet_val": RemoteFile(filename="imagenet_val_25.npz"),
}


# Pretrained weights: plain state dicts, loaded by dl.models.pretrained.load_published_state.
WEIGHTS: dict[str, RemoteFile] = {
    # SqueezeNet 1.1 ImageNet weights (CURRICULUM §8), about 4.7 MB. The publisher names each file
    # after the first 8 hex digits of its sha256, and gives no size, md5 or full sha256; so the
    # entry pins that prefix (checked on every download and use) and is otherwise *unpinned* (§7):
    # the downloader fetches the file, checks the prefix, then refuses to use it and prints its
    # size, md5 and sha256 until a maintainer has checked a download and recorded them here.
    "squeezenet1_1": RemoteFile(
        filename="squeezenet1_1-b8a52dc0.pth",
        url="https://download.pytorch.org/models/squeezenet1_1-b8a52dc0.pth",
        sha256="b8a52dc0",
    ),
}
REGISTRY.update(WEIGHTS)


def get_entry(name: str) -> RemoteFile:
    """The registry entry ``name``; ValueError listing the known names otherwise."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown data set {name!r}; known: {', '.join(sorted(REGISTRY))}") from None
