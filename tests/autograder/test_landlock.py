"""Landlock through ctypes: the ABI probe, the rules built for each ABI, and (where the kernel has
it) what a restricted process can still do."""
import ctypes
import json
import os
import socket
import subprocess
import sys
import textwrap

import pytest

from autograder import landlock

ABI, WHY = landlock.abi()
needs_landlock = pytest.mark.skipif(not ABI, reason=f"this kernel offers no Landlock: {WHY}")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_the_probe_gives_a_version_or_a_reason():
    assert (ABI >= 1 and WHY == "") or (ABI == 0 and WHY)


@pytest.mark.parametrize("errno, words", [(38, "kernel has no Landlock"), (95, "lsm= boot parameter"), (1, "seccomp")])
def test_the_probe_says_why_landlock_is_missing(monkeypatch, errno, words):
    def refuse(*args):
        ctypes.set_errno(errno)
        return -1
    monkeypatch.setattr(landlock, "_syscall", lambda: refuse)
    version, reason = landlock.abi()
    assert version == 0 and words in reason


@pytest.mark.parametrize("abi", range(1, 8))
def test_each_abi_handles_what_it_knows_and_rules_grant_no_more(tmp_path, abi):
    handled = landlock.Handled.of(abi)
    assert handled.fs & landlock.EXECUTE and bool(handled.fs & landlock.REFER) == (abi >= 2)
    assert bool(handled.fs & landlock.TRUNCATE) == (abi >= 3) and bool(handled.fs & landlock.IOCTL_DEV) == (abi >= 5)
    assert handled.net == (0 if abi < 4 else landlock.NET_BIND_TCP | landlock.NET_CONNECT_TCP)
    assert handled.scoped == (0 if abi < 6 else landlock.SCOPE_SIGNAL | landlock.SCOPE_ABSTRACT_UNIX_SOCKET)
    assert handled.attr_size == (8 if abi < 4 else 16 if abi < 6 else 24)
    (tmp_path / "read").mkdir()
    (tmp_path / "write").mkdir()
    (tmp_path / "file").write_text("x")
    policy = landlock.Policy(read=(str(tmp_path / "read"), str(tmp_path / "missing")),
                             write=(str(tmp_path / "write"), str(tmp_path / "file")))
    rules = dict(policy.rules(abi))
    assert set(rules) == {str(tmp_path / name) for name in ("read", "write", "file")}  # a missing path is left out
    assert rules[str(tmp_path / "read")] == landlock.EXECUTE | landlock.READ_FILE | landlock.READ_DIR
    assert rules[str(tmp_path / "write")] == handled.fs  # everything beneath the private folder
    assert rules[str(tmp_path / "file")] == handled.fs & landlock.FILE_RIGHTS  # the kernel refuses folder rights on a file
    assert rules[str(tmp_path / "file")] & landlock.WRITE_FILE and not rules[str(tmp_path / "file")] & landlock.MAKE_REG


def test_an_abi_below_one_is_refused():
    with pytest.raises(ValueError, match="start at 1"):
        landlock.Handled.of(0)


RESTRICTED = textwrap.dedent('''
    import json, os, signal, socket, sys
    from autograder import landlock

    allowed, writable, hidden, port, abi = sys.argv[1:6]
    landlock.enforce(landlock.ruleset(landlock.Policy(read=(allowed, *sys.path[1:]), write=(writable,)), int(abi)))

    def attempt(fn):
        try:
            fn()
            return "done"
        except OSError as exc:
            return type(exc).__name__

    def write(path):
        with open(path, "w") as f:
            f.write("x")

    def connect():
        with socket.create_connection(("127.0.0.1", int(port)), timeout=2):
            pass

    print(json.dumps({
        "read_allowed": attempt(lambda: open(os.path.join(allowed, "open.txt")).read()),
        "write_allowed": attempt(lambda: write(os.path.join(allowed, "new.txt"))),
        "write_private": attempt(lambda: write(os.path.join(writable, "new.txt"))),
        "read_hidden": attempt(lambda: open(hidden).read()),
        "list_root": attempt(lambda: os.listdir("/")),
        "connect": attempt(connect),
        "signal_parent": attempt(lambda: os.kill(os.getppid(), 0)),
    }))
''')


@needs_landlock
def test_a_restricted_process_reads_and_writes_only_what_its_policy_names(tmp_path):
    allowed, writable = tmp_path / "allowed", tmp_path / "private"
    allowed.mkdir()
    writable.mkdir()
    (allowed / "open.txt").write_text("open")
    hidden = tmp_path / "hidden.txt"
    hidden.write_text("the reference")
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        done = subprocess.run([sys.executable, "-c", RESTRICTED, str(allowed), str(writable), str(hidden), str(port), str(ABI)],
                              capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": REPO})
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["read_allowed"] == "done" and seen["write_private"] == "done"
    assert seen["write_allowed"] == "PermissionError" and seen["read_hidden"] == "PermissionError"
    assert seen["list_root"] == "PermissionError"
    assert seen["connect"] == ("PermissionError" if ABI >= 4 else "done")
    assert seen["signal_parent"] == ("PermissionError" if ABI >= 6 else "done")
    assert (writable / "new.txt").read_text() == "x" and not (allowed / "new.txt").exists()
