"""A cgroup per worker: one memory limit and one task limit for everything a submission runs.

``RLIMIT_AS`` (``GradingOptions.memory_mb``) bounds each process on its own, so a fork bomb that
also allocates could use ``max_processes`` times ``memory_mb`` in all. Where Linux lets the grader
make cgroups, :class:`~autograder.runner.WorkerProcess` puts each worker (its sandbox, the worker
and every process student code starts) in a cgroup of its own, with

- ``GradingOptions.submission_memory_mb`` as its memory limit (v2 ``memory.max``, with
  ``memory.swap.max`` 0 and ``memory.oom.group`` 1 where present; v1 ``memory.limit_in_bytes``
  and ``memory.memsw.limit_in_bytes`` where present); past it the kernel's OOM killer stops
  processes of the cgroup (all of them on v2), and the runner fails the unit with a message saying the memory limit
  was exceeded (:func:`out_of_memory` reads v2 ``memory.events``, v1 ``memory.oom_control``
  and the peak usage), whichever process was killed;
- ``GradingOptions.max_processes`` (+ :data:`PIDS_HEADROOM` for the sandbox's own processes)
  as its ``pids.max``: unlike ``RLIMIT_NPROC`` it counts only this worker's tasks and also holds
  for root, so it works in the unsandboxed fallback too;
- and a sure way to end all of it: :func:`kill` (v2 ``cgroup.kill``, else SIGKILL to every pid
  listed, checked through a pidfd), even processes that left the worker's session.

Both v2 (a ``cgroup2`` mount offering the controller) and v1 (a ``cgroup`` mount per controller,
as on this course's CI machines) are used, per controller, v2 first. Worker cgroups are made in
``dl-grade/`` below the grader's own cgroup (read from ``/proc/self/cgroup``) or, failing that,
below the hierarchy's root (on v2 a cgroup that holds processes cannot hand controllers to
children, so as root on a systemd machine it is ``/sys/fs/cgroup/dl-grade``).

Joining: the worker's command is prefixed with :func:`join_command`, a tiny ``python -I -S``
that writes its own pid into the cgroup's ``cgroup.procs`` files and then ``exec``\\ s bwrap (or
the launcher). The pid is in the cgroup before anything of it can fork, so nothing escapes, and
it needs no ``preexec_fn``, which Python documents as unsafe in a program with threads (the
grader starts workers from a thread pool; ``preexec_fn`` also turns off ``vfork``). Moving the
pid from the parent after ``Popen`` would race with the child's first fork, and joining from the
launcher inside the sandbox would need ``/sys`` and root inside it. Student code cannot leave the
cgroup: under bubblewrap it has no ``/sys``, its own user and no capabilities; in the fallback
as root it runs as a user of its own, which may not write the cgroups' files.

:func:`available` makes one test cgroup and runs a process in it (once per process, cached, like
:func:`autograder.sandbox.bwrap_status`). Where that fails (not Linux, no cgroup file system,
not root, a read-only ``/sys/fs/cgroup``, no memory controller) nothing of this applies and it is
never an error: workers run as before, bounded per process by their rlimits, and the log says
so once. A cgroup that cannot be made for one worker is logged and skipped the same way.
:meth:`~autograder.runner.WorkerProcess.stop` removes a worker's cgroup (:func:`destroy`); the
probe also removes those that a grader which died left behind (:func:`_sweep`).
"""
from __future__ import annotations

import atexit
import itertools
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

log = logging.getLogger("autograder")

MOUNTINFO = "/proc/self/mountinfo"
PROC_CGROUP = "/proc/self/cgroup"
PARENT = "dl-grade"  # the folder of worker cgroups, in each hierarchy used
CONTROLLERS = ("memory", "pids")
PIDS_HEADROOM = 4  # bwrap's two processes and the launcher, on top of GradingOptions.max_processes
DESTROY_TIMEOUT = 5.0
V1_LIMIT_SLACK = 2 * 2**20  # a v1 peak this close to the limit means the limit was reached (charges come in batches)
PYTHON = sys.executable

# Prefixed to the worker's command: joins the cgroups named before "--" and becomes the command
# after it. Started with -I -S: nothing of the environment or of site-packages runs first.
JOIN = '''\
import os, sys
end = sys.argv.index("--")
pid = str(os.getpid()).encode()
for path in sys.argv[1:end]:
    try:
        fd = os.open(path, os.O_WRONLY)
        try:
            os.write(fd, pid)
        finally:
            os.close(fd)
    except OSError as exc:
        sys.exit("grader: cannot join the cgroup %s: %s" % (path, exc))
os.execv(sys.argv[end + 1], sys.argv[end + 1:])
'''


@dataclass(frozen=True)
class Hierarchy:
    """Where worker cgroups are made for some controllers: ``version`` 1 or 2, ``parent`` a ``dl-grade`` folder."""

    version: int
    parent: str
    controllers: tuple[str, ...]


@dataclass(frozen=True)
class Group:
    """One worker's cgroup: a folder per hierarchy used (``dirs``: (hierarchy, path))."""

    name: str
    dirs: tuple[tuple[Hierarchy, str], ...]
    memory_bytes: int
    pids: int

    @property
    def procs(self) -> list[str]:
        return [os.path.join(path, "cgroup.procs") for _, path in self.dirs]


# --------------------------------------------------------------------------------------------
# Can cgroups be used here? (asked once per process)

_lock = threading.RLock()
_status: tuple[bool, str] | None = None
_layout: tuple[Hierarchy, ...] = ()
_names = itertools.count()
_warned = False


def available(refresh: bool = False) -> tuple[bool, str]:
    """``(usable, reason)``: whether worker cgroups with a memory limit can be made here.

    Finds the hierarchies of the memory and pids controllers, prepares ``dl-grade/`` in them,
    then makes a test cgroup with limits and runs :func:`join_command` with a process in it.
    Cached for the process; ``reason`` says what was found, or why nothing can be used.
    """
    global _status, _layout
    with _lock:
        if _status is None or refresh:
            try:
                _layout, reason = _probe()
                _status = (bool(_layout), reason)
            except Exception as exc:  # never an error: anything unexpected means no cgroups
                _layout, _status = (), (False, f"cgroups could not be probed: {type(exc).__name__}: {exc}")
        return _status


def _probe() -> tuple[tuple[Hierarchy, ...], str]:
    if not sys.platform.startswith("linux"):
        return (), f"cgroups need Linux, this is {sys.platform}"
    try:
        mounts = _mounts()
        own = _own_cgroups()
    except OSError as exc:
        return (), f"cannot read the cgroup mounts: {exc}"
    if not any(m[0] in ("cgroup", "cgroup2") for m in mounts):
        return (), "no cgroup file system is mounted"
    layout, errors = _place(mounts, own)
    placed = {c for h in layout for c in h.controllers}
    if "memory" not in placed:
        _remove_parents(layout)
        why = "; ".join(errors) or "no hierarchy offers the memory controller"
        return (), f"no cgroup with a memory controller can be made here ({why})"
    try:
        _try_group(layout)
    except (OSError, subprocess.SubprocessError, RuntimeError) as exc:
        _remove_parents(layout)
        return (), f"a test cgroup could not be made and joined: {exc}"
    atexit.register(_remove_parents, layout)
    _sweep(layout)
    where = ", ".join(f"{'+'.join(h.controllers)} in v{h.version} {h.parent}" for h in layout)
    missing = [c for c in CONTROLLERS if c not in placed]
    return layout, where + (f" ({', '.join(missing)} not available)" if missing else "")


def _unescape(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)  # mountinfo writes a space as \040


def _mounts() -> list[tuple[str, str, str, set[str]]]:
    """``(fstype, mount point, root in the hierarchy, super options)`` of every cgroup mount."""
    found = []
    with open(MOUNTINFO) as f:
        for line in f:
            fields = line.split()
            if "-" not in fields:
                continue
            dash = fields.index("-")
            fstype = fields[dash + 1]
            if fstype in ("cgroup", "cgroup2"):
                options = set(fields[dash + 3].split(",")) if len(fields) > dash + 3 else set()
                found.append((fstype, _unescape(fields[4]), _unescape(fields[3]), options))
    return found


def _own_cgroups() -> dict[str, str]:
    """The grader's own cgroup per hierarchy: ``""`` for v2, each controller's name for v1."""
    own = {}
    with open(PROC_CGROUP) as f:
        for line in f:
            parts = line.rstrip("\n").split(":", 2)
            if len(parts) == 3:
                for controller in (parts[1].split(",") if parts[1] else [""]):
                    own[controller] = parts[2]
    return own


def _bases(mount_point: str, mount_root: str, own: str | None) -> list[str]:
    """Where ``dl-grade/`` may go in one hierarchy: below the grader's own cgroup, else the mount's root."""
    bases = []
    if own is not None and not mount_root.startswith("/..") and (own + "/").startswith(mount_root.rstrip("/") + "/"):
        relative = own[len(mount_root.rstrip("/")):].strip("/")
        bases.append(os.path.join(mount_point, relative) if relative else mount_point)
    if mount_point not in bases:
        bases.append(mount_point)
    return bases


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def _write(path: str, value: str) -> None:
    fd = os.open(path, os.O_WRONLY)  # never O_CREAT: a missing file means this is no cgroup
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _place(mounts, own) -> tuple[tuple[Hierarchy, ...], list[str]]:
    """Prepare ``dl-grade/`` for each controller in the first hierarchy that allows it (v2 first)."""
    layout: list[Hierarchy] = []
    errors: list[str] = []
    placed: set[str] = set()
    for fstype, point, root, options in sorted(mounts, key=lambda m: m[0] != "cgroup2"):
        if fstype == "cgroup2":
            wanted = [c for c in CONTROLLERS if c not in placed]
        else:
            wanted = [c for c in CONTROLLERS if c not in placed and c in options]
        if not wanted:
            continue
        for base in _bases(point, root, own.get("" if fstype == "cgroup2" else wanted[0])):
            try:
                if fstype == "cgroup2":
                    offered = _read(os.path.join(base, "cgroup.controllers")).split()
                    controllers = tuple(c for c in wanted if c in offered)
                    if not controllers:
                        continue
                    hierarchy = Hierarchy(2, os.path.join(base, PARENT), controllers)
                else:
                    hierarchy = Hierarchy(1, os.path.join(base, PARENT), tuple(wanted))
                _ensure_parent(hierarchy)
            except OSError as exc:
                errors.append(f"{os.path.join(base, PARENT)}: {exc.strerror or exc}")
                continue
            layout.append(hierarchy)
            placed.update(hierarchy.controllers)
            break
    return tuple(layout), errors


def _ensure_parent(h: Hierarchy) -> None:
    """Make ``h.parent`` (idempotent); on v2, hand its controllers down to it and to its children."""
    if h.version == 2:
        _delegate(os.path.dirname(h.parent), h.controllers)
    os.makedirs(h.parent, exist_ok=True)
    if not os.path.isfile(os.path.join(h.parent, "cgroup.procs")):
        raise OSError(f"{h.parent} is not a cgroup (no cgroup.procs): not a cgroup file system")
    if h.version == 2:
        _delegate(h.parent, h.controllers)


def _delegate(folder: str, controllers) -> None:
    enabled = _read(os.path.join(folder, "cgroup.subtree_control")).split()
    missing = [c for c in controllers if c not in enabled]
    if missing:  # EBUSY where the cgroup holds processes (the "no internal processes" rule)
        _write(os.path.join(folder, "cgroup.subtree_control"), " ".join(f"+{c}" for c in missing))


def _try_group(layout) -> None:
    """Make a cgroup with limits, run a process in it through :data:`JOIN`, check where it ran, remove it."""
    group = _make(layout, 256 * 2**20, 16, _group_name("probe"))
    try:
        show = "import sys; sys.stdout.write(open('/proc/self/cgroup').read())"
        done = subprocess.run([*join_command(group), PYTHON, "-I", "-S", "-c", show], capture_output=True,
                              text=True, timeout=30, env={"PATH": os.defpath})
        if done.returncode != 0:
            raise RuntimeError(done.stderr.strip()[-300:] or f"exit status {done.returncode}")
        inside = [line for line in done.stdout.splitlines() if _names_group(line, group.name)]
        if len(inside) < len(group.dirs):
            raise RuntimeError(f"the test process did not land in {group.name}: {done.stdout.strip()!r}")
    finally:
        if not destroy(group):
            raise RuntimeError(f"the test cgroup {group.name} could not be removed")


def _names_group(line: str, name: str) -> bool:
    """Whether a line of ``/proc/<pid>/cgroup`` places the process in worker cgroup ``name`` (or below)."""
    path = line.rstrip("\n").split(":", 2)[-1] + "/"
    return f"/{PARENT}/{name}/" in path


def _group_name(kind: str = "w", pid: int | None = None) -> str:
    """``<kind><grader's pid>-<its PID namespace>-<n>``: unique, and tells :func:`_sweep` whose it is."""
    return f"{kind}{os.getpid() if pid is None else pid}-{_PID_NS}-{next(_names)}"


def _pid_namespace() -> int:
    try:
        return os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return 0


_PID_NS = _pid_namespace()


def _sweep(layout) -> None:
    """Remove the worker cgroups that graders which are gone left behind (killing what is still in them).

    Only those of graders in this PID namespace, where a pid that names no process means the
    grader is gone (a grader in another container may share ``dl-grade/`` but not its pids).
    """
    for h in layout:
        try:
            entries = os.listdir(h.parent)
        except OSError:
            continue
        for entry in entries:
            match = re.fullmatch(r"(?:w|probe)(\d+)-(\d+)-\d+", entry)
            if (match is None or int(match.group(2)) != _PID_NS or _alive(int(match.group(1)))
                    or not os.path.isdir(os.path.join(h.parent, entry))):
                continue
            destroy(Group(entry, ((h, os.path.join(h.parent, entry)),), 0, 0), timeout=1.0)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _remove_parents(layout) -> None:
    for h in layout:
        try:
            os.rmdir(h.parent)  # only when empty; another grader may still use it
        except OSError:
            pass


# --------------------------------------------------------------------------------------------
# One worker's cgroup


def create(memory_bytes: int, pids: int, name: str | None = None) -> Group | None:
    """A new cgroup with these limits (0: none), or None where cgroups cannot be used (logged once).

    Never raises: a cgroup that cannot be made is logged and the worker runs without one.
    """
    global _warned
    if memory_bytes <= 0 and pids <= 0:
        return None
    usable, reason = available()
    if not usable:
        if not _warned:
            _warned = True
            log.warning("no per-submission memory and process limit: cgroups cannot be used here (%s); "
                        "each worker process keeps only its own rlimits", reason)
        return None
    name = name or _group_name()
    try:
        return _make(_layout, memory_bytes, pids, name)
    except OSError as exc:
        log.warning("cgroup %s could not be made (%s); this worker runs without the per-submission limits", name, exc)
        return None


def _make(layout, memory_bytes: int, pids: int, name: str) -> Group:
    dirs: list[tuple[Hierarchy, str]] = []
    try:
        for h in layout:
            used = [c for c in h.controllers if (memory_bytes if c == "memory" else pids) > 0]
            if not used:
                continue
            path = os.path.join(h.parent, name)
            try:
                os.mkdir(path)
            except FileNotFoundError:  # dl-grade/ was removed (another grader's exit): make it again
                _ensure_parent(h)
                os.mkdir(path)
            dirs.append((h, path))
            if "memory" in used:
                _memory_limit(h.version, path, memory_bytes)
            if "pids" in used:
                _write(os.path.join(path, "pids.max"), str(pids + PIDS_HEADROOM))
    except OSError:
        destroy(Group(name, tuple(dirs), memory_bytes, pids), timeout=1.0)
        raise
    return Group(name, tuple(dirs), memory_bytes, pids)


def _memory_limit(version: int, path: str, memory_bytes: int) -> None:
    if version == 2:
        _write(os.path.join(path, "memory.max"), str(memory_bytes))
        optional = {"memory.swap.max": "0", "memory.oom.group": "1"}  # no way around it through swap; OOM ends all
    else:
        _write(os.path.join(path, "memory.limit_in_bytes"), str(memory_bytes))
        optional = {"memory.memsw.limit_in_bytes": str(memory_bytes)}  # memory + swap, where swap is accounted
    for file, value in optional.items():
        if os.path.exists(os.path.join(path, file)):
            try:
                _write(os.path.join(path, file), value)
            except OSError:
                pass  # e.g. swap accounting off: the memory limit alone still holds


def join_command(group: Group, python: str = PYTHON) -> list[str]:
    """The prefix that runs a command inside ``group``: ``[*join_command(group), *argv]``."""
    return [python, "-I", "-S", "-c", JOIN, *group.procs, "--"]


def pids(group: Group) -> set[int]:
    """The processes in the cgroup now."""
    found = set()
    for path in group.procs:
        try:
            found.update(int(p) for p in _read(path).split())
        except (OSError, ValueError):
            pass
    return found


def out_of_memory(group: Group | None) -> bool:
    """Whether the OOM killer stopped a process of the cgroup after it reached its own memory limit.

    v2: ``memory.events`` counts ``oom_kill`` and ``oom`` (this cgroup's limit was reached and an
    allocation was about to fail); v1: ``memory.oom_control`` counts ``oom_kill``, and
    ``memory.failcnt`` or the peak usage (``*max_usage_in_bytes``) tell that a limit was reached.
    A kill by the machine's own OOM killer, with the cgroup never at its limit, is not this.
    False where the files cannot be read. Read after every reply: one file while nothing was killed.
    """
    for h, path in group.dirs if group is not None else ():
        if "memory" not in h.controllers:
            continue
        try:
            events = _counters(_read(os.path.join(path, "memory.events" if h.version == 2 else "memory.oom_control")))
        except OSError:
            continue
        if events.get("oom_kill", 0) > 0 and (events.get("oom", 0) > 0 if h.version == 2 else _v1_limit_reached(path)):
            return True
    return False


def _v1_limit_reached(path: str) -> bool:
    """v1: whether usage reached a limit. ``failcnt`` alone misses it where memory+swap is limited
    too: that counter is charged first and keeps no failcnt, so the high-water marks are read."""
    def number(file: str) -> int | None:
        try:
            return int(_read(os.path.join(path, file)))
        except (OSError, ValueError):
            return None
    if (number("memory.failcnt") or 0) > 0:
        return True
    for prefix in ("memory", "memory.memsw"):
        peak, limit = number(f"{prefix}.max_usage_in_bytes"), number(f"{prefix}.limit_in_bytes")
        if peak is not None and limit is not None and peak + V1_LIMIT_SLACK >= limit:
            return True
    return False


def _counters(text: str) -> dict[str, int]:
    found = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if value.strip().isdigit():
            found[key] = int(value)
    return found


def kill(group: Group | None) -> None:
    """SIGKILL every process of the cgroup (does not wait for them to end)."""
    if group is None:
        return
    for h, path in group.dirs:
        if h.version == 2 and os.path.exists(os.path.join(path, "cgroup.kill")):
            try:
                _write(os.path.join(path, "cgroup.kill"), "1")
            except OSError:
                pass
    for pid in pids(group):
        _kill_member(pid, group.name)


def _kill_member(pid: int, name: str) -> None:
    """SIGKILL ``pid`` if it is still in the cgroup: through a pidfd, so that a reused pid is never hit."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    except (AttributeError, OSError):
        fd = None  # no pidfds (old kernel): a tiny window remains between the check and the kill
    try:
        try:
            with open(f"/proc/{pid}/cgroup") as f:
                if not any(_names_group(line, name) for line in f):
                    return
        except OSError:
            return
        if fd is not None:
            signal.pidfd_send_signal(fd, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    finally:
        if fd is not None:
            os.close(fd)


def destroy(group: Group | None, timeout: float = DESTROY_TIMEOUT) -> bool:
    """Kill everything left in the cgroup and remove it; False (logged) when it outlived ``timeout``."""
    if group is None:
        return True
    deadline = time.monotonic() + timeout
    left = list(group.dirs)
    pause = 0.001  # killed processes take a moment to leave: poll fast, then back off
    while True:
        kill(Group(group.name, tuple(left), group.memory_bytes, group.pids))
        remaining = []
        for h, path in left:
            try:
                os.rmdir(path)
            except FileNotFoundError:
                pass
            except OSError:  # EBUSY while processes are still exiting
                remaining.append((h, path))
        left = remaining
        if not left:
            return True
        if time.monotonic() >= deadline:
            log.warning("cgroup %s could not be removed within %g s: %s", group.name, timeout,
                        ", ".join(path for _, path in left))
            return False
        time.sleep(pause)
        pause = min(2 * pause, 0.05)
