"""The check registry: modules imported on demand, data sets declared by checks and loaded before a batch."""
import importlib
import subprocess
import sys
import textwrap

import pytest

from autograder.checks import REGISTRY, CheckContext
from autograder.checks.registry import datasets_needed, register
from autograder.grade import DataUnavailable, load_once, preload_data
from autograder.manifest import read_manifest
from autograder.units import Unit
from tests.course.conftest import REPO

COURSE = read_manifest()
A1_UNITS = [u for nb in COURSE.built_notebooks("a1") for u in nb.units]


def test_every_check_the_manifest_names_is_known_with_its_module_before_any_import():
    built = {name for u in A1_UNITS for name in u.checks}
    assert built <= set(REGISTRY) and all(REGISTRY.module_of(name) for name in built)
    assert REGISTRY.module_of("affine_forward") == "autograder.checks.layers"
    assert REGISTRY.module_of("no_such_check") is None and "no_such_check" not in REGISTRY


def test_each_topic_module_registers_exactly_the_checks_read_from_its_decorators():
    declared = {name: REGISTRY.module_of(name) for name in REGISTRY if REGISTRY.module_of(name)}
    for module in set(declared.values()):
        importlib.import_module(module)
    registered = {name: REGISTRY[name].__module__ for name in REGISTRY.datasets if REGISTRY[name].__module__.startswith("autograder.checks.")}
    assert registered == declared


def test_grading_a1_never_imports_torch_or_transformers():
    """In a fresh process: grade the code units of a correct a1 submission and look up every a1 check."""
    script = textwrap.dedent("""
        import sys, tempfile
        from pathlib import Path
        from autograder.checks import REGISTRY
        from autograder.checks.registry import datasets_needed
        from autograder.grade import grade_submission
        from autograder.manifest import read_manifest
        from autograder.options import GradingOptions
        from tests.autograder import notebooks

        course = read_manifest()
        units = [u for nb in course.built_notebooks("a1") for u in nb.units]
        assert all(REGISTRY[name] for u in units for name in u.checks)
        assert datasets_needed(units) == {"cifar10": ["a1-fc-best_model", "a1-cnn-one_epoch_model"]}
        tmp = Path(tempfile.mkdtemp())
        release = notebooks.write(notebooks.release_notebook(), tmp / "release" / "FullyConnectedNets.ipynb")
        submission = notebooks.write(notebooks.submission(), tmp / "alice" / "FullyConnectedNets.ipynb")
        result = grade_submission(submission, release, notebooks.CODE_UNITS, options=GradingOptions(request_timeout=10.0))
        assert result.score == sum(u.points for u in notebooks.CODE_UNITS), [(u.grade_id, u.message) for u in result.units]
        print(sorted(m for m in ("torch", "transformers") if m in sys.modules))
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_a_check_names_only_data_sets_that_have_a_loader():
    with pytest.raises(ValueError, match=r"check 'reads_imagenet' reads \['imagenet_val'\], which autograder/datasets.py does not know"):
        register("reads_imagenet", datasets=("imagenet_val",))


@register("test_registry_reads_cifar10", datasets=("cifar10",))
def _reads_cifar10(student, rng, context: CheckContext):
    return context.dataset("cifar10")


def test_a_batch_loads_exactly_the_data_sets_of_its_units_and_names_the_fix():
    reads = Unit("t-reads", 1, ("test_registry_reads_cifar10",))
    code = Unit("t-code", 1, ("affine_forward",))
    assert datasets_needed([code, reads]) == {"cifar10": ["t-reads"]}
    loads = []

    def missing():
        loads.append("cifar10")
        raise FileNotFoundError("no CIFAR-10 files in /data")
    preload_data([code], load_once({"cifar10": missing}))
    assert loads == []  # no unit reads it: nothing is loaded
    with pytest.raises(DataUnavailable, match=r"the held-out data set cifar10 for grading t-reads cannot be loaded: "
                                              r"no CIFAR-10 files in /data; get it with: python -m dl.data.download cifar10"):
        preload_data([code, reads], load_once({"cifar10": missing}))
    with pytest.raises(DataUnavailable, match=r"data set cifar10 for grading t-reads cannot be loaded: .*no source was given"):
        preload_data([reads], load_once({}))


def test_data_sets_load_once_and_reach_the_check_by_name():
    calls = []

    def source():
        calls.append(1)
        return {"X_val": [1, 2]}
    data = load_once({"cifar10": source})
    preload_data([Unit("t-reads", 1, ("test_registry_reads_cifar10",))], data)
    context = CheckContext(unit=Unit("t-reads", 1), data=data)
    assert REGISTRY["test_registry_reads_cifar10"](None, None, context) == {"X_val": [1, 2]}
    assert calls == [1]
    with pytest.raises(KeyError, match="no source for the data set 'mnist' that unit t-reads is graded on; known data sets: cifar10"):
        context.dataset("mnist")
