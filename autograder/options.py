"""Every knob of the grader in one place, with its default."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from autograder.units import Unit


@dataclass(frozen=True)
class GradingOptions:
    """Limits and settings of one grading run.

    A unit of the manifest may set its own ``time_limit_s`` and ``memory_mb``; :meth:`for_unit`
    gives the options its requests run under.

    - request_timeout: seconds the worker has to answer one request (one call of a student
      function, or one batch of calls for a numerical gradient). A late reply fails the unit.
    - unit_timeout: seconds all requests of one unit may take together.
    - cell_timeout: seconds one program cell may take to run when the program is loaded; a cell
      that takes longer is skipped (its units fail) and the others are loaded again.
    - start_timeout: seconds the worker process has to start and say it is ready.
    - memory_mb, cpu_seconds, file_mb: rlimits of the worker (address space, CPU time, size of
      any file it writes); 0 leaves a limit unset.
    - max_reply_mb: replies over this size fail the unit.
    - seed: base seed of the per-check random generators (change it each term to change the
      hidden inputs).
    - library_path: a folder put first on the worker's ``sys.path``; point it at the release's
      folder so that ``import dl`` in student code finds the student edition, not the reference.
      Under the sandbox it is the only folder of the course the worker sees (read-only); a folder
      that holds the repository, ``course/``, ``source_notebooks/`` or a gradebook is refused.
      :func:`autograder.grade.grade_submission` defaults it to the release notebook's folder when
      that holds ``dl/``, else to the repository's ``release/<assignment>``.
    - sandbox: ``"auto"`` runs workers under bubblewrap when it is usable here, else in the
      fallback (a plain subprocess; as root, under a user id of its own; under Landlock where the
      kernel has it) with a warning in every result saying what it gave; ``"bwrap"`` requires
      bubblewrap (a setup error otherwise); ``"none"`` never uses it (:mod:`autograder.sandbox`).
    - landlock: in the fallback, restrict each worker's files (and TCP, and signals, as far as
      the kernel's Landlock ABI goes) with Landlock where the kernel offers it; False turns it off.
    - max_processes: RLIMIT_NPROC of the worker (processes and threads; it contains fork bombs).
      Effective wherever the worker gets a user id of its own (the grader run as root, with or
      without bubblewrap); else it also counts the grader's own tasks. 0 leaves it unset.
    - tmp_mb: size of the worker's private writable tmpfs under bubblewrap (its working folder,
      HOME and TMPDIR); together with file_mb it bounds what student code can write.
    - submission_timeout: seconds all units of one submission may take together, loading and
      reloading its program included; units left when it runs out fail with a message.
    - submission_memory_mb: memory that everything a submission runs may use together (its
      worker, the sandbox and every process its code starts; page cache and tmpfs files count,
      swap too where the kernel accounts it), enforced with a cgroup per worker
      (:mod:`autograder.cgroups`), which also caps the worker's tasks at ``max_processes`` (+4 for
      the sandbox's own), for root and without bubblewrap too. Past the limit the kernel's OOM
      killer stops the code and the unit fails with a message saying so. Where no cgroup can be
      made (not Linux, not root, no cgroup file system or a read-only one, no memory controller)
      it does nothing, never an error: each process then keeps only ``memory_mb`` and
      ``max_processes`` above, and the log says so once. 0 turns the memory limit off (and the
      cgroup too when ``max_processes`` is 0).
    """

    request_timeout: float = 10.0
    unit_timeout: float = 60.0
    cell_timeout: float = 30.0
    start_timeout: float = 60.0
    memory_mb: int = 4096
    cpu_seconds: int = 600
    file_mb: int = 64
    max_reply_mb: int = 64
    seed: int = 20240
    library_path: str | None = None
    sandbox: str = "auto"
    landlock: bool = True
    max_processes: int = 64
    tmp_mb: int = 256
    submission_timeout: float = 900.0
    submission_memory_mb: int = 4096

    def for_unit(self, unit: Unit) -> GradingOptions:
        """These options with ``unit``'s own limits from the manifest in place of the defaults.

        ``time_limit_s`` replaces ``unit_timeout`` and ``request_timeout`` (one request may use the
        unit's whole time); ``memory_mb`` replaces ``memory_mb`` and raises ``submission_memory_mb``
        to at least that much (unless that limit is off), so the cgroup does not undercut it.
        """
        changes: dict = {}
        if unit.time_limit_s is not None:
            changes.update(unit_timeout=unit.time_limit_s, request_timeout=unit.time_limit_s)
        if unit.memory_mb is not None:
            changes["memory_mb"] = unit.memory_mb
            if self.submission_memory_mb:
                changes["submission_memory_mb"] = max(self.submission_memory_mb, unit.memory_mb)
        return replace(self, **changes) if changes else self
