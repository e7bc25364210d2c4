"""The worker: its session (in process) and the worker process behind the protocol."""
import os
import time

import numpy as np
import pytest

from autograder.extraction import Program, ProgramCell
from autograder.nbgrader_bridge import in_process_student
from autograder.options import GradingOptions
from autograder.protocol import Handle
from autograder.runner import ProgramRunner, WorkerProcess
from autograder.student import StudentError, WorkerFailure

PROGRAM = '''
import numpy as np

def double(x, factor=2):
    return factor * x, {"input": x}

def unwrap(cache):
    return cache["input"]

class Box:
    def __init__(self, size):
        self.params = {"w": np.zeros(size)}
    def total(self):
        return float(self.params["w"].sum())

def bad():
    raise ValueError("broken on purpose")

def leave():
    import sys
    sys.exit(3)

def weird():
    return object()

def chatty(x):
    import os
    print("PASSED " * 10_000)
    os.write(1, b"fake reply" * 10_000)
    return x
'''


@pytest.fixture
def student():
    namespace = {}
    exec(compile(PROGRAM, "<test program>", "exec"), namespace)
    return in_process_student(namespace)


def test_call_store_pick_and_handles(student):
    x = np.arange(3.0)
    assert np.array_equal(student.call("double", x, reply=0), 2 * x)
    out = student.call("double", x, kwargs={"factor": 3}, store={"cache": 1})
    assert isinstance(out, tuple) and np.array_equal(out[0], 3 * x) and np.array_equal(out[1]["input"], x)
    assert np.array_equal(student.call("unwrap", Handle("cache")), x)  # the stored dict goes back in, by name
    student.call("Box", 4, store={"box": "all"}, reply="none")
    student.set_item(Handle("box"), "params", "w", np.ones(4))
    assert student.call_method(Handle("box"), "total") == 4.0
    assert np.array_equal(student.get_attr(Handle("box"), "params")["w"], np.ones(4))


def test_map_calls_once_per_row(student):
    rows = np.arange(6.0).reshape(3, 2)
    results = student.map("double", (None,), over=0, values=rows, reply=0)
    assert [r.tolist() for r in results] == (2 * rows).tolist()


@pytest.mark.parametrize("name, match", [
    ("bad", "bad raised ValueError: broken on purpose"),
    ("leave", "leave raised SystemExit: 3"),
    ("weird", "cannot receive"),
    ("missing", "NameError"),
])
def test_student_failures_become_student_errors(student, name, match):
    with pytest.raises(StudentError, match=match):
        student.call(name)


def test_pick_of_a_value_that_is_not_a_tuple(student):
    student.call("Box", 1, store={"box": "all"}, reply="none")
    with pytest.raises(StudentError, match="box.total returned a float; expected a tuple"):
        student.call_method(Handle("box"), "total", reply=1)


def test_exceptions_name_the_line_of_the_cell():
    runner_program = Program(cells=[ProgramCell("cell 3 of your notebook", "x = 1\ny = undefined_name\n", ("u",))])
    runner = ProgramRunner(runner_program, ["x", "y"], GradingOptions())
    try:
        runner.ensure_loaded()
        assert runner.cell_errors == {"cell 3 of your notebook": "NameError: name 'undefined_name' is not defined (line 2 of cell 3 of your notebook)"}
        assert runner.defined == {"x"}
    finally:
        runner.close()


def _runner(source: str, options=GradingOptions(request_timeout=2.0, cell_timeout=2.0)) -> ProgramRunner:
    cells = [ProgramCell(f"cell {i}", part, (f"u{i}",)) for i, part in enumerate(source.split("# ---\n"))]
    runner = ProgramRunner(Program(cells=cells), ["double", "chatty", "spin", "die", "after"], options)
    runner.ensure_loaded()
    return runner


def test_the_worker_process_serves_requests_and_survives_student_output():
    runner = _runner(PROGRAM)
    try:
        student = runner.student()
        x = np.linspace(0, 1, 5)
        assert np.array_equal(student.call("chatty", x), x)  # prints and writes to fd 1 go nowhere
        assert np.array_equal(student.call("double", x, reply=0), 2 * x)
        with pytest.raises(StudentError, match="SystemExit"):
            student.call("leave")
        assert np.array_equal(student.call("double", x, reply=0), 2 * x)  # still serving
    finally:
        runner.close()


def test_a_hanging_call_times_out_and_a_fresh_worker_takes_over():
    runner = _runner(PROGRAM + "\ndef spin():\n    while True:\n        pass\n")
    try:
        started = time.monotonic()
        with pytest.raises(WorkerFailure, match="no answer within 2 s"):
            runner.student().call("spin")
        assert time.monotonic() - started < 5
        runner.ensure_loaded()
        assert runner.student().call("double", 1.0, reply=0) == 2.0
    finally:
        runner.close()


def test_a_worker_that_exits_or_sends_too_much_fails_the_request():
    source = PROGRAM + "\ndef die():\n    import os\n    os._exit(0)\n\ndef huge():\n    return np.zeros(2 * 2**20)\n"
    runner = _runner(source, GradingOptions(request_timeout=5.0, max_reply_mb=1))
    try:
        with pytest.raises(WorkerFailure, match="stopped"):
            runner.student().call("die")
        runner.ensure_loaded()
        with pytest.raises(WorkerFailure, match="over the"):
            runner.student().call("huge")
    finally:
        runner.close()


def test_cells_that_hang_exit_or_raise_while_loading_cost_only_themselves():
    """Each such cell is recorded and skipped; the cells after it still load."""
    source = ("def double(x):\n    return 2 * x\n# ---\n"
              "while True:\n    pass\n# ---\n"
              "import sys\nsys.exit('bye')\n# ---\n"
              "import os\nos._exit(1)\n# ---\n"
              "def after():\n    return 1\n")
    runner = _runner(source)
    try:
        assert runner.defined == {"double", "after"}
        assert "no answer within 2 s" in runner.cell_errors["cell 1"]
        assert runner.cell_errors["cell 2"] == "SystemExit: bye (line 2 of cell 2)"
        assert "stopped" in runner.cell_errors["cell 3"]
        assert runner.student().call("after") == 1
    finally:
        runner.close()


def test_worker_environment_is_private():
    source = ("import os, sys\n"
              "def where():\n    return [os.getcwd(), sorted(os.environ), sys.stdout.__class__.__name__]\n")
    runner = ProgramRunner(Program(cells=[ProgramCell("c", source, ("u",))]), ["where"], GradingOptions())
    try:
        runner.ensure_loaded()
        cwd, env, stdout = runner.student().call("where")
        assert "dl-grade-" in cwd and stdout == "_Sink"
        assert not [k for k in env if "TOKEN" in k or "SECRET" in k or k.startswith("PYTEST")]
    finally:
        runner.close()


def test_worker_process_refuses_to_start_with_a_broken_interpreter(monkeypatch):
    monkeypatch.setattr("autograder.runner.sys.executable", "/nonexistent/python")
    from autograder.runner import WorkerStartError
    with pytest.raises(WorkerStartError):
        WorkerProcess(GradingOptions()).start()


def test_replacing_numpys_writers_in_student_code_does_not_change_replies():
    source = ("import numpy as np\nnp.lib.format.write_array = None\nnp.save = np.load = None\n"
              "def double(x):\n    return np.ones(2) * x\n")
    runner = _runner(source)
    try:
        assert runner.student().call("double", 3.0).tolist() == [3.0, 3.0]
    finally:
        runner.close()


def test_library_path_decides_which_dl_student_code_imports(tmp_path):
    """Pointed at a release folder, ``import dl`` finds the student edition, not the reference."""
    (tmp_path / "dl").mkdir()
    (tmp_path / "dl" / "__init__.py").write_text("EDITION = 'student edition'\n")
    source = "import dl\ndef double():\n    return dl.EDITION\n"
    runner = _runner(source, GradingOptions(library_path=str(tmp_path)))
    try:
        assert runner.student().call("double") == "student edition"
    finally:
        runner.close()


def test_the_memory_limit_turns_a_huge_allocation_into_an_error():
    # 3 GiB of untouched memory: allocated without a limit, refused under a 2 GiB address-space limit
    source = "import numpy as np\ndef double():\n    return np.empty(3 * 2**30, dtype=np.uint8).shape\n"
    runner = _runner(source, GradingOptions(memory_mb=2048))
    try:
        with pytest.raises(StudentError, match="MemoryError"):
            runner.student().call("double")
    finally:
        runner.close()


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as f:
            return "\nState:\tZ" not in f.read()
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc")
def test_processes_started_by_student_code_end_with_the_worker():
    source = "import subprocess\ndef double():\n    return subprocess.Popen(['sleep', '60']).pid\n"
    # Without the sandbox, so that the pid the student code sees is the host's (the sandboxed
    # case, with its own PID namespace, is in test_sandbox.py).
    runner = _runner(source, GradingOptions(request_timeout=2.0, cell_timeout=2.0, sandbox="none"))
    pid = runner.student().call("double")
    assert _running(pid)
    runner.close()
    deadline = time.monotonic() + 5
    while _running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(pid)


def test_a_unit_has_a_total_time_budget():
    runner = _runner("import time\ndef double():\n    time.sleep(0.4)\n", GradingOptions(unit_timeout=1.0))
    try:
        runner.start_unit()
        student = runner.student()
        with pytest.raises(WorkerFailure, match="took longer than 1 s in all"):
            for _ in range(5):
                student.call("double")
    finally:
        runner.close()


def test_garbage_written_to_the_protocol_channel_fails_only_that_request():
    source = ("import os\n"
              "def double():\n"
              "    for fd in range(3, 10):\n"
              "        try:\n"
              "            os.write(fd, b'JUNK' * 64)\n"
              "        except OSError:\n"
              "            pass\n"
              "    return 1\n"
              "def after():\n    return 2\n")
    runner = _runner(source)
    try:
        with pytest.raises(WorkerFailure, match="unusable answer"):
            runner.student().call("double")
        runner.ensure_loaded()
        assert runner.student().call("after") == 2
    finally:
        runner.close()


def test_a_well_formed_forged_reply_is_refused_every_time():
    # The forged frame reaches the channel before the real reply; only the request id tells them apart.
    source = ("import os\nfrom autograder import protocol\n"
              "FAKE = protocol.pack({'ok': True, 'value': 42})\n"
              "def double():\n"
              "    for fd in range(1, 20):\n"
              "        try:\n"
              "            os.write(fd, FAKE)\n"
              "        except OSError:\n"
              "            pass\n"
              "    return 1\n"
              "def after():\n    return 2\n")
    runner = _runner(source)
    try:
        for _ in range(3):
            with pytest.raises(WorkerFailure, match="wrote to the grader's channel"):
                runner.student().call("double")
            runner.ensure_loaded()
        assert runner.student().call("after") == 2
    finally:
        runner.close()


def test_long_exception_messages_are_truncated():
    namespace = {}
    exec("def shout():\n    raise ValueError('x' * 100_000)\n", namespace)
    with pytest.raises(StudentError) as info:
        in_process_student(namespace).call("shout")
    assert len(str(info.value)) < 700 and "(truncated)" in str(info.value)
