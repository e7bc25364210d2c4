"""A tiny course built inside each test: a manifest and a notebook source in ``tmp_path``.

It references real ``dl`` objects, so the build inlines real reference code and the release
stubs real solution regions. Assignment t2 reveals t1.
"""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from course.build.context import BuildContext
from course.build.read_source import read_source
from course.manifest import load_manifest

REPO = Path(__file__).resolve().parents[2]

MANIFEST = '''\
[course]
id = "tiny"

[assignments.t1]
title = "Tiny"
notebooks = ["Tiny"]
reveals = []

[assignments.t2]
title = "Later"
notebooks = ["Later"]
reveals = ["t1"]

[notebooks.Tiny]
assignment = "t1"
short = "tiny"

[[notebooks.Tiny.units]]
grade_id = "t1-tiny-relu_forward"
points = 1
reference = "dl.layers:relu_forward"
checks = ["relu_forward"]

[[notebooks.Tiny.units]]
grade_id = "t1-tiny-affine_forward"
points = 2
reference = "dl.layers:affine_forward"
checks = ["affine_forward"]

[[notebooks.Tiny.units]]
grade_id = "t1-tiny-best"
points = 3
artifact = "t1_best"
checks = ["best_accuracy"]

[[notebooks.Tiny.questions]]
grade_id = "t1-tiny-q1"
points = 1

[notebooks.Later]
assignment = "t2"
short = "later"

[[notebooks.Later.units]]
grade_id = "t2-later-softmax_loss"
points = 4
reference = "dl.layers:softmax_loss"
checks = ["softmax_loss"]
'''

TINY = '''\
# %% [markdown]
# # A tiny notebook

# %% role="setup"
import numpy as np
from dl.gradcheck import rel_error

DATA = np.load("missing.npy")  # data loading: the build never runs it

# %% unit="t1-tiny-relu_forward"
# The build inlines the reference here.

# %% unit="t1-tiny-affine_forward"

# %% provide="dl.layer_utils:affine_relu_forward"

# %% role="check"
x = np.linspace(-0.5, 0.5, num=6).reshape(2, 3)
w = np.linspace(-0.2, 0.3, num=12).reshape(3, 4)
b = np.linspace(-0.1, 0.1, num=4)
out, _ = affine_relu_forward(x, w, b)
print("difference:", rel_error(out, reference_value(affine_relu_forward(x, w, b)[0])))  # tiny

# %% tests="t1-tiny-relu_forward"

# %% tests="t1-tiny-affine_forward"

# %% unit="t1-tiny-best"
learning_rate = None
### BEGIN SOLUTION
learning_rate = 1e-3
### END SOLUTION

# %% role="exercise"
### BEGIN SOLUTION
weight_scale = 1e-2
### END SOLUTION

# %% [markdown] question="t1-tiny-q1"
# The model answer.
'''

LATER = '''\
# %% role="setup"
import numpy as np

# %% unit="t2-later-softmax_loss"

# %% role="check"
np.random.seed(0)
x = np.random.randn(3, 4)
y = np.array([0, 1, 3])
expected = reference_value(softmax_loss(x, y)[0])

# %% tests="t2-later-softmax_loss"
'''


def write_course(root: Path, manifest: str = MANIFEST, sources: dict[str, str] | None = None) -> Path:
    """Write course/manifest.toml, the sources (name -> text; default Tiny and Later), and copy the
    students' README template and nbgrader_config.py of this repository."""
    sources = {"t1/Tiny": TINY, "t2/Later": LATER} if sources is None else sources
    (root / "course").mkdir(parents=True, exist_ok=True)
    (root / "course" / "manifest.toml").write_text(manifest)
    for name, text in sources.items():
        path = root / "course" / f"{name}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    for name in ("nbgrader_config.py", "course/student_readme.md"):
        (root / name).write_text((REPO / name).read_text())
    return root


@pytest.fixture
def course_root(tmp_path) -> Path:
    return write_course(tmp_path)


@pytest.fixture
def course(course_root):
    return load_manifest(course_root)


def source_notebook(course, name: str = "Tiny", text: str | None = None):
    """(notebook, context) as the pipeline has them after reading the source."""
    ctx = BuildContext(course, course.notebooks[name])
    nb, ctx.lines = read_source(text if text is not None else ctx.source_path.read_text())
    return nb, ctx


def run_steps(nb, ctx, steps):
    for step in steps:
        nb = step(nb, ctx)
    return nb
