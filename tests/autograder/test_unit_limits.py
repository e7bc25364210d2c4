"""Per-unit limits from the manifest (``time_limit_s``, ``memory_mb``) replace the grader's defaults for that unit only."""
import nbformat

from autograder.checks import CheckContext, CheckResult, register
from autograder.grade import grade_submission
from autograder.options import GradingOptions
from autograder.units import Unit
from tests.autograder import notebooks

OPTIONS = GradingOptions(request_timeout=5.0, unit_timeout=10.0, cell_timeout=10.0)

SOURCES = {
    "slow": "import time\ndef slow():\n    time.sleep(4)\n    return 1\n",
    "slow_too": "import time\ndef slow_too():\n    time.sleep(4)\n    return 1\n",
    "quick": "def quick():\n    return 2\n",
    "memory_limit": "import resource\ndef memory_limit():\n    return resource.getrlimit(resource.RLIMIT_AS)[0]\n",
    "memory_limit_before": "import resource\ndef memory_limit_before():\n    return resource.getrlimit(resource.RLIMIT_AS)[0]\n",
    "memory_limit_after": "import resource\ndef memory_limit_after():\n    return resource.getrlimit(resource.RLIMIT_AS)[0]\n",
}


@register("test_limits_call")
def _call(student, rng, context: CheckContext) -> CheckResult:
    """Calls the unit's function and reports what it returned."""
    return CheckResult("passed", 1.0, f"returned {student.call(context.unit.names[0])}")


def unit(name: str, **limits) -> Unit:
    return Unit(f"t-{name}", 1, ("test_limits_call",), reference=f"dl.limits:{name}", **limits)


def grade(tmp_path, units: list[Unit]):
    """Grade a notebook whose answer cells define the units' functions (the release has stubs)."""
    def notebook(answered: bool):
        nb = nbformat.v4.new_notebook()
        nb.cells = [notebooks._cell("code", "import numpy as np", "setup")]
        for u in units:
            body = SOURCES[u.names[0]] if answered else f"def {u.names[0]}():\n    raise NotImplementedError\n"
            nb.cells.append(notebooks._unit_cell(u, body))
        return nb
    release = notebooks.write(notebook(False), tmp_path / "release" / "Limits.ipynb")
    submission = notebooks.write(notebook(True), tmp_path / "alice" / "Limits.ipynb")
    result = grade_submission(submission, release, units, options=OPTIONS)
    return {u.grade_id: u for u in result.units}


def test_a_unit_with_a_small_time_limit_times_out_while_the_others_keep_the_defaults(tmp_path):
    results = grade(tmp_path, [unit("slow", time_limit_s=1.0), unit("quick"), unit("slow_too")])
    assert results["t-slow"].score == 0 and "took longer than 1 s in all" in results["t-slow"].message
    assert results["t-quick"].score == 1 and results["t-quick"].message == "returned 2"
    assert results["t-slow_too"].score == 1 and results["t-slow_too"].message == "returned 1"  # 4 s is within the default 5 s


def test_a_unit_with_a_memory_limit_is_graded_in_a_worker_started_with_it(tmp_path):
    results = grade(tmp_path, [unit("memory_limit_before"), unit("memory_limit", memory_mb=3000), unit("memory_limit_after")])
    assert results["t-memory_limit"].message == f"returned {3000 * 2**20}"
    assert results["t-memory_limit_before"].message == results["t-memory_limit_after"].message == f"returned {OPTIONS.memory_mb * 2**20}"


def test_options_for_a_unit():
    assert OPTIONS.for_unit(unit("quick")) is OPTIONS
    timed = OPTIONS.for_unit(unit("quick", time_limit_s=120.0))
    assert (timed.unit_timeout, timed.request_timeout, timed.memory_mb) == (120.0, 120.0, OPTIONS.memory_mb)
    big = OPTIONS.for_unit(unit("quick", memory_mb=8192))
    assert (big.memory_mb, big.submission_memory_mb, big.unit_timeout) == (8192, 8192, OPTIONS.unit_timeout)
    small = OPTIONS.for_unit(unit("quick", memory_mb=1024))
    assert (small.memory_mb, small.submission_memory_mb) == (1024, OPTIONS.submission_memory_mb)
