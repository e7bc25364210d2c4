"""The launcher: what every worker process runs first, before the worker and any student code.

The grader starts ``python -I -S -B <stage>/launch.py SPEC PROGRAM [ARGS...]`` (a bootstrap,
:data:`autograder.sandbox.LAUNCHER`, that imports this module from the staged copy of the
worker's code; ``-I -S -B``: nothing of the environment or of site-packages runs first, and no
bytecode is written beside the staged code). ``SPEC`` is a JSON object:

- ``nproc``: ``RLIMIT_NPROC`` (processes and threads of the user), 0 to leave it unset;
- ``uid``: the user id to become, with the same group id and no supplementary groups (-1: stay);
- ``parent``: the grader's pid, to die with it (``PR_SET_PDEATHSIG``, set after the change of
  user, which clears it; the launcher stops at once if the grader is already gone); 0 where
  bubblewrap's ``--die-with-parent`` does it;
- ``landlock``: ``{"abi": n, "read": [...], "write": [...]}``, a
  :class:`~autograder.landlock.Policy` to enforce for ABI ``n``, or null.

In that order it sets the limit, builds the Landlock ruleset (opening its paths while it may
still reach them all), drops to the user, asks for the parent-death signal, sets
no-new-privileges, enforces the ruleset and replaces itself with ``PROGRAM``. Any step that
fails ends it with a message on stderr: the worker never runs with less than the grader asked for.
"""
from __future__ import annotations

import ctypes
import json
import os
import resource
import signal
import sys

from autograder import landlock

PR_SET_PDEATHSIG = 1


def main(argv: list[str]) -> None:
    spec, command = json.loads(argv[0]), argv[1:]
    if spec.get("nproc", 0) > 0:
        resource.setrlimit(resource.RLIMIT_NPROC, (spec["nproc"], spec["nproc"]))
    rules = spec.get("landlock")
    ruleset = None
    if rules:
        ruleset = landlock.ruleset(landlock.Policy(tuple(rules["read"]), tuple(rules.get("write", ()))), rules["abi"])
    uid = spec.get("uid", -1)
    if uid >= 0:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
        if os.getresuid() != (uid, uid, uid) or os.getresgid() != (uid, uid, uid) or os.getgroups():
            sys.exit(f"launcher: could not become user {uid}")
    parent = spec.get("parent", 0)
    if parent:
        if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            sys.exit(f"launcher: prctl(PR_SET_PDEATHSIG): {os.strerror(ctypes.get_errno())}")
        if os.getppid() != parent:
            sys.exit("launcher: the grader ended before the worker started")
    landlock.no_new_privileges()
    if ruleset is not None:
        landlock.enforce(ruleset)
    os.execv(command[0], command)


def run(argv: list[str]) -> None:
    """:func:`main`, ending with a one-line message (not a traceback) when a step fails."""
    try:
        main(argv)
    except (OSError, ValueError, KeyError) as exc:
        sys.exit(f"launcher: {exc}")
