"""Small helpers every notebook uses: seeding, device choice, smoke mode and a timer.

This module is deliberately short (CURRICULUM §1.1): anything that is a concept of its own
gets a module named after it.
"""
from __future__ import annotations

import os
import random
import time

import numpy as np

SMOKE_ENV = "DL_SMOKE"


def smoke_mode() -> bool:
    """True when the environment variable ``DL_SMOKE`` is set to a true value (1, true, yes, on).

    Smoke mode shrinks the work (datasets become small generated files in the real formats,
    epochs and sweeps are capped) so that every notebook runs on a CPU in about a minute. It never
    changes what the code computes. Read it at the edge (a notebook cell, a data-set default) and
    pass the resulting sizes down explicitly.
    """
    return os.environ.get(SMOKE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def reset_seed(seed: int) -> None:
    """Seed Python's ``random``, numpy's global RNG and torch (CPU and every CUDA device).

    torch is seeded only if it is installed, so numpy-only code does not need it.
    """
    random.seed(seed)
    np.random.seed(seed)
    try:
        import torch
    except ImportError:
        return
    torch.manual_seed(seed)  # also seeds every CUDA device


def seeded_generator(seed: int):
    """A CPU ``torch.Generator`` seeded with ``seed``, independent of the global RNG.

    Give it to whatever draws random numbers that a check or a result must reproduce (a
    ``SubsetRandomSampler``, ``torch.randn(..., generator=g)``), so that the numbers do not
    depend on how many were drawn before (CURRICULUM §2.3, §11 items 3 and 7).
    """
    import torch

    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


def get_device(double: bool = False):
    """The best available torch device: CUDA, then Apple MPS, then CPU.

    With ``double=True`` return CPU whenever the best device is MPS, which has no float64
    (gradient checks run in float64, on the CPU: CURRICULUM §2.4).
    """
    import torch

    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("cpu" if double else "mps")
    return torch.device("cpu")


class Timer:
    """Context manager measuring wall-clock time with ``time.perf_counter``.

    >>> with Timer() as t:
    ...     pass
    >>> t.elapsed >= 0
    True
    """

    def __enter__(self) -> "Timer":
        self.start = time.perf_counter()
        self.elapsed = 0.0
        return self

    def __exit__(self, *exc) -> None:
        self.elapsed = time.perf_counter() - self.start
