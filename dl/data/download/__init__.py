"""A verifying downloader for the files in :mod:`dl.data.download.registry`.

The downloader streams to ``<file>.part``, resumes a partial file with an HTTP ``Range`` request,
shows a progress bar, verifies the size, md5 and sha256 the registry records, renames atomically to
the final name and then extracts archives safely. A file placed by hand under its final name is verified and used without any network
access, which is how an offline machine gets its data.

Command line (see ``__main__.py``)::

    python -m dl.data.download cifar10 [--root DIR] [--url MIRROR_URL]
    python -m dl.data.download squeezenet1_1

This is a package rather than a single module so that ``python -m dl.data.download`` runs cleanly
even though ``dl.data`` imports it.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from http.client import HTTPException
from pathlib import Path, PurePosixPath

from tqdm.auto import tqdm

from dl.data.download.registry import REGISTRY, RemoteFile, get_entry

DATA_DIR_ENV = "DL_DATA_DIR"
_CHUNK = 1 << 20


class DownloadError(RuntimeError):
    """A file could not be downloaded, verified or extracted; the message says what to do."""


class ChecksumError(DownloadError):
    """A file's size, md5 or sha256 differs from the registry."""


def data_dir() -> Path:
    """The data folder: ``$DL_DATA_DIR`` if set, else ``~/.cache/dl-course/data`` (not created here)."""
    configured = os.environ.get(DATA_DIR_ENV, "").strip()
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "dl-course" / "data"


def file_hash(path: str | os.PathLike, algorithm: str = "md5") -> str:
    """Hex digest of a file (``algorithm``: a :mod:`hashlib` name), read in 1 MiB chunks."""
    digest = hashlib.new(algorithm, usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def file_md5(path: str | os.PathLike) -> str:
    """Hex md5 of a file."""
    return file_hash(path, "md5")


def download_command(name: str, root: str | os.PathLike | None = None) -> str:
    """The shell command that fetches registry entry ``name`` into ``root`` (default: data_dir())."""
    command = f"python -m dl.data.download {name}"
    if root is not None and Path(root).resolve() != data_dir().resolve():
        command += f" --root {Path(root).resolve()}"
    return command


def download(
    name: str,
    root: str | os.PathLike | None = None,
    url: str | None = None,
    progress: bool = True,
) -> Path:
    """Fetch, verify and (for archives) extract registry entry ``name`` into ``root``.

    ``root`` defaults to :func:`data_dir`; ``url`` overrides the registry location (a mirror).
    Returns the extracted folder for archives, else the file. Work already done is reused: an
    extracted folder whose members verify is returned at once, and an archive already under its final
    name (downloaded earlier or placed by hand) is verified and extracted without network access.

    Raises :class:`DownloadError` (a RuntimeError) with instructions when the network is unreachable,
    :class:`ChecksumError` when a size, md5 or sha256 (prefix) does not match, and refuses unpinned
    entries after reporting the size, md5 and sha256 that were measured.
    """
    entry = get_entry(name)
    root = Path(root) if root is not None else data_dir()
    if entry.extract_to is not None and _members_ok(root / entry.extract_to, entry):
        return root / entry.extract_to
    root.mkdir(parents=True, exist_ok=True)
    archive = root / entry.filename
    if not archive.exists():
        if not (url or entry.url):
            raise DownloadError(
                f"no download location is recorded for {entry.filename} (dl/data/download/registry.py).\n"
                f"Ask your instructor for the file, or for its location and run: "
                f"{download_command(name, root)} --url LOCATION\n"
                f"  file:      {entry.describe()}\n"
                f"  or put it at: {archive.resolve()}"
            )
        _fetch(url or entry.url, archive, entry, name, root, progress)
    else:
        _verify(archive, entry, name, root, downloaded=False)
    if not entry.pinned:
        _refuse_unpinned(archive, entry)
    if entry.extract_to is None:
        return archive
    target = root / entry.extract_to
    if not target.exists():
        _extract(archive, root, entry.extract_to)
    _verify_members(target, entry, name, root)
    return target


def _offline_message(entry: RemoteFile, name: str, root: Path, reason: str, url: str) -> str:
    return (
        f"could not download {entry.filename} from {url}: {reason}\n"
        f"If this machine is offline, copy the file here by other means:\n"
        f"  file:      {entry.describe()}\n"
        f"  put it at: {(root / entry.filename).resolve()}\n"
        f"then run:    {download_command(name, root)}"
    )


def _fetch(url: str, archive: Path, entry: RemoteFile, name: str, root: Path, progress: bool) -> None:
    """Download ``url`` to ``<archive>.part`` (resuming it), verify what the registry knows, then
    rename it to ``archive``."""
    part = archive.with_name(archive.name + ".part")
    if part.exists() and entry.size is not None and part.stat().st_size > entry.size:
        part.unlink()
    try:
        try:
            _stream(url, part, entry.size, progress)
        except urllib.error.HTTPError as exc:
            if exc.code != 416 or not part.exists():
                raise
            part.unlink()  # 416: the requested Range lies beyond the file, so start over once
            _stream(url, part, entry.size, progress)
    except (urllib.error.URLError, HTTPException, OSError) as exc:
        if isinstance(exc, urllib.error.HTTPError):
            reason = f"HTTP {exc.code} {exc.reason}"
        else:
            reason = str(getattr(exc, "reason", None) or exc)
        raise DownloadError(_offline_message(entry, name, root, reason, url)) from exc
    if entry.size is not None and part.stat().st_size < entry.size:
        raise DownloadError(
            f"the download of {entry.filename} stopped after {part.stat().st_size:,} of {entry.size:,} "
            f"bytes; run {download_command(name, root)!r} again to resume"
        )
    _verify(part, entry, name, root, downloaded=True)
    os.replace(part, archive)


def _stream(url: str, part: Path, size: int | None, progress: bool) -> None:
    """Append the rest of ``url`` to ``part`` using a Range request; restart if the server ignores it."""
    offset = part.stat().st_size if part.exists() else 0
    if size is not None and offset == size:
        return
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as response:
        if offset and response.status != 206:
            offset = 0  # the server sent the whole file: overwrite the partial one
        length = response.headers.get("Content-Length")
        total = size if size is not None else (offset + int(length) if length else None)
        with open(part, "ab" if offset else "wb") as out, tqdm(
            total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024,
            desc=part.name.removesuffix(".part"), disable=not progress,
        ) as bar:
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                bar.update(len(chunk))


def _verify(path: Path, entry: RemoteFile, name: str, root: Path, downloaded: bool) -> None:
    """Check ``path`` against what ``entry`` records of size, md5 and sha256 (a prefix of it, maybe);
    a failed download is deleted. An unpinned entry without a sha256 has nothing to check."""
    checks = []  # (expected, measured, whether they match)
    if entry.size is not None:
        size = path.stat().st_size
        checks.append((f"{entry.size:,} bytes", f"{size:,} bytes", size == entry.size))
    if entry.md5 is not None:
        md5 = file_md5(path)
        checks.append((f"md5 {entry.md5}", f"md5 {md5}", md5 == entry.md5))
    if entry.sha256 is not None:
        sha256 = file_hash(path, "sha256")
        checks.append((f"sha256 starting {entry.sha256}", f"sha256 {sha256}", sha256.startswith(entry.sha256)))
    if all(matches for _, _, matches in checks):
        return
    expected = ", ".join(text for text, _, _ in checks)
    measured = ", ".join(text for _, text, _ in checks)
    if downloaded:
        path.unlink()
        advice = f"the bad download was deleted; run {download_command(name, root)!r} again"
    else:
        advice = f"replace it with a good copy or delete it and run {download_command(name, root)!r}"
    raise ChecksumError(f"checksum mismatch for {entry.filename}: expected {expected}; got {measured}; {advice}")


def _refuse_unpinned(path: Path, entry: RemoteFile) -> None:
    """Report the measured size, md5 and sha256 of a file whose registry entry has no size or md5,
    and stop."""
    raise DownloadError(
        f"{entry.filename} is not pinned in the registry (dl/data/download/registry.py), so it cannot be "
        f"verified and is not trusted: an archive is not extracted, and loaders use nothing in it that needs "
        f"trust. Measured: {path.stat().st_size:,} bytes, md5 {file_md5(path)}, "
        f"sha256 {file_hash(path, 'sha256')}, file {path}. A maintainer who has checked this file against "
        f"its publisher should record these values in the registry."
    )


def _extract(archive: Path, root: Path, folder: str) -> None:
    """Extract ``archive`` (a tar, possibly compressed) whose members all lie in ``folder``/.

    Extraction happens in a temporary sibling folder that is renamed into place, so ``root/folder``
    either does not exist or is complete.
    """
    staging = Path(tempfile.mkdtemp(prefix=f".{folder}.", dir=root))
    try:
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                path = PurePosixPath(member.name)
                inside = not path.is_absolute() and ".." not in path.parts and path.parts[:1] == (folder,)
                if not inside or not (member.isfile() or member.isdir()):
                    raise DownloadError(f"{archive.name}: refusing unsafe archive member {member.name!r}")
            if hasattr(tarfile, "data_filter"):  # Python >= 3.10.12 / 3.11.4
                tar.extractall(staging, filter="data")
            else:  # older 3.10: the members were all vetted above (plain files and folders inside)
                tar.extractall(staging)
        if not (staging / folder).is_dir():
            raise DownloadError(f"{archive.name} does not contain the folder {folder}/")
        try:
            os.replace(staging / folder, root / folder)
        except OSError:
            if not (root / folder).is_dir():  # else another process finished first
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _bad_member(folder: Path, entry: RemoteFile) -> tuple[Path, str, str] | None:
    """The first member of ``entry`` in ``folder`` whose md5 is wrong, as (path, expected, actual)."""
    for member, expected in entry.members.items():
        path = folder / member
        actual = file_md5(path) if path.is_file() else "missing"
        if actual != expected:
            return path, expected, actual
    return None


def _members_ok(folder: Path, entry: RemoteFile) -> bool:
    """Whether ``folder`` holds every member of a pinned ``entry`` with the right md5."""
    return entry.pinned and folder.is_dir() and _bad_member(folder, entry) is None


def _verify_members(folder: Path, entry: RemoteFile, name: str, root: Path) -> None:
    bad = _bad_member(folder, entry)
    if bad is not None:
        path, expected, actual = bad
        raise ChecksumError(
            f"checksum mismatch for extracted file {path}: expected md5 {expected}, got {actual}; "
            f"delete {folder} and run {download_command(name, root)!r} again"
        )
