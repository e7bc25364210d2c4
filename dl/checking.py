"""What a check says when an output is off: one phrasing for the notebooks and the grader.

A shape mismatch is phrased by :func:`shape_mismatch` everywhere: the notebooks' visible checks
(:func:`check_close`), the grader's messages (``autograder.checks.compare``) and the shape checks
of functions imported from an earlier notebook (:mod:`dl.notebook_import`), so a student reads
the same sentence wherever the same mistake shows up::

    dx has shape (10, 6); expected (10, 2, 3), the shape of x
"""
from __future__ import annotations

import numpy as np

from dl.gradcheck import rel_error


def shape_mismatch(name: str, shape: tuple, expected: tuple, like: str | None = None) -> str | None:
    """None when ``shape == expected``; else ``"dx has shape (10, 6); expected (10, 2, 3), the shape of x"``.

    Inputs:
    - name: what has the shape (``"dx"``).
    - shape, expected: the shape it has and the one it should have (any sequences of ints).
    - like: the name of what ``expected`` is the shape of (``"x"``), if anything.
    """
    shape, expected = tuple(int(n) for n in shape), tuple(int(n) for n in expected)
    if shape == expected:
        return None
    return f"{name} has shape {shape}; expected {expected}" + (f", the shape of {like}" if like else "")


def check_close(name: str, got, expected, like: str | None = None, label: str | None = None) -> float | None:
    """Print the relative error of a student's output, or what is wrong with its shape.

    For a visible check cell: ``check_close("dx", dx, dx_num, like="x")`` prints
    ``dx error: 1.2e-10`` (``<label> <rel_error(got, expected)>``) when the shapes agree, and
    ``dx has shape (10, 6); expected (10, 2, 3), the shape of x`` when they do not.

    Inputs:
    - name: what the student computed (``"dx"``), for the shape message.
    - got: the student's output: a numpy array, torch tensor or number.
    - expected: the value to compare with (reference literal or numerical gradient), any shape.
    - like: what ``expected`` has the shape of (``"x"`` for a gradient of x), for the message.
    - label: the start of the printed line; default ``"<name> error:"``.

    Returns:
    - the element-wise relative error (:func:`dl.gradcheck.rel_error`), or None when ``got`` has
      the wrong shape or is not numeric.
    """
    expected_shape = tuple(np.shape(expected))
    if not (hasattr(got, "shape") or isinstance(got, (int, float))):  # None, a tuple, a list, ...
        kind = "None" if got is None else f"a {type(got).__name__}"
        print(f"{name} is {kind}; expected an array of shape {expected_shape}" + (f", the shape of {like}" if like else ""))
        return None
    problem = shape_mismatch(name, np.shape(got), expected_shape, like)
    if problem:
        print(problem)
        return None
    error = rel_error(got, expected)
    print(label or f"{name} error:", error)
    return error
