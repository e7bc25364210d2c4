"""Landlock: a process narrows, for good, what it and its children may do to files, TCP and signals.

Landlock is a Linux security module (Linux 5.13 and later, where the kernel lists it among its
LSMs) that any process may use on itself without privileges. The grader's unsandboxed fallback
(:mod:`autograder.sandbox`) applies it in the launcher, just before the worker starts, so that
student code reads only what :class:`Policy` lists and writes only its private folder. There
is no Python binding in the standard library; this module calls the three system calls through
``ctypes``:

- ``landlock_create_ruleset(attr, size, flags)`` makes a ruleset that *handles* some rights
  (everything handled and not granted by a rule is denied); with ``attr`` NULL and the flag
  ``LANDLOCK_CREATE_RULESET_VERSION`` it returns the kernel's ABI version instead (:func:`abi`);
- ``landlock_add_rule(ruleset, LANDLOCK_RULE_PATH_BENEATH, attr, 0)`` grants rights on a file
  or on everything beneath a folder, named by an ``O_PATH`` descriptor;
- ``landlock_restrict_self(ruleset, 0)`` enforces it on the calling thread (which must have set
  ``PR_SET_NO_NEW_PRIVS``, or hold ``CAP_SYS_ADMIN``); its children inherit it.

Each ABI version adds rights: 1 the file-system ones, 2 ``REFER`` (linking and renaming across
folders), 3 ``TRUNCATE``, 4 TCP ``bind``/``connect``, 5 ``IOCTL_DEV``, 6 scopes (signals and
abstract UNIX sockets reach no process outside the domain), 7 only logging flags. A ruleset
handles every right of the running kernel's ABI, so what a newer kernel can deny, it does.
Since Linux 5.1 new system calls share their numbers on every architecture but alpha, so the
calls are 444, 445 and 446 wherever this module runs (x86_64, aarch64, ...).
"""
from __future__ import annotations

import ctypes
import os
import platform
import sys
from dataclasses import dataclass

CREATE_RULESET, ADD_RULE, RESTRICT_SELF = 444, 445, 446
CREATE_RULESET_VERSION = 1 << 0
RULE_PATH_BENEATH = 1
PR_SET_NO_NEW_PRIVS = 38

# File-system rights (LANDLOCK_ACCESS_FS_*), in the order of their bits
EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
REMOVE_DIR, REMOVE_FILE, MAKE_CHAR, MAKE_DIR, MAKE_REG = 1 << 4, 1 << 5, 1 << 6, 1 << 7, 1 << 8
MAKE_SOCK, MAKE_FIFO, MAKE_BLOCK, MAKE_SYM = 1 << 9, 1 << 10, 1 << 11, 1 << 12
REFER, TRUNCATE, IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
FS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 4: (1 << 15) - 1, 5: (1 << 16) - 1}
FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV  # the only rights a rule on a non-folder may grant
READ_RIGHTS = EXECUTE | READ_FILE | READ_DIR
# TCP rights (LANDLOCK_ACCESS_NET_*, ABI 4) and scopes (LANDLOCK_SCOPE_*, ABI 6)
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1


class LandlockError(OSError):
    """Landlock could not be set up or enforced; the message names the step and the path."""


class _RulesetAttr(ctypes.Structure):
    """struct landlock_ruleset_attr; the size passed to the kernel tells it which fields exist."""

    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    """struct landlock_path_beneath_attr (packed: 12 bytes)."""

    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


@dataclass(frozen=True)
class Handled:
    """What a ruleset of one ABI version handles: everything it does not grant is denied."""

    fs: int
    net: int
    scoped: int

    @classmethod
    def of(cls, abi: int) -> Handled:
        if abi < 1:
            raise ValueError(f"Landlock ABI versions start at 1, not {abi}")
        fs = FS_BY_ABI.get(abi, FS_BY_ABI[5])
        net = NET_BIND_TCP | NET_CONNECT_TCP if abi >= 4 else 0
        scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if abi >= 6 else 0
        return cls(fs, net, scoped)

    @property
    def attr_size(self) -> int:
        """The size of ``landlock_ruleset_attr`` that carries exactly the fields this ABI knows."""
        return 24 if self.scoped else 16 if self.net else 8


@dataclass(frozen=True)
class Policy:
    """What a restricted process may do to files: ``read`` (read, list and execute) beneath each
    path of ``read``, and everything beneath each path of ``write`` (a file, such as ``/dev/null``,
    gets the rights a file can have). Paths that do not exist are left out. With ABI 4 and
    later it opens and accepts no TCP connection; with ABI 6 and later it signals no process and
    reaches no abstract UNIX socket outside its own domain."""

    read: tuple[str, ...]
    write: tuple[str, ...] = ()

    def rules(self, abi: int) -> list[tuple[str, int]]:
        """``(path, allowed rights)`` of each rule, for a kernel of ABI ``abi``; a folder's rights
        reach everything beneath it, a file's are only those a file can have."""
        handled = Handled.of(abi).fs
        rules = []
        for paths, rights in ((self.read, READ_RIGHTS), (self.write, handled)):
            for path in paths:
                if not os.path.exists(path):
                    continue
                allowed = rights & handled if os.path.isdir(path) else rights & handled & FILE_RIGHTS
                rules.append((path, allowed))
        return rules


def _syscall():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc.syscall


def abi() -> tuple[int, str]:
    """``(version, "")`` where the running kernel offers Landlock, else ``(0, why not)``."""
    if not sys.platform.startswith("linux"):
        return 0, f"Landlock needs Linux, this is {sys.platform}"
    if platform.machine() == "alpha":
        return 0, "Landlock's system calls have other numbers on alpha"
    try:
        version = _syscall()(CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(CREATE_RULESET_VERSION))
    except (OSError, AttributeError) as exc:
        return 0, f"the C library cannot make system calls here: {exc}"
    if version >= 1:
        return int(version), ""
    err = ctypes.get_errno()
    reasons = {
        38: "the kernel has no Landlock (Linux 5.13 or later built with CONFIG_SECURITY_LANDLOCK)",  # ENOSYS
        95: "the kernel has Landlock but it is off (add landlock to the lsm= boot parameter)",  # EOPNOTSUPP
        1: "a seccomp filter forbids Landlock's system calls here",  # EPERM (e.g. an older container runtime)
    }
    return 0, reasons.get(err, f"landlock_create_ruleset failed: {os.strerror(err)}")


def ruleset(policy: Policy, abi_version: int) -> int:
    """A ruleset file descriptor holding ``policy``'s rules for ABI ``abi_version``; not enforced yet."""
    handled = Handled.of(abi_version)
    syscall = _syscall()
    attr = _RulesetAttr(handled.fs, handled.net, handled.scoped)
    fd = syscall(CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(handled.attr_size), ctypes.c_uint32(0))
    if fd < 0:
        err = ctypes.get_errno()
        raise LandlockError(err, f"landlock_create_ruleset (ABI {abi_version}): {os.strerror(err)}")
    try:
        for path, allowed in policy.rules(abi_version):
            _add_rule(syscall, int(fd), path, allowed)
    except BaseException:
        os.close(fd)
        raise
    return int(fd)


def _add_rule(syscall, ruleset_fd: int, path: str, allowed: int) -> None:
    try:
        target = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError as exc:
        raise LandlockError(exc.errno, f"Landlock rule for {path}: cannot open it: {exc.strerror}") from None
    try:
        rule = _PathBeneathAttr(allowed, target)
        if syscall(ADD_RULE, ctypes.c_int(ruleset_fd), ctypes.c_int(RULE_PATH_BENEATH), ctypes.byref(rule), ctypes.c_uint32(0)) != 0:
            err = ctypes.get_errno()
            raise LandlockError(err, f"landlock_add_rule for {path} (rights {allowed:#x}): {os.strerror(err)}")
    finally:
        os.close(target)


def no_new_privileges() -> None:
    """``PR_SET_NO_NEW_PRIVS``: no program this process runs from now on gains rights (set-user-ID
    files, file capabilities); Landlock requires it of an unprivileged process."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise LandlockError(err, f"prctl(PR_SET_NO_NEW_PRIVS): {os.strerror(err)}")


def enforce(ruleset_fd: int) -> None:
    """Restrict this thread (and every process it starts) to the ruleset, for good; sets no-new-privileges first."""
    no_new_privileges()
    if _syscall()(RESTRICT_SELF, ctypes.c_int(ruleset_fd), ctypes.c_uint32(0)) != 0:
        err = ctypes.get_errno()
        raise LandlockError(err, f"landlock_restrict_self: {os.strerror(err)}")
    os.close(ruleset_fd)
