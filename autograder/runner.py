"""Run a student's program in a separate worker process and send it requests.

:class:`WorkerProcess` is one ``python -m autograder.worker`` subprocess: same interpreter as
the grader, started inside the bubblewrap sandbox of :mod:`autograder.sandbox` (or, where that
cannot be used, in its fallback: as root, under a user id of its own, and under Landlock where
the kernel has it, with a warning in every result saying so), its own session
(process group), a private temporary working folder, a clean environment, rlimits on memory,
CPU time, file size and process count, where Linux allows it a cgroup of its own that bounds the
memory and tasks of everything it runs (:mod:`autograder.cgroups`), stdin/stdout pipes as the
protocol channel, and stderr in a file kept for the instructor's log. Every request has a
deadline; a late, missing, malformed or oversized reply kills the process (and, under
bubblewrap, its whole PID namespace, and its cgroup) and raises
:class:`~autograder.student.WorkerFailure`, as does going over the cgroup's memory limit.

:class:`ProgramRunner` keeps a worker loaded with the student's program, cell by cell, and
starts a fresh one after a failure. A cell that hangs or kills the worker while it loads is
skipped, and the other cells are loaded again. All of it, reloads included, stays within the
submission's time budget (``GradingOptions.submission_timeout``).
"""
from __future__ import annotations

import logging
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import secrets
import tempfile
import time

from autograder import cgroups, protocol, sandbox as sandboxes
from autograder.extraction import Program
from autograder.options import GradingOptions
from autograder.sandbox import Sandbox
from autograder.student import Student, WorkerFailure

log = logging.getLogger("autograder")
FORGED = ("your code wrote to the grader's channel (an answer nobody asked for); "
          "the process running it was stopped")
STDERR_TAIL = 4000
TORCH_NAME = re.compile(r"\btorch\b")
_warned_unsandboxed = False


class WorkerStartError(RuntimeError):
    """The worker process could not start: a problem of the grading machine, not of a submission."""


class WorkerProcess:
    """One worker subprocess and its protocol channel."""

    def __init__(self, options: GradingOptions, sandbox: Sandbox | None = None):
        self.options = options
        self.sandbox = sandbox or sandboxes.resolve(options)
        self.proc: subprocess.Popen | None = None
        self.tmpdir: str | None = None
        self._stderr = None
        self.cgroup: cgroups.Group | None = None  # None where cgroups cannot be used (or both limits are 0)

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
        global _warned_unsandboxed
        if self.sandbox.warning and not _warned_unsandboxed:
            _warned_unsandboxed = True
            log.warning("%s", self.sandbox.warning)
        o = self.options
        self.tmpdir = tempfile.mkdtemp(prefix="dl-grade-")
        self._stderr = tempfile.TemporaryFile()  # outside the worker's folder; closed in stop()
        try:
            command = sandboxes.worker_command(self.sandbox, o, self.tmpdir, sys.executable, [
                f"--memory-mb={o.memory_mb}", f"--cpu-seconds={o.cpu_seconds}", f"--file-mb={o.file_mb}"])
        except sandboxes.SandboxUnavailable:
            self.stop()
            raise
        # Joined by a tiny wrapper before bwrap starts, so no process of the worker is ever outside it
        self.cgroup = cgroups.create(o.submission_memory_mb * 2**20, o.max_processes)
        argv = [*cgroups.join_command(self.cgroup, sys.executable), *command.argv] if self.cgroup else command.argv
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
                                         cwd=self.tmpdir, env=command.env, bufsize=0,
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
        self._refuse_unsolicited()
        request_id = secrets.randbits(62)
        reply = self._exchange({**message, "id": request_id}, timeout)
        if reply.pop("id", None) != request_id:  # a frame the student's code wrote, read before the real reply
            self.kill()
            raise WorkerFailure(FORGED)
        return reply

    def _refuse_unsolicited(self) -> None:
        """Fail when the channel holds bytes nobody asked for (student code writing frames of its own).

        The worker writes only in answer to a request, so anything already waiting before the
        next request was forged, or is a real reply pushed back by a forged one: the channel can
        no longer be trusted to pair requests with replies. A forged frame that arrives before the
        real reply is caught by the request id every reply must echo (:meth:`request`).
        """
        fd = self.proc.stdout.fileno()
        if not select.select([fd], [], [], 0)[0]:
            return
        pending = os.read(fd, 1)
        code = self.kill()
        if not pending:
            raise WorkerFailure(f"the process running your code stopped ({self._exit_reason(code)})")
        raise WorkerFailure(FORGED)

    def _exchange(self, message: dict | None, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        max_bytes = self.options.max_reply_mb * 2**20
        try:
            if message is not None:
                protocol.write_frame(self.proc.stdin.fileno(), protocol.pack(message), deadline)
            frame = protocol.read_frame(self.proc.stdout.fileno(), max_bytes, deadline)
            reply = protocol.unpack(frame, protocol.Limits(max_bytes=max_bytes))
        except protocol.ChannelTimeout:
            self.kill()
            if cgroups.out_of_memory(self.cgroup):
                raise WorkerFailure(f"the process running your code was stopped ({self._memory_reason()})") from None
            raise WorkerFailure(f"no answer within {timeout:g} s (an endless loop, or far too slow)") from None
        except protocol.ChannelClosed:
            code = self.kill()
            raise WorkerFailure(f"the process running your code stopped ({self._exit_reason(code)})") from None
        except protocol.ProtocolError as exc:
            self.kill()
            raise WorkerFailure(f"unusable answer from your code: {exc}") from None
        if cgroups.out_of_memory(self.cgroup):  # one of its processes was killed at the submission's memory limit
            self.kill()
            raise WorkerFailure(f"the process running your code was stopped ({self._memory_reason()})")
        return reply

    def _memory_reason(self) -> str:
        return (f"out of memory: your code, with any processes it started, used more than the "
                f"{self.options.submission_memory_mb} MB that a submission may use in all")

    def _exit_reason(self, code: int | None) -> str:
        if cgroups.out_of_memory(self.cgroup):
            return self._memory_reason()
        if code is not None and self.sandbox.kind == "bwrap" and code > 128:
            code = -(code - 128)  # bubblewrap exits with 128 + the signal that killed the worker
        return _exit_reason(code)

    def kill(self) -> int | None:
        """Kill the worker's process group (the worker and any children it started); returns its exit status."""
        if self.proc is None:
            return None
        if self.proc.returncode is None:  # not reaped yet, so the group id cannot belong to anyone else
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)  # the group this class created with start_new_session
            except (ProcessLookupError, PermissionError):
                pass  # the whole group has exited already
        cgroups.kill(self.cgroup)  # and whatever left the group (setsid) or the sandbox's namespace
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
        """End the process group, close the channel, remove the cgroup and the temporary folder."""
        if self.proc is not None:
            self.kill()  # nothing in the worker needs a clean exit
            for pipe in (self.proc.stdin, self.proc.stdout):
                try:
                    pipe.close()
                except OSError:
                    pass
        cgroups.destroy(self.cgroup)  # kills anything still in it first
        self.cgroup = None
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

    def __init__(self, program: Program, names: list[str], options: GradingOptions, sandbox: Sandbox | None = None):
        self.program, self.names, self.options = program, names, options
        self.unit_options = options  # the limits of the unit being graded (:meth:`start_unit`)
        self.sandbox = sandbox or sandboxes.resolve(options)
        self.worker: WorkerProcess | None = None
        self.cell_errors: dict[str, str] = {}
        self.defined: set[str] = set()
        self.skipped: set[str] = set()
        self.deadline = float("inf")
        budget = options.submission_timeout
        self.submission_deadline = time.monotonic() + budget if budget > 0 else float("inf")
        self.instructor_notes: list[str] = []

    def _over_budget(self) -> WorkerFailure:
        return WorkerFailure(f"grading this submission took longer than {self.options.submission_timeout:g} s in all, "
                             f"so the units left could not be graded (is your code far too slow?)")

    def _remaining(self, timeout: float) -> float:
        """``timeout``, cut to what is left of the submission's time budget."""
        return max(0.0, min(timeout, self.submission_deadline - time.monotonic()))

    def ensure_loaded(self) -> None:
        """Start a worker and run the program in it, unless one is running already."""
        attempts = len(self.program.cells) + 2  # each failed attempt skips one cell
        while self.worker is None or not self.worker.alive:
            if attempts == 0:
                raise WorkerFailure("the program could not be loaded: its worker kept stopping")
            if time.monotonic() >= self.submission_deadline:
                raise self._over_budget()
            attempts -= 1
            self.discard()
            self.worker = WorkerProcess(self.unit_options, self.sandbox)
            self.worker.start()
            try:
                if self._load():
                    return
            except WorkerFailure:
                self._note_failure("after loading the program")

    def _load(self) -> bool:
        """Run every cell not skipped; False when one hung or killed the worker (it is then skipped).

        A program that uses torch first has the worker import its torch operations, so that they
        are bound, and torch pinned to one thread, before any student code runs
        (:mod:`autograder.worker_torch`).
        """
        self.cell_errors = {label: self.cell_errors[label] for label in self.skipped}
        if uses_torch(self.program):
            self.worker.request({"op": "torch"}, self._remaining(self.options.start_timeout))
        for cell in self.program.cells:
            if cell.label in self.skipped:
                continue
            try:
                reply = self.worker.request({"op": "exec", "label": cell.label, "source": cell.source},
                                            self._remaining(self.options.cell_timeout))
            except WorkerFailure as exc:
                self.skipped.add(cell.label)
                self.cell_errors[cell.label] = f"running it failed: {exc}; it was skipped"
                self._note_failure(f"while loading {cell.label}")
                return False
            if not reply.get("ok"):
                error = reply.get("error", {})
                self.cell_errors[cell.label] = f"{error.get('type')}: {error.get('message')}"
        reply = self.worker.request({"op": "defined", "names": self.names}, self._remaining(self.options.cell_timeout))
        self.defined = set(reply.get("value") or ())
        return True

    def start_unit(self, options: GradingOptions | None = None) -> None:
        """Grade the next unit under ``options`` (default: the runner's; see :meth:`GradingOptions.for_unit`).

        A worker running under other memory limits is stopped, so that the next
        :meth:`ensure_loaded` starts one under the unit's.
        """
        self.unit_options = options or self.options
        if self.worker is not None and _memory_limits(self.worker.options) != _memory_limits(self.unit_options):
            self.discard()

    def student(self) -> Student:
        """A :class:`Student` for the unit's checks, whose requests go to this worker.

        Its time budget starts now (loading the program does not count): the requests together get
        the unit's ``unit_timeout`` seconds, each at most its ``request_timeout``.
        """
        self.deadline = min(time.monotonic() + self.unit_options.unit_timeout, self.submission_deadline)

        def transport(request: dict) -> dict:
            timeout = min(self.unit_options.request_timeout, max(0.0, self.deadline - time.monotonic()))
            try:
                return self.worker.request(request, timeout)
            except WorkerFailure:
                self._note_failure("while grading")
                now = time.monotonic()
                if now >= self.submission_deadline:
                    raise self._over_budget() from None
                if now >= self.deadline:
                    raise WorkerFailure(f"the checks of this unit took longer than {self.unit_options.unit_timeout:g} s "
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


def uses_torch(program: Program) -> bool:
    """Whether any cell of ``program`` names torch (a torch notebook's setup cell imports it)."""
    return any(TORCH_NAME.search(cell.source) for cell in program.cells)


def _memory_limits(options: GradingOptions) -> tuple[int, int]:
    """The limits a worker is started with that a unit may change."""
    return options.memory_mb, options.submission_memory_mb
