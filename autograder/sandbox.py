"""Where a worker runs: inside a bubblewrap sandbox, or (fallback) as a user of its own under Landlock.

The grader starts every worker through :func:`worker_command`. With ``GradingOptions.sandbox``
``"auto"`` (the default) it uses bubblewrap (``bwrap``, Debian package ``bubblewrap``) when bwrap
is installed *and* permitted on this machine (:func:`bwrap_status` tries a trivial sandbox once
per process); ``"bwrap"`` insists on it (:class:`SandboxUnavailable` otherwise) and ``"none"``
turns it off. Without bwrap every result carries :attr:`Sandbox.warning`, which says what the
fallback below gave instead.

Inside the sandbox the worker sees, all read-only:

- the system folders (``/usr``, ``/lib*``, ``/bin``, ``/sbin``) and a few files of ``/etc``
  (the dynamic linker's cache, passwd, group, fonts, time zone);
- the Python installation: the interpreter's prefix and the virtual environment (an editable
  install's finder there still names the repository, whose folders are simply absent);
- ``/grader/code/autograder``: a private copy of the worker's modules only (:data:`STAGED`);
- ``/grader/lib``: ``GradingOptions.library_path`` (the release folder, with the student
  edition of ``dl``), refused if it holds the repository or hidden material;

and nothing else of the machine: not the repository (reference ``dl/``, ``course/``,
``source_notebooks/``, the gradebook), not the submissions, not the grader's output folders,
not ``$HOME``. Its only writable place is a private tmpfs of ``GradingOptions.tmp_mb`` MiB at
the worker's temporary folder (its working directory, ``HOME`` and ``TMPDIR``). It has its own
network (loopback only: no network), PID, IPC and UTS namespaces, a new session, a cleared
environment, and dies with the grader. When the grader runs as root, bubblewrap runs without a
user namespace and the launcher (:mod:`autograder.launch`) drops the worker to an unprivileged
user id of its own (one per worker), so that ``RLIMIT_NPROC`` (``GradingOptions.max_processes``)
bounds a fork bomb and no file of root's is writable or readable beyond the world-readable ones
bound in.

Where bubblewrap cannot create its namespaces (inside Docker with its default seccomp profile,
which is how Gradescope runs the exported bundle, and on many shared hosts), the fallback runs
the same launcher and worker as a plain subprocess in a private folder, with rlimits and a
cleaned environment, and still keeps the solutions out of reach (:func:`fallback_status` tries
it once per process):

- run as root, each worker becomes an unprivileged user of its own (from :func:`worker_uids`,
  no supplementary groups, no new privileges) that owns its private folder: it cannot signal the
  grader or other workers, and reads no file closed to other users. Where the interpreter lives
  in a folder other users cannot enter (a pyenv under ``/root``), the launcher runs a staged
  copy of it (:func:`_worker_python`: hard links where the file system allows, else copies);
- where the kernel offers Landlock (:mod:`autograder.landlock`; it needs no root), the worker
  may read only the system folders, ``/etc``'s few files, ``/proc``, ``/sys``, the Python
  installation, the staged code and the student edition of ``dl``, write only its private
  folder and a few devices, open no TCP connection (ABI 4) and signal no process outside its
  domain (ABI 6): the repository, the gradebook, other submissions and the results are out of
  reach whatever their permissions;
- without Landlock, as root, what keeps the hidden material from student code is its
  permissions: the warning names every part of the course's hidden material that other users
  may read (:func:`_exposed`); the Gradescope bundle makes its own root-only before grading.
"""
from __future__ import annotations

import atexit
import importlib.metadata
import itertools
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from autograder import landlock
from autograder.options import GradingOptions

REPO_ROOT = Path(__file__).resolve().parents[1]
CHOICES = ("auto", "bwrap", "none")
INSIDE = "/grader"  # where the sandbox sees the worker's code and the library
HIDDEN_NAMES = ("course", "source_notebooks", "gradebook.db", "submitted", "autograded", "feedback")
# What of a course repository student code must never read: checked for permissions where nothing else protects it
HIDDEN_IN_REPO = ("dl", "course", "autograder", "source_notebooks", "tests", "gradebook.db")
DISTRIBUTION = "dl-course"  # the project's name (pyproject.toml), to find the checkout an editable install leads to
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "passwd", "group", "nsswitch.conf", "localtime",
             "fonts", "alternatives", "mime.types")
KERNEL_VIEWS = ("/proc", "/sys")  # read-only under Landlock (other users' processes are guarded by the kernel)
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")  # read and written under Landlock
FIRST_UID = 200_000  # the grader's private range of user ids for workers (when run as root)
PYTHON = sys.executable  # the interpreter the probes try, as it was when the grader started
STAGED = ("worker.py", "worker_torch.py", "protocol.py", "launch.py", "landlock.py")  # the modules of autograder a worker may see

# The launcher's entry point (:mod:`autograder.launch`), run with ``-I -S -B`` as <stage>/launch.py
# beside the staged code, so that nothing on the worker's path can change it.
LAUNCHER = '''\
import os, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "code"))
from autograder.launch import run
run(sys.argv[1:])
'''
STAGED_INIT = '"""The worker side of the autograder (only the modules a worker runs are here)."""\n'


class SandboxUnavailable(RuntimeError):
    """The requested sandbox cannot be used here, or would expose hidden material: a setup problem."""


@dataclass(frozen=True)
class Sandbox:
    """How workers run in this grading run: ``kind`` is ``"bwrap"`` or ``"none"`` (the fallback).

    For the fallback: ``reason`` (why not bubblewrap), ``own_users`` (each worker becomes an
    unprivileged user of its own; the grader is root), ``users_reason`` (why not, as root),
    ``landlock`` (the Landlock ABI each worker is restricted with, 0 for none), ``landlock_reason``
    (why not) and ``exposed`` (hidden material of the course that the workers' users may read).
    """

    kind: str
    reason: str = ""
    own_users: bool = False
    users_reason: str = ""
    landlock: int = 0
    landlock_reason: str = ""
    exposed: tuple[str, ...] = ()

    @property
    def warning(self) -> str | None:
        """What every result says when student code ran outside bubblewrap: what protected it instead."""
        if self.kind == "bwrap":
            return None
        could, could_not = [], []
        if self.own_users:
            who = (f"Each worker ran as an unprivileged user of its own (a user id from {FIRST_UID} up, no supplementary "
                   f"groups, no new privileges), so student code could not signal the grader or other workers, nor read "
                   f"files closed to other users")
        elif os.geteuid() == 0:
            who = f"Workers ran as root ({self.users_reason}), with the grader's rights"
            could.append("signal any process")
        else:
            who = f"Workers ran as the grader's own user (uid {os.getuid()}), with its rights"
            if self.landlock < 6:
                could.append("signal the grader's processes")
        if self.landlock:
            limits = (f"Landlock (ABI {self.landlock}) let it read only the system folders (with a few files of /etc, /proc "
                      f"and /sys), the Python installation, the worker's own code and the student edition of dl, and write "
                      f"only its private folder")
            if self.landlock >= 4:
                could_not.append("open a TCP connection")
            else:
                could.append("reach the network")
            if self.landlock >= 6:
                could_not.append("signal a process outside its worker")
        else:
            readable = ("read every file that all users of this machine may read" if self.own_users
                        else "read and write every file of the machine" if os.geteuid() == 0
                        else "read and write every file the grader can")
            limits = f"Landlock was not used ({self.landlock_reason}), so student code could {readable}"
            could.append("reach the network")
            if self.own_users:
                limits += (f"; of the course's hidden material, that is {', '.join(self.exposed)} (make it readable by root only)"
                           if self.exposed else "; the course's hidden material is readable by root only")
        text = f"WARNING: grading ran without the bubblewrap sandbox ({self.reason}). {who}. {limits}"
        if could_not:
            text += f"; it could not {' or '.join(could_not)}"
        if could:
            text += f"; it could {' and '.join(could)}"
        return text + "."


@dataclass(frozen=True)
class FallbackStatus:
    """What the fallback can give on this machine (:func:`fallback_status`)."""

    own_users: bool
    users_reason: str
    landlock: int
    landlock_reason: str


# --------------------------------------------------------------------------------------------
# Is bubblewrap usable here? And what can the fallback give? (each asked once per process)

_lock = threading.RLock()
_status: tuple[bool, str] | None = None
_fallback: FallbackStatus | None = None
_stage: Path | None = None
_pythons: dict[str, tuple[str, dict[str, str]]] = {}
_uids = itertools.count()


def bwrap_status(refresh: bool = False) -> tuple[bool, str]:
    """``(usable, reason)``: whether ``bwrap`` is installed and may create a sandbox here.

    Runs ``bwrap --version`` and then ``true`` inside a sandbox built with the same options as
    a worker's (namespaces, binds, tmpfs, capabilities), since bwrap can be installed but not
    permitted (e.g. in a container without user namespaces). Cached for the process.
    """
    global _status
    with _lock:
        if _status is None or refresh:
            _status = _probe()
        return _status


def _probe() -> tuple[bool, str]:
    if not sys.platform.startswith("linux"):
        return False, f"bubblewrap needs Linux, this is {sys.platform}"
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return False, "bwrap is not installed; install the Debian package bubblewrap"
    try:
        version = subprocess.run([bwrap, "--version"], capture_output=True, text=True, timeout=20)
        if version.returncode != 0:
            return False, f"`bwrap --version` failed: {(version.stderr or version.stdout).strip()[:300]}"
        true = shutil.which("true", path=os.defpath) or "/bin/true"
        scratch = tempfile.mkdtemp(prefix="dl-grade-probe-")
        try:  # the launcher too, as a worker would start: it must be able to drop to a user of its own
            args = _bwrap_args(bwrap, scratch, library=None, stage=_staged_code(), tmp_mb=1,
                               env={"PATH": os.defpath}, python_dirs=_python_dirs(PYTHON))
            spec = json.dumps({"nproc": 8, "uid": _worker_uid()})
            launch = [_python_path(PYTHON), "-I", "-S", "-B", f"{INSIDE}/launch.py", spec, true]
            done = subprocess.run([*args, *launch], capture_output=True, text=True, timeout=30,
                                  env={"PATH": os.defpath}, start_new_session=True)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    except (OSError, subprocess.SubprocessError, SandboxUnavailable) as exc:
        return False, f"bwrap could not be run: {exc}"
    if done.returncode != 0:
        return False, f"bwrap is installed but may not create a sandbox here: {done.stderr.strip()[:300] or done.returncode}"
    return True, version.stdout.strip()


def fallback_status(refresh: bool = False) -> FallbackStatus:
    """What the fallback gives here: a user of its own per worker (as root), Landlock (its ABI).

    Tries both as a worker would start (:func:`worker_command`: the launcher, then the worker,
    which answers and ends when its input closes), and drops what fails, with the reason:
    Landlock first, then the change of user. Cached for the process.
    """
    global _fallback
    with _lock:
        if _fallback is None or refresh:
            _fallback = _probe_fallback()
        return _fallback


def _probe_fallback() -> FallbackStatus:
    own_users, users_reason = os.geteuid() == 0, ""
    if own_users:
        try:  # an interpreter a user of its own can run, first: its failure is not Landlock's
            _worker_python(PYTHON)
        except (OSError, SandboxUnavailable) as exc:
            own_users, users_reason = False, f"no interpreter its user could read: {exc}"
    abi, landlock_reason = landlock.abi()
    while True:
        failure = _try_fallback(own_users, abi)
        if failure is None or not (abi or own_users):
            return FallbackStatus(own_users, users_reason, abi, landlock_reason)
        if abi:
            abi, landlock_reason = 0, f"it could not be enforced here: {failure}"
        else:
            own_users, users_reason = False, f"a worker could not become a user of its own: {failure}"


def _try_fallback(own_users: bool, abi: int) -> str | None:
    """None when a worker starts under this fallback, else what went wrong."""
    scratch = tempfile.mkdtemp(prefix="dl-grade-probe-")
    try:
        command = worker_command(Sandbox("none", own_users=own_users, landlock=abi), GradingOptions(max_processes=0),
                                 scratch, PYTHON, [])
        done = subprocess.run(command.argv, env=command.env, cwd=scratch, stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=60,
                              start_new_session=True)
    except (OSError, subprocess.SubprocessError, SandboxUnavailable) as exc:
        return str(exc)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if done.returncode != 0:
        return (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1][:300]
    return None


def resolve(options: GradingOptions) -> Sandbox:
    """The sandbox that ``options.sandbox`` asks for, on this machine.

    Raises :class:`SandboxUnavailable` when ``"bwrap"`` is asked for and cannot be used, and
    ``ValueError`` for an unknown choice.
    """
    choice = options.sandbox
    if choice not in CHOICES:
        raise ValueError(f"GradingOptions.sandbox must be one of {', '.join(CHOICES)}, not {choice!r}")
    if choice == "none":
        return _fallback_sandbox(options, "it was turned off with sandbox='none'")
    usable, reason = bwrap_status()
    if usable:
        _library(options)  # a library folder that would show hidden material is a setup error
        return Sandbox("bwrap")
    if choice == "bwrap":
        raise SandboxUnavailable(f"the bubblewrap sandbox was requested (sandbox='bwrap') but cannot be used: {reason}")
    return _fallback_sandbox(options, reason)


def _fallback_sandbox(options: GradingOptions, reason: str) -> Sandbox:
    _library(options)
    status = fallback_status()
    abi, why = (status.landlock, status.landlock_reason) if options.landlock else (0, "it was turned off with landlock=False")
    exposed = _exposed() if status.own_users and not abi else ()
    return Sandbox("none", reason, status.own_users, status.users_reason, abi, why, exposed)


# --------------------------------------------------------------------------------------------
# The worker's command line


@dataclass(frozen=True)
class Command:
    """What :class:`~autograder.runner.WorkerProcess` starts: ``argv`` with ``env``."""

    argv: list[str]
    env: dict[str, str]


def worker_command(sandbox: Sandbox, options: GradingOptions, tmpdir: str, python: str, worker_args: list[str]) -> Command:
    """The command that runs ``python -m autograder.worker *worker_args`` in ``tmpdir``.

    Under bwrap ``tmpdir`` only names the mount point of the worker's private tmpfs; in the
    fallback it is the worker's folder, given to the worker's own user when it has one.
    ``python`` is the interpreter (the grader's).
    """
    stage = _staged_code()
    library = _library(options)
    if sandbox.kind == "bwrap":
        uid = _worker_uid()
        nproc = _nproc_limit(options, uid)
        inside_path = [f"{INSIDE}/code"] + ([f"{INSIDE}/lib"] if library else [])
        env = _worker_env(tmpdir, inside_path)
        bwrap = shutil.which("bwrap")
        if bwrap is None:
            raise SandboxUnavailable("bwrap is no longer installed")
        args = _bwrap_args(bwrap, tmpdir, library, stage, options.tmp_mb, env, _python_dirs(python))
        python = _python_path(python)
        spec = json.dumps({"nproc": nproc, "uid": uid})
        launch = [python, "-I", "-S", "-B", f"{INSIDE}/launch.py", spec]
        return Command([*args, *launch, python, "-m", "autograder.worker", *worker_args], {"PATH": os.defpath})
    uid = _worker_uid() if sandbox.own_users else -1
    worker_python, python_env = python, {}
    if uid >= 0:  # a user of its own: its folder, and an interpreter and library it can read
        os.chown(tmpdir, uid, uid)
        os.chmod(tmpdir, 0o700)
        worker_python, python_env = _worker_python(python)
        library = _readable_copy(library) if library is not None else None
    env = {**_worker_env(tmpdir, [str(stage / "code")] + ([str(library)] if library else [])), **python_env}
    rules = None
    if sandbox.landlock:
        rules = {"abi": sandbox.landlock, "write": [tmpdir, *DEVICES],
                 "read": [*SYSTEM_DIRS, *(f"/etc/{name}" for name in ETC_FILES), *KERNEL_VIEWS, *_python_dirs(python),
                          str(stage), *([str(library)] if library else [])]}
    spec = json.dumps({"nproc": _nproc_limit(options, uid), "uid": uid, "parent": os.getpid(), "landlock": rules})
    launch = [python, "-I", "-S", "-B", str(stage / "launch.py"), spec]
    return Command([*launch, worker_python, "-m", "autograder.worker", *worker_args], env)


def _worker_env(tmpdir: str, python_path: list[str]) -> dict[str, str]:
    return {
        "PATH": os.defpath,
        "HOME": tmpdir,
        "TMPDIR": tmpdir,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONPATH": os.pathsep.join(python_path),
        "PYTHONNOUSERSITE": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "MPLBACKEND": "Agg",
    }


def _bwrap_args(bwrap: str, tmpdir: str, library: Path | None, stage: Path | None, tmp_mb: int,
                env: dict[str, str], python_dirs) -> list[str]:
    root = os.geteuid() == 0
    args = [bwrap, "--die-with-parent", "--new-session", "--clearenv",
            "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
            "--hostname", "grader-sandbox"]
    if root:  # no user namespace: the launcher needs real setuid to a user of its own
        args += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        args += ["--unshare-user"]
    # bwrap would create the mount points' parents readable by root only; the worker runs as another user
    binds = [*python_dirs, *([INSIDE] if stage is not None or library is not None else []), tmpdir, "/etc"]
    parents = {str(parent) for path in binds for parent in [Path(path), *Path(path).parents] if str(parent) != "/"}
    for parent in sorted(parents, key=lambda p: (p.count("/"), p)):
        if not any(parent == d or parent.startswith(d + "/") for d in python_dirs) and parent not in SYSTEM_DIRS:
            args += ["--perms", "0755", "--dir", parent]
    for path in SYSTEM_DIRS:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    for name in ETC_FILES:
        args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    for path in python_dirs:
        args += ["--ro-bind", path, path]
    if stage is not None:
        args += ["--ro-bind", str(stage / "code"), f"{INSIDE}/code", "--ro-bind", str(stage / "launch.py"), f"{INSIDE}/launch.py"]
    if library is not None:
        args += ["--ro-bind", str(_readable_copy(library) if root else library), f"{INSIDE}/lib"]
    args += ["--proc", "/proc", "--dev", "/dev",
             "--perms", "0777" if root else "0700", "--size", str(max(1, tmp_mb) * 2**20), "--tmpfs", tmpdir,
             "--remount-ro", "/", "--chdir", tmpdir]
    for key, value in env.items():
        args += ["--setenv", key, value]
    return args + ["--"]


def _python_path(python: str) -> str:
    """``python`` with its folder's links resolved (the sandbox binds the installation's real folders),
    its own name kept (a virtual environment's ``bin/python`` is a link, and it finds the
    environment by where the link is)."""
    return os.path.join(os.path.realpath(os.path.dirname(python)), os.path.basename(python))


def _python_dirs(python: str) -> list[str]:
    """The folders of the Python installation the worker needs, outside the system folders."""
    wanted = {sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix, os.path.dirname(os.path.realpath(python))}
    dirs = []
    for path in sorted({os.path.realpath(p) for p in wanted if p}):
        if any(path == d or path.startswith(d + "/") for d in SYSTEM_DIRS):
            continue
        if any(path.startswith(d + "/") for d in dirs):
            continue
        if _contains(Path(path), REPO_ROOT):
            raise SandboxUnavailable(f"the Python installation at {path} contains the course repository "
                                     f"{REPO_ROOT}; binding it would show the reference to student code")
        dirs.append(path)
    # a bound venv would shadow its own parents' binds, so keep only outermost folders
    return [d for d in dirs if not any(d != o and d.startswith(o + "/") for o in dirs)]


def _contains(folder: Path, path: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def _library(options: GradingOptions) -> Path | None:
    """The release folder put on the worker's path; refused when it would show hidden material."""
    if not options.library_path:
        return None
    library = Path(options.library_path).resolve()
    if not library.is_dir():
        raise SandboxUnavailable(f"library_path {library} is not a folder")
    if _contains(library, REPO_ROOT):
        raise SandboxUnavailable(f"library_path {library} contains the course repository; point it at the release folder "
                                 f"(release/<assignment>) so that student code never sees the reference")
    found = [name for name in HIDDEN_NAMES if (library / name).exists()]
    if found:
        raise SandboxUnavailable(f"library_path {library} holds {', '.join(found)}, which student code must not see; "
                                 f"point it at the release folder (release/<assignment>)")
    return library


def default_library_path(release_nb: str | os.PathLike, release: Mapping) -> str | None:
    """Where ``import dl`` should lead when ``GradingOptions.library_path`` is not given.

    The release notebook's folder when it holds the student edition (``dl/``), else the
    repository's committed ``release/<assignment>`` (the assignment named in the notebook's
    ``metadata.dl``), else None (the worker then has no ``dl`` under bubblewrap).
    """
    candidates = [Path(release_nb).resolve().parent]
    assignment = ((release.get("metadata") or {}).get("dl") or {}).get("assignment")
    if isinstance(assignment, str) and re.fullmatch(r"[A-Za-z0-9_-]+", assignment):
        candidates.append(REPO_ROOT / "release" / assignment)
    for folder in candidates:
        if (folder / "dl" / "__init__.py").is_file():
            try:
                return str(_library(GradingOptions(library_path=str(folder))))
            except SandboxUnavailable:
                continue
    return None


# --------------------------------------------------------------------------------------------
# What a worker of its own user may read: staged copies, and the permissions of the rest


def _staged_code() -> Path:
    """A private copy of the worker's code (:data:`STAGED`) and the launcher, made once per process.

    Readable by every user (the workers' own users included), writable by the grader only.
    """
    global _stage
    with _lock:
        if _stage is None or not _stage.is_dir():
            stage = Path(tempfile.mkdtemp(prefix="dl-grade-code-"))
            package = stage / "code" / "autograder"
            package.mkdir(parents=True)
            source = Path(__file__).resolve().parent
            for name in STAGED:
                shutil.copyfile(source / name, package / name)
            (package / "__init__.py").write_text(STAGED_INIT)
            (stage / "launch.py").write_text(LAUNCHER)
            for path in [stage, *stage.rglob("*")]:
                path.chmod(0o755 if path.is_dir() else 0o644)
            atexit.register(shutil.rmtree, stage, True)
            _stage = stage
            _copies.clear()
            _pythons.clear()
        return _stage


_copies: dict[tuple[str, tuple], Path] = {}


def _readable_copy(library: Path) -> Path:
    """A copy of the library folder that the worker's own user can read (the original may be root's only).

    Made in the stage folder, once per version of the folder's files (symbolic links are copied
    as links, so they lead nowhere inside the sandbox; ``__pycache__`` is left out).
    """
    signature = []
    for folder, dirs, files in os.walk(library):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            try:
                info = os.lstat(os.path.join(folder, name))
            except OSError:
                continue
            signature.append((os.path.relpath(os.path.join(folder, name), library), info.st_size, info.st_mtime_ns))
    key = (str(library), tuple(signature))
    stage = _staged_code()
    with _lock:
        if key not in _copies or not _copies[key].is_dir():
            target = Path(tempfile.mkdtemp(prefix="lib-", dir=stage))
            copy = target / "lib"
            shutil.copytree(library, copy, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
            for path in [target, *target.rglob("*")]:
                if not path.is_symlink():
                    path.chmod(0o755 if path.is_dir() else 0o644)
            _copies[key] = copy
        return _copies[key]


def _open_to_others(path: str | os.PathLike) -> bool:
    """Whether a user with no rights of its own (no group, not the owner) can reach and read ``path``:
    every folder on the way lets others through, and ``path`` lets them read it (a folder: or enter it,
    since names inside can be guessed)."""
    path = Path(os.path.realpath(path))
    try:
        for folder in reversed(path.parents):
            if not os.stat(folder).st_mode & stat.S_IXOTH:
                return False
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return bool(mode & stat.S_IROTH or (stat.S_ISDIR(mode) and mode & stat.S_IXOTH))


def _exposed() -> tuple[str, ...]:
    """The hidden material (:data:`HIDDEN_IN_REPO`) of the course's checkouts (:func:`_checkouts`) that users other than root may read."""
    return tuple(str(root / name) for root in _checkouts() for name in HIDDEN_IN_REPO
                 if (root / name).exists() and _open_to_others(root / name))


def _checkouts() -> list[Path]:
    """The course repositories a worker could find: this grader's, and the one that an editable
    install of the project in the Python installation leads to (its finder names its folders),
    read from the install's ``direct_url.json`` (PEP 610)."""
    found = [REPO_ROOT]
    try:
        info = json.loads(importlib.metadata.distribution(DISTRIBUTION).read_text("direct_url.json") or "{}")
    except (importlib.metadata.PackageNotFoundError, ValueError):
        return found
    url = info.get("url", "") if isinstance(info, dict) else ""
    if (info.get("dir_info") or {}).get("editable") and url.startswith("file://"):
        folder = Path(urllib.parse.unquote(urllib.parse.urlparse(url).path)).resolve()
        if folder != REPO_ROOT:
            found.append(folder)
    return found


def _worker_python(python: str) -> tuple[str, dict[str, str]]:
    """The interpreter a worker of its own user runs, and what its environment needs for it.

    ``python`` itself where every user can read the installation. Else (a pyenv under ``/root``,
    mode 0700) a staged copy in the stage folder, made once per process: the base installation's
    interpreter, shared library and standard library (without its tests and, under a virtual
    environment that does not include them, its site-packages), as hard links where the file
    system allows, else copies; under a virtual environment, a copy of its ``pyvenv.cfg``
    pointing at the staged base, and links to its site-packages, which other users must be able
    to read. ``LD_LIBRARY_PATH`` then leads the interpreter to the staged ``libpython`` (its
    run path names the original). Raises :class:`SandboxUnavailable`, saying why, where it cannot.
    """
    with _lock:
        if python not in _pythons:
            _pythons[python] = _stage_python(python)
        return _pythons[python]


def _stage_python(python: str) -> tuple[str, dict[str, str]]:
    binary = os.path.realpath(python)
    base, venv = os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix)
    in_venv = base != venv
    if _open_to_others(binary) and all(_open_to_others(d) for d in _python_dirs(python)):
        return python, {}
    if in_venv and not _open_to_others(venv):
        raise SandboxUnavailable(f"the virtual environment {venv} cannot be read by other users, so a worker of its own "
                                 f"user could not import numpy; create it in a folder every user may enter and read")
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    target = _staged_code() / "python"
    shutil.rmtree(target, ignore_errors=True)
    staged_base = target / "base"
    (staged_base / "bin").mkdir(parents=True)
    _link_or_copy(binary, staged_base / "bin" / os.path.basename(binary))
    system_site = not in_venv or _venv_setting(venv, "include-system-site-packages") == "true"
    libdirs = sorted({"lib", sys.platlibdir})
    for libdir in libdirs:
        source = Path(base) / libdir
        if not source.is_dir():
            continue
        for entry in source.iterdir():
            if entry.name.startswith("libpython") and not entry.is_dir():
                _link_or_copy(entry, staged_base / libdir / entry.name)
            elif entry.name == version and entry.is_dir():
                skip = {"test"} | (set() if system_site else {"site-packages"})
                _link_tree(entry, staged_base / libdir / entry.name, skip)
    env = {"LD_LIBRARY_PATH": os.pathsep.join(str(staged_base / d) for d in libdirs if (staged_base / d).is_dir())}
    staged = staged_base / "bin" / os.path.basename(binary)
    if in_venv:
        staged_venv = target / "venv"
        (staged_venv / "bin").mkdir(parents=True)
        lines = [f"home = {staged_base / 'bin'}" if line.split("=")[0].strip() == "home" else line
                 for line in (Path(venv) / "pyvenv.cfg").read_text().splitlines()]
        (staged_venv / "pyvenv.cfg").write_text("\n".join(lines) + "\n")
        staged = staged_venv / "bin" / os.path.basename(python)
        staged.symlink_to(staged_base / "bin" / os.path.basename(binary))
        for libdir in libdirs:
            site = Path(venv) / libdir / version / "site-packages"
            if site.is_dir():
                (staged_venv / libdir / version).mkdir(parents=True)
                (staged_venv / libdir / version / "site-packages").symlink_to(site.resolve())
    for path in [target, *target.rglob("*")]:
        if path.is_dir() and not path.is_symlink():
            path.chmod(0o755)
    return str(staged), env


def _venv_setting(venv: str, key: str) -> str | None:
    for line in (Path(venv) / "pyvenv.cfg").read_text().splitlines():
        name, _, value = line.partition("=")
        if name.strip() == key:
            return value.strip().lower()
    return None


def _link_or_copy(source: Path | str, target: Path) -> None:
    """``target`` as a hard link to ``source`` (same file, no space), or a copy where links cannot be made."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if os.path.islink(source):
        os.symlink(os.readlink(source), target)
        return
    try:
        os.link(source, target)
    except OSError:  # another file system, or links forbidden here
        shutil.copy2(source, target)


def _link_tree(source: Path, target: Path, skip: set[str]) -> None:
    """``source``'s files under ``target`` (:func:`_link_or_copy`), less the top-level entries named in ``skip``."""
    for folder, dirs, files in os.walk(source):
        relative = Path(folder).relative_to(source)
        if relative == Path("."):
            dirs[:] = [d for d in dirs if d not in skip]
            files = [f for f in files if f not in skip]
        (target / relative).mkdir(parents=True, exist_ok=True)
        for name in [*files, *(d for d in dirs if os.path.islink(os.path.join(folder, d)))]:
            _link_or_copy(Path(folder) / name, target / relative / name)
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(folder, d))]


def worker_uids() -> range:
    """The user ids this grading process gives its workers when run as root: a block of 1000 of the
    grader's range, chosen by the process id, so that graders running side by side on one
    machine (or test processes) rarely share ids."""
    first = FIRST_UID + (os.getpid() % 100) * 1000
    return range(first, first + 1000)


def _worker_uid() -> int:
    """A user id of the worker's own when the grader runs as root (-1: keep the grader's)."""
    if os.geteuid() != 0:
        return -1
    return worker_uids()[next(_uids) % 1000]


def _nproc_limit(options: GradingOptions, uid: int) -> int:
    """RLIMIT_NPROC for the worker: it counts every task of the user, so a shared user gets its current count on top."""
    if options.max_processes <= 0:
        return 0
    if uid >= 0:
        return options.max_processes
    if os.geteuid() == 0:
        return 0  # root is exempt from RLIMIT_NPROC: only a user of the worker's own makes it count
    return options.max_processes + _tasks_of(os.getuid())


def _tasks_of(uid: int) -> int:
    """How many processes and threads ``uid`` runs now (what RLIMIT_NPROC counts)."""
    count = 0
    try:
        entries = os.listdir("/proc")
    except OSError:
        return 0
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            if os.stat(f"/proc/{entry}").st_uid == uid:
                count += len(os.listdir(f"/proc/{entry}/task"))
        except OSError:
            continue
    return count
