"""Hidden test cells for ``nbgrader autograde``: the same checks, run inside the student's kernel.

A generated test cell calls::

    from autograder.nbgrader_bridge import run_unit_checks
    run_unit_checks("a1-fc-affine_forward", globals())

The unit (its checks and, for artifact units, the artifact name) is looked up by grade id in the
course manifest, read by :mod:`autograder.manifest` from ``<repository>/course/manifest.toml``
by default; pass ``unit=`` or ``manifest=`` to avoid that look-up. The checks
talk to the kernel's functions through an in-process session that speaks the worker's protocol,
so inputs, outputs and comparisons are exactly those of the sandboxed grader. There is no
sandbox here: nbgrader's path exists for compatibility, and ``dl-course grade`` is the one to
trust. The call is the last line of the cell, so its value (the points earned) becomes the cell's
output, which nbgrader takes as the cell's partial credit: both graders give the same score. The
checks' message is printed to stdout for the feedback; nothing may go to stderr, which makes
nbgrader give the cell zero.

The kernel that runs a submission usually holds the *student edition* of ``dl`` (the copy in the
release folder, whose graded bodies are stubs), and so would every module imported from it. This
module therefore imports nothing from ``dl`` at import time, and :func:`run_unit_checks` runs the
checks inside :func:`reference_library`, which makes ``import dl`` give the reference library
installed beside this package and puts the kernel's own modules back afterwards.
"""
from __future__ import annotations

import contextlib
import io
import os
import sys
import warnings
from pathlib import Path

REFERENCE_ROOT = Path(__file__).resolve().parents[1]  # the folder holding both dl/ and autograder/
_SWAPPED = ("dl", "autograder")


def _is_swapped(name: str) -> bool:
    return any(name == top or name.startswith(top + ".") for top in _SWAPPED) and name != __name__


@contextlib.contextmanager
def reference_library():
    """Within the block, ``import dl`` (and the autograder's checks) use the reference library.

    Modules of ``dl`` and ``autograder`` already imported by the kernel are set aside and put back
    on exit, so the student's session continues with the library it had.
    """
    saved_modules = {name: module for name, module in sys.modules.items() if _is_swapped(name)}
    saved_path = list(sys.path)
    for name in saved_modules:
        del sys.modules[name]
    sys.path.insert(0, str(REFERENCE_ROOT))
    try:
        yield
    finally:
        for name in [n for n in sys.modules if _is_swapped(n)]:
            del sys.modules[name]
        sys.modules.update(saved_modules)
        sys.path[:] = saved_path


def in_process_student(namespace: dict):
    """A :class:`Student` whose requests are served by a :class:`~autograder.worker.Session` on ``namespace``.

    Requests and replies still go through :func:`protocol.pack` and :func:`protocol.unpack`, so
    the checks receive copies of the same plain values as from a worker.
    """
    from autograder import protocol
    from autograder.options import GradingOptions
    from autograder.student import Student
    from autograder.worker import Session

    session = Session(namespace)
    limits = protocol.Limits(max_bytes=GradingOptions().max_reply_mb * 2**20)
    return Student(lambda request: protocol.unpack(session.respond(protocol.pack(request)), limits))


def run_unit_checks(
    grade_id: str,
    namespace: dict,
    *,
    unit=None,
    manifest: str | os.PathLike | None = None,
    artifacts_dir: str | os.PathLike = "artifacts",
    data=None,
    seed: int | None = None,
) -> float:
    """Run the checks of unit ``grade_id`` against the definitions in ``namespace`` (a kernel's globals).

    Inputs:
    - unit: the :class:`~autograder.units.Unit`; default: looked up in the manifest.
    - data: data set name -> source of the held-out data checks read (default: the real loaders).
    - seed: base seed of the checks (default: ``GradingOptions.seed``).

    Returns the points earned, ``round(fraction * unit.points, 4)``, and prints the checks'
    message when they are below full marks. A unit whose names are not defined earns 0.
    """
    # Warnings and stderr output of the student's code during the checks (an overflow warning, a
    # debug print) are discarded: nbgrader would otherwise give the whole cell zero.
    with reference_library(), contextlib.redirect_stderr(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from autograder.checks import CheckContext, run_checks
        from autograder.manifest import find_unit
        from autograder.options import GradingOptions

        unit = unit or find_unit(grade_id, manifest)
        missing = [name for name in unit.names if name not in namespace]
        if missing:
            print(f"{grade_id}: 0 of {unit.points:g} points. `{missing[0]}` is not defined; run the cell that defines it")
            return 0.0
        student = in_process_student(namespace) if unit.names else None
        context = CheckContext(unit=unit, artifacts_dir=Path(artifacts_dir), data=data)
        outcome = run_checks(unit, student, context, GradingOptions.seed if seed is None else seed)
    points = round(outcome.score * unit.points, 4)
    if outcome.score < 1.0:
        print(f"{grade_id}: {points:g} of {unit.points:g} points. {outcome.message}")
    return points
