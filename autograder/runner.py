"""Run a student's program in a separate worker process and send it requests.

:class:`WorkerProcess` is one ``python -m autograder.worker`` subprocess: same interpreter as
the grader, its own session (process group), a private temporary working folder, a cleaned
environment, rlimits on memory, CPU time and file size, stdin/stdout pipes as the protocol
channel, and stderr in a file kept for the instructor's log. Every request has a deadline; a
late, missing, malformed or oversized reply kills the process and raises
:class:`~autograder.student.WorkerFailure`.

:class:`ProgramRunner` keeps a worker loaded with the student's program, cell by cell, and
starts a fresh one after a failure. A cell that hangs or kills the worker while it loads is
skipped, and the other cells are loaded again.

Not yet here (hardening milestone): bubblewrap isolation (read-only file system, no network,
hidden material invisible, no view of the grader's process). Until then the worker is a plain
subprocess and a warning says so once per process.
"""
from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from autograder import protocol
from autograder.extraction import Program
from autograder.options import GradingOptions
from autograder.student import Student, WorkerFailure

log = logging.getLogger("autograder")
REPO_ROOT = Path(__file__).resolve().parents[1]
STDERR_TAIL = 4000
_warned_plain_subprocess = False


class WorkerStartError(RuntimeError):
    """The worker process could not start: a problem of the grading machine, not of a submission."""


def _worker_env(tmpdir: str, options: GradingOptions) -> dict[str, str]:
    path = [str(REPO_ROOT)]
    if options.library_path:
        path.insert(0, str(Path(options.library_path).resolve()))
    return {
        "PATH": os.defpath,
        "HOME": tmpdir,
        "TMPDIR": tmpdir,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONPATH": os.pathsep.join(path),
        "PYTHONNOUSERSITE": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "MPLBACKEND": "Agg",
    }


class WorkerProcess:
    """One worker subprocess and its protocol channel."""

    def __init__(self, options: GradingOptions):
        self.options = options
        self.proc: subprocess.Popen | None = None
        self.tmpdir: str | None = None
        self._stderr = None

    @property
    def alive(self) -> bool:
        """Whether the worker runs; it is not reaped here, so its group id stays reserved until :meth:`kill`."""
        if self.proc is None or self.proc.returncode is not None:
            return False
        try:
            return os.waitid(os.P_PID, self.proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None
        except ChildProcessError:
            return False

    def start(self) -> None:
        """Start the process and wait until it says it is ready; raises :class:`WorkerStartError`."""
        global _warned_plain_subprocess
        if not _warned_plain_subprocess:
            _warned_plain_subprocess = True
            log.warning("student code runs in a plain subprocess with rlimits, without bubblewrap isolation "
                        "(file system, network and process isolation come with the hardening milestone)")
        o = self.options
        self.tmpdir = tempfile.mkdtemp(prefix="dl-grade-")
        self._stderr = tempfile.TemporaryFile()  # outside the worker's folder; closed in stop()
        command = [sys.executable, "-m", "autograder.worker", f"--memory-mb={o.memory_mb}",
                   f"--cpu-seconds={o.cpu_seconds}", f"--file-mb={o.file_mb}"]
        try:
            self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
                                         cwd=self.tmpdir, env=_worker_env(self.tmpdir, o), bufsize=0,
                                         start_new_session=True, close_fds=True)
        except OSError as exc:
            self.stop()
            raise WorkerStartError(f"cannot start the worker: {exc}") from exc
        os.set_blocking(self.proc.stdin.fileno(), False)
        try:
            hello = self._exchange(None, o.start_timeout)
        except WorkerFailure as exc:
            tail = self.stderr_tail()
            self.stop()
            raise WorkerStartError(f"the worker did not start: {exc}\n{tail}") from None
        if hello.get("limits_not_set"):
            log.warning("worker rlimits not set on this platform: %s", ", ".join(hello["limits_not_set"]))

    def request(self, message: dict, timeout: float) -> dict:
        """Send one request and return the decoded reply; on any failure, kill and raise WorkerFailure."""
        if not self.alive:
            raise WorkerFailure("the worker is not running")
        return self._exchange(message, timeout)

    def _exchange(self, message: dict | None, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        max_bytes = self.options.max_reply_mb * 2**20
        try:
            if message is not None:
                protocol.write_frame(self.proc.stdin.fileno(), protocol.pack(message), deadline)
            frame = protocol.read_frame(self.proc.stdout.fileno(), max_bytes, deadline)
            return protocol.unpack(frame, protocol.Limits(max_bytes=max_bytes))
        except protocol.ChannelTimeout:
            self.kill()
            raise WorkerFailure(f"no answer within {timeout:g} s (an endless loop, or far too slow)") from None
        except protocol.ChannelClosed:
            code = self.kill()
            raise WorkerFailure(f"the process running your code stopped ({_exit_reason(code)})") from None
        except protocol.ProtocolError as exc:
            self.kill()
            raise WorkerFailure(f"unusable answer from your code: {exc}") from None

    def kill(self) -> int | None:
        """Kill the worker's process group (the worker and any children it started); returns its exit status."""
        if self.proc is None:
            return None
        if self.proc.returncode is None:  # not reaped yet, so the group id cannot belong to anyone else
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)  # the group this class created with start_new_session
            except (ProcessLookupError, PermissionError):
                pass  # the whole group has exited already
        try:
            return self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            return None

    def stderr_tail(self) -> str:
        if self._stderr is None or self._stderr.closed:
            return ""
        self._stderr.flush()
        size = self._stderr.seek(0, os.SEEK_END)
        self._stderr.seek(max(0, size - STDERR_TAIL))
        return self._stderr.read().decode(errors="replace")

    def stop(self) -> None:
        """End the process group, close the channel and remove the temporary folder."""
        if self.proc is not None:
            self.kill()  # nothing in the worker needs a clean exit
            for pipe in (self.proc.stdin, self.proc.stdout):
                try:
                    pipe.close()
                except OSError:
                    pass
        if self._stderr is not None:
            self._stderr.close()
        if self.tmpdir is not None:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
        self.proc, self._stderr, self.tmpdir = None, None, None


def _exit_reason(code: int | None) -> str:
    if code is None:
        return "it did not exit"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hints = {"SIGKILL": "killed: out of memory or CPU time?", "SIGXCPU": "CPU time limit", "SIGSEGV": "crash"}
        return f"{name}{', ' + hints[name] if name in hints else ''}"
    return f"exit status {code}"


class ProgramRunner:
    """A worker loaded with the student's program; restarted on demand after a failure.

    Attributes after :meth:`ensure_loaded`: ``cell_errors`` (cell label -> message) and
    ``defined`` (the unit names the program defines).
    """

    def __init__(self, program: Program, names: list[str], options: GradingOptions):
        self.program, self.names, self.options = program, names, options
        self.worker: WorkerProcess | None = None
        self.cell_errors: dict[str, str] = {}
        self.defined: set[str] = set()
        self.skipped: set[str] = set()
        self.deadline = float("inf")
        self.instructor_notes: list[str] = []

    def ensure_loaded(self) -> None:
        """Start a worker and run the program in it, unless one is running already."""
        attempts = len(self.program.cells) + 2  # each failed attempt skips one cell
        while self.worker is None or not self.worker.alive:
            if attempts == 0:
                raise WorkerFailure("the program could not be loaded: its worker kept stopping")
            attempts -= 1
            self.discard()
            self.worker = WorkerProcess(self.options)
            self.worker.start()
            try:
                if self._load():
                    return
            except WorkerFailure:
                self._note_failure("after loading the program")

    def _load(self) -> bool:
        """Run every cell not skipped; False when one hung or killed the worker (it is then skipped)."""
        self.cell_errors = {label: self.cell_errors[label] for label in self.skipped}
        for cell in self.program.cells:
            if cell.label in self.skipped:
                continue
            try:
                reply = self.worker.request({"op": "exec", "label": cell.label, "source": cell.source}, self.options.cell_timeout)
            except WorkerFailure as exc:
                self.skipped.add(cell.label)
                self.cell_errors[cell.label] = f"running it failed: {exc}; it was skipped"
                self._note_failure(f"while loading {cell.label}")
                return False
            if not reply.get("ok"):
                error = reply.get("error", {})
                self.cell_errors[cell.label] = f"{error.get('type')}: {error.get('message')}"
        reply = self.worker.request({"op": "defined", "names": self.names}, self.options.cell_timeout)
        self.defined = set(reply.get("value") or ())
        return True

    def start_unit(self) -> None:
        """Start the time budget of a unit: its requests together get ``options.unit_timeout`` seconds."""
        self.deadline = time.monotonic() + self.options.unit_timeout

    def student(self) -> Student:
        """A :class:`Student` whose requests go to this worker, each bounded by the request and unit timeouts."""
        def transport(request: dict) -> dict:
            timeout = min(self.options.request_timeout, max(0.0, self.deadline - time.monotonic()))
            try:
                return self.worker.request(request, timeout)
            except WorkerFailure:
                self._note_failure("while grading")
                if time.monotonic() >= self.deadline:
                    raise WorkerFailure(f"the checks of this unit took longer than {self.options.unit_timeout:g} s "
                                        f"in all (is your code far too slow?)") from None
                raise
        return Student(transport)

    def _note_failure(self, when: str) -> None:
        tail = self.worker.stderr_tail().strip() if self.worker else ""
        if tail:
            self.instructor_notes.append(f"worker stderr {when}:\n{tail}")

    def discard(self) -> None:
        """Stop the current worker, if any (the next :meth:`ensure_loaded` starts a fresh one)."""
        if self.worker is not None:
            self.worker.stop()
            self.worker = None

    def close(self) -> None:
        self.discard()
