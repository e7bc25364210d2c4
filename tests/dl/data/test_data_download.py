"""The downloader, against a loopback HTTP server serving a generated CIFAR-10 archive."""
from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import tarfile
import threading
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest

from dl.data import (
    REGISTRY, ChecksumError, DownloadError, RemoteFile, data_dir, download, load_cifar10,
    write_cifar10_archive, write_cifar10_fixture,
)
from dl.data.download import file_md5, get_entry
from dl.data.download.__main__ import main

FIXTURE_SIZE = {"n_train": 40, "n_test": 10}
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def archive(tmp_path_factory) -> SimpleNamespace:
    """A generated archive and the md5s of the files it extracts to (same generator, same bytes)."""
    path = write_cifar10_archive(tmp_path_factory.mktemp("archive"), **FIXTURE_SIZE)
    folder = write_cifar10_fixture(tmp_path_factory.mktemp("members"), **FIXTURE_SIZE)
    members = {name: file_md5(folder / name) for name in REGISTRY["cifar10"].members}
    return SimpleNamespace(path=path, payload=path.read_bytes(), md5=file_md5(path), members=members)


@pytest.fixture
def server(archive):
    """A loopback HTTP server for the archive that honours (or, if told, ignores) Range requests."""
    state = SimpleNamespace(payload=archive.payload, honour_range=True, status=200, requests=[])

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            state.requests.append(dict(self.headers))
            if state.status != 200:
                self.send_error(state.status)
                return
            data, start = state.payload, 0
            wanted = self.headers.get("Range")
            if wanted and state.honour_range:
                start = int(wanted.removeprefix("bytes=").split("-")[0])
                if start >= len(data):
                    self.send_error(416)
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            self.send_header("Content-Length", str(len(data) - start))
            self.end_headers()
            self.wfile.write(data[start:])

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/cifar-10-python.tar.gz"
    yield state
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture
def closed_url() -> str:
    """A loopback URL on which nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/cifar-10-python.tar.gz"


@pytest.fixture
def entry(archive, server, monkeypatch) -> RemoteFile:
    """Point the cifar10 registry entry at the test server, pinned to the generated archive."""
    pinned = replace(
        REGISTRY["cifar10"], url=server.url, size=len(archive.payload), md5=archive.md5, members=archive.members
    )
    monkeypatch.setitem(REGISTRY, "cifar10", pinned)
    return pinned


def _assert_extracted(folder: Path, archive) -> None:
    assert folder.name == "cifar-10-batches-py"
    assert {name: file_md5(folder / name) for name in archive.members} == archive.members
    assert sorted(p.name for p in folder.parent.iterdir()) == ["cifar-10-batches-py", "cifar-10-python.tar.gz"]


def test_registry_entry_matches_the_published_archive():
    cifar = get_entry("cifar10")
    assert (cifar.filename, cifar.size, cifar.md5) == (
        "cifar-10-python.tar.gz", 170498071, "c58f30108f718f92721af3b95e74349a"
    )
    assert cifar.extract_to == "cifar-10-batches-py" and cifar.pinned
    assert cifar.members["test_batch"] == "40351d587109b95175f43aff81a1287e"
    assert len(cifar.members) == 7
    with pytest.raises(ValueError, match="cifar10"):
        get_entry("no-such-set")


def test_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("DL_DATA_DIR", str(tmp_path / "mine"))
    assert data_dir() == tmp_path / "mine"
    monkeypatch.delenv("DL_DATA_DIR")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert data_dir() == tmp_path / ".cache" / "dl-course" / "data"


def test_download_verifies_and_extracts(entry, server, archive, isolated_data_dir):
    folder = download("cifar10")
    assert folder == isolated_data_dir / "cifar-10-batches-py"
    _assert_extracted(folder, archive)
    assert len(server.requests) == 1 and "Range" not in server.requests[0]
    assert load_cifar10(folder)[0].shape == (40, 32, 32, 3)
    assert download("cifar10") == folder  # already there: no second request
    assert len(server.requests) == 1


def test_resume_uses_a_range_request(entry, server, archive, tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "cifar-10-python.tar.gz.part").write_bytes(archive.payload[:1000])
    _assert_extracted(download("cifar10", root=root, progress=False), archive)
    assert server.requests[0]["Range"] == "bytes=1000-"


def test_server_ignoring_range_restarts_from_zero(entry, server, archive, tmp_path):
    server.honour_range = False
    (tmp_path / "cifar-10-python.tar.gz.part").write_bytes(b"x" * 1000)
    _assert_extracted(download("cifar10", root=tmp_path, progress=False), archive)
    assert server.requests[0]["Range"] == "bytes=1000-"


def test_range_beyond_the_served_file_starts_over(entry, server, archive, tmp_path):
    server.payload = archive.payload[:500]  # the server's copy is shorter than the partial file
    (tmp_path / "cifar-10-python.tar.gz.part").write_bytes(archive.payload[:600])
    with pytest.raises(DownloadError, match="stopped after 500"):
        download("cifar10", root=tmp_path, progress=False)
    assert server.requests[0]["Range"] == "bytes=600-" and "Range" not in server.requests[1]
    assert not (tmp_path / "cifar-10-python.tar.gz").exists()


def test_checksum_mismatch_leaves_no_file(entry, archive, tmp_path, monkeypatch):
    monkeypatch.setitem(REGISTRY, "cifar10", replace(entry, md5="0" * 32))
    with pytest.raises(ChecksumError) as info:
        download("cifar10", root=tmp_path, progress=False)
    message = str(info.value)
    assert "cifar-10-python.tar.gz" in message and "0" * 32 in message and archive.md5 in message
    assert list(tmp_path.iterdir()) == []


def test_unreachable_server_explains_what_to_do(entry, closed_url, tmp_path, monkeypatch):
    monkeypatch.setitem(REGISTRY, "cifar10", replace(entry, url=closed_url))
    with pytest.raises(DownloadError) as info:
        download("cifar10", root=tmp_path / "offline", progress=False)
    message = str(info.value)
    assert isinstance(info.value, RuntimeError)
    assert f"{entry.size:,} bytes" in message and entry.md5 in message
    assert str((tmp_path / "offline" / "cifar-10-python.tar.gz").resolve()) in message
    assert f"python -m dl.data.download cifar10 --root {(tmp_path / 'offline').resolve()}" in message
    assert not (tmp_path / "offline" / "cifar-10-python.tar.gz").exists()


def test_http_error_is_reported(entry, server, tmp_path):
    server.status = 404
    with pytest.raises(DownloadError, match="HTTP 404"):
        download("cifar10", root=tmp_path, progress=False)


def test_archive_placed_by_hand_is_used_offline(entry, archive, closed_url, tmp_path, monkeypatch):
    monkeypatch.setitem(REGISTRY, "cifar10", replace(entry, url=closed_url))
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(archive.payload)
    _assert_extracted(download("cifar10", root=tmp_path, progress=False), archive)


def test_bad_archive_placed_by_hand_is_reported_and_kept(entry, closed_url, tmp_path, monkeypatch):
    monkeypatch.setitem(REGISTRY, "cifar10", replace(entry, url=closed_url))
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(b"not the archive")
    with pytest.raises(ChecksumError, match="cifar-10-python.tar.gz") as info:
        download("cifar10", root=tmp_path, progress=False)
    assert entry.md5 in str(info.value)
    assert (tmp_path / "cifar-10-python.tar.gz").read_bytes() == b"not the archive"


def test_damaged_member_is_reported(entry, tmp_path, monkeypatch):
    members = {**entry.members, "data_batch_2": "f" * 32}
    monkeypatch.setitem(REGISTRY, "cifar10", replace(entry, members=members))
    with pytest.raises(ChecksumError, match="data_batch_2"):
        download("cifar10", root=tmp_path, progress=False)


def _tar_with(member: tarfile.TarInfo, data: bytes = b"") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        folder = tarfile.TarInfo("cifar-10-batches-py")
        folder.type = tarfile.DIRTYPE
        tar.addfile(folder)
        member.size = len(data)
        tar.addfile(member, io.BytesIO(data))
    return buffer.getvalue()


def _escaping_file() -> tarfile.TarInfo:
    return tarfile.TarInfo("cifar-10-batches-py/../../escaped.txt")


def _link_outside() -> tarfile.TarInfo:
    link = tarfile.TarInfo("cifar-10-batches-py/data_batch_1")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    return link


@pytest.mark.parametrize("make_member", [_escaping_file, _link_outside])
def test_unsafe_archive_members_are_refused(entry, closed_url, tmp_path, monkeypatch, make_member):
    payload = _tar_with(make_member(), b"boo")
    root = tmp_path / "deep" / "root"
    root.mkdir(parents=True)
    (root / "cifar-10-python.tar.gz").write_bytes(payload)
    unsafe = replace(entry, url=closed_url, size=len(payload), md5=file_md5(root / "cifar-10-python.tar.gz"))
    monkeypatch.setitem(REGISTRY, "cifar10", unsafe)
    with pytest.raises(DownloadError, match="unsafe archive member"):
        download("cifar10", root=root, progress=False)
    assert not (tmp_path / "escaped.txt").exists()
    assert sorted(p.name for p in root.iterdir()) == ["cifar-10-python.tar.gz"]


def test_unpinned_entry_is_never_treated_as_verified(entry, server, archive, closed_url, tmp_path, monkeypatch):
    monkeypatch.setitem(REGISTRY, "cifar10", replace(entry, size=None, md5=None))
    for _ in range(2):  # the second call finds the file and refuses again without the network
        with pytest.raises(DownloadError, match="not pinned") as info:
            download("cifar10", root=tmp_path, progress=False)
        assert archive.md5 in str(info.value) and f"{len(archive.payload):,} bytes" in str(info.value)
        monkeypatch.setitem(REGISTRY, "cifar10", replace(entry, size=None, md5=None, url=closed_url))
    assert len(server.requests) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cifar-10-python.tar.gz"]


def test_command_line_success_and_failure(entry, closed_url, tmp_path, capsys):
    assert main(["cifar10", "--root", str(tmp_path / "ok")]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "ok" / "cifar-10-batches-py")
    assert main(["cifar10", "--root", str(tmp_path / "offline"), "--url", closed_url]) == 1
    assert "python -m dl.data.download cifar10" in capsys.readouterr().err


def test_module_runs_as_a_script(closed_url, tmp_path):
    env = {**os.environ, "DL_DATA_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-W", "error::RuntimeWarning", "-m", "dl.data.download", "cifar10", "--url", closed_url],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 1
    assert "c58f30108f718f92721af3b95e74349a" in result.stderr
    assert "python -m dl.data.download cifar10\n" in result.stderr or result.stderr.rstrip().endswith(
        "python -m dl.data.download cifar10"
    )
    assert "Traceback" not in result.stderr
