"""Tables of realistic bugs and of correct variants, one module per notebook, graded in-process.

A :class:`Variant` is a submission that differs from the reference in one place: its ``sources``
are definitions (a function or class, usually the reference's with one edit, made by
:func:`edit`) run after the notebook's reference program (:func:`program`), which they replace.
A bug names the unit it is in; the tests (``tests/autograder/test_bug_tables.py``) assert that
its unit loses at least a quarter of its points with a message containing ``words``, and that
every other unit of the notebook keeps full marks (one bug, one charge). A correct variant keeps
full marks on every unit. ``benchmarks/sensitivity.py`` prints the share of bugs caught and the
points they cost, per unit.

The table of notebook ``N`` is the module ``tests.autograder.bug_tables.<short name>`` with
lists ``BUGS`` and ``CORRECT``.
"""
from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from functools import cache

from autograder.checks import REGISTRY, CheckContext, UnitOutcome, run_checks
from autograder.manifest import read_manifest
from autograder.nbgrader_bridge import in_process_student
from autograder.units import Unit
from dl import fast_layers, layer_utils
from tests.autograder.notebooks import MARKER_LINE, replace_once

LOSES_AT_LEAST = 0.25  # the share of its unit's points a bug must cost


@dataclass(frozen=True)
class Variant:
    """A submission that differs from the reference in one place.

    - unit: grade id of the unit whose code changed.
    - name: what the change is (``"db averaged over the batch"``).
    - sources: definitions run after the reference program, replacing what they redefine.
    - words: what a bug's message must contain (e.g. the likely bug named); empty for a correct variant.
    """

    unit: str
    name: str
    sources: tuple[str, ...]
    words: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"{self.unit}: {self.name}"


def reference_object(reference: str):
    """The object a manifest ``reference`` (``"dl.layers:affine_forward"``, ``"module:Class.method"``) names; a class for a method."""
    module, _, name = reference.partition(":")
    return getattr(importlib.import_module(module), name.split(".")[0])


def source(obj_or_reference) -> str:
    """The reference source of a function or class (or a manifest reference), solution markers removed."""
    obj = reference_object(obj_or_reference) if isinstance(obj_or_reference, str) else obj_or_reference
    return MARKER_LINE.sub("", inspect.getsource(obj))


def edit(obj_or_reference, *replacements: tuple[str, str]) -> str:
    """The reference source of a function or class with each ``(old, new)`` made once (``old`` found exactly once)."""
    text = source(obj_or_reference)
    for old, new in replacements:
        text = replace_once(text, old, new)
    return text


@cache
def notebook_units(notebook: str) -> tuple[Unit, ...]:
    """The code units of ``notebook`` graded on code alone, in manifest order: not artifact units, nor
    units whose checks read a data set (a saved model rebuilt by a graded builder, such as the
    PyTorch challenge, is graded by its artifact's tests)."""
    return tuple(u for u in read_manifest().notebooks[notebook].units
                 if u.reference and not any(REGISTRY.datasets_of(check) for check in u.checks))


def numpy_prelude() -> list[str]:
    """What a1's notebooks import or provide: numpy, the fast layers and the sandwich layers of
    :mod:`dl.layer_utils` (as sources, so that they call the layer functions defined after them)."""
    parts = ["import numpy as np", f"from {fast_layers.__name__} import *"]
    return parts + [source(obj) for obj in vars(layer_utils).values() if inspect.isfunction(obj) and obj.__module__ == layer_utils.__name__]


# What a notebook's setup cell imports that its units and checks use, for notebooks other than a1's.
PRELUDES = {
    "NetworkVisualization": ["import torch", "from torch import nn", "from dl.netvis import SmallConvNet"],
    "PyTorch": ["import torch", "import torch.nn as nn", "import torch.nn.functional as F", "import torch.optim as optim",
                "from dl.nn.basics import Flatten, flatten, random_weight, zero_weight"],
}


@cache
def program(notebook: str) -> str:
    """The reference program of a kernel that ran ``notebook``'s answer cells.

    The notebook's prelude (:data:`PRELUDES`, else :func:`numpy_prelude`), then the reference
    source of every unit of the notebooks it uses and of itself.
    """
    manifest = read_manifest()
    parts = list(PRELUDES[notebook]) if notebook in PRELUDES else numpy_prelude()
    seen: set[str] = set()
    for name in [*manifest.notebooks[notebook].uses, notebook]:
        for unit in notebook_units(name):
            top = unit.reference.partition(":")[2].split(".")[0]
            if top not in seen:
                seen.add(top)
                parts.append(source(unit.reference))
    return "\n\n".join(parts)


def grade(notebook: str, sources: tuple[str, ...] = (), grade_ids: tuple[str, ...] | None = None,
          seed: int = 0) -> dict[str, UnitOutcome]:
    """Grade units of ``notebook`` (all code units by default) in a namespace of the reference program plus ``sources``."""
    namespace: dict = {}
    exec("\n\n".join([program(notebook), *sources]), namespace)
    student = in_process_student(namespace)
    units = [u for u in notebook_units(notebook) if grade_ids is None or u.grade_id in grade_ids]
    return {u.grade_id: run_checks(u, student, CheckContext(unit=u), seed) for u in units}


TABLES = {"FullyConnectedNets": "fc", "BatchNormalization": "bn", "Dropout": "dropout", "ConvolutionalNetworks": "cnn",
          "NetworkVisualization": "nv", "PyTorch": "pt"}


def table(notebook: str):
    """The module holding ``notebook``'s ``BUGS`` and ``CORRECT``."""
    return importlib.import_module(f"{__name__}.{TABLES[notebook]}")


def variants(kind: str) -> list[tuple[str, Variant]]:
    """``(notebook, variant)`` of every table's ``BUGS`` or ``CORRECT`` (``kind``), tables in course order."""
    found = []
    for notebook in TABLES:
        try:
            module = table(notebook)
        except ModuleNotFoundError:
            continue
        found += [(notebook, v) for v in getattr(module, kind)]
    return found
