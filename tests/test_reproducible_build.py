"""The build writes the same bytes whatever BLAS kernel and thread count compute the expected values.

OpenBLAS picks its kernel when it is loaded (``OPENBLAS_CORETYPE`` overrides the choice), so each
build runs in a fresh interpreter. Unrounded, the expected values of FullyConnectedNets and
BatchNormalization differ in their last bits between these kernels.
"""
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

BUILD = """\
import hashlib, json
from course.build.pipeline import notebook_outputs, student_dl_outputs
from course.manifest import load_manifest
try:
    from threadpoolctl import threadpool_info
    kernel = [i.get("architecture") for i in threadpool_info() if i.get("internal_api") == "openblas"]
except ImportError:
    kernel = []
course = load_manifest(".")
outputs = {}
for notebook in course.built_notebooks():
    outputs.update(notebook_outputs(course, notebook))
for assignment in dict.fromkeys(nb.assignment for nb in course.built_notebooks()):
    outputs.update(student_dl_outputs(course, assignment))
print(json.dumps({"kernel": kernel, "files": {k: hashlib.sha256(v).hexdigest() for k, v in outputs.items()}}))
"""

KERNELS = [("Haswell", "1"), ("SkylakeX", "2")]  # Sandybridge differs too, and costs another build


def build_with(coretype: str, threads: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENBLAS_", "OMP_", "MKL_"))}
    env.update(OPENBLAS_CORETYPE=coretype, OPENBLAS_NUM_THREADS=threads, PYTHONDONTWRITEBYTECODE="1")
    done = subprocess.run([sys.executable, "-c", BUILD], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


def test_every_blas_kernel_builds_the_committed_files():
    builds = {kernel: build_with(kernel, threads) for kernel, threads in KERNELS}
    used = {tuple(b["kernel"]) for b in builds.values()}
    if len(used) < 2:
        pytest.skip(f"OpenBLAS ran the same kernel for every OPENBLAS_CORETYPE here ({used}); nothing to compare")
    first = builds["Haswell"]["files"]
    for kernel, build in builds.items():
        assert build["files"] == first, f"OPENBLAS_CORETYPE={kernel} builds different files"
    committed = {rel: hashlib.sha256((ROOT / rel).read_bytes()).hexdigest() if (ROOT / rel).is_file() else None
                 for rel in first}
    assert committed == first, "the committed files differ from the build: run `dl-course build`"
