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
from tests.autograder import torch_memory_mb

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


# --------------------------------------------------------------------------------------------
# torch units: modules, forward passes and vector-Jacobian products by the worker's own code

TORCH_PROGRAM = '''
import os
import torch
import torch.nn as nn

class Net(nn.Module):
    def __init__(self, d=3, h=4):
        super().__init__()
        self.fc = nn.Linear(d, h)
        self.bn = nn.BatchNorm1d(h)

    def forward(self, x):
        return self.bn(torch.tanh(self.fc(x)))

def scaled(x, ws):
    return torch.tanh(x @ ws[0]) * ws[1]

class Sub(torch.Tensor):
    pass

class Returns(Net):
    """forward returns what ``kind`` says: a lie of some sort."""
    def __init__(self, kind):
        super().__init__()
        self.kind = kind
        if kind == "hooked parameter":
            self.fc.weight.register_hook(lambda g: g * 0)

    def forward(self, x):
        y = super().forward(x)
        if self.kind == "dict":
            return {"scores": y}
        if self.kind == "subclass":
            return y.as_subclass(Sub)
        if self.kind == "hooked output":
            y.register_hook(lambda g: g * 0)
        if self.kind == "hooked input":
            x.register_hook(lambda g: g * 0)
        if self.kind == "detached":
            return y.detach()
        if self.kind == "float32":
            return y.float()
        if self.kind == "wrong shape":
            return y[:, :2]
        return y

class Frozen(Net):
    def __init__(self):
        super().__init__()
        self.fc.weight.requires_grad_(False)

def set_threads(n):
    torch.set_num_threads(n)

class Threads(nn.Module):
    def forward(self, x):
        return torch.full((1,), float(torch.get_num_threads()))

class Hog(nn.Module):
    """forward touches ``gib`` GiB."""
    def __init__(self, gib):
        super().__init__()
        self.size = int(gib * 2**30)

    def forward(self, x):
        return torch.ones(self.size, dtype=torch.uint8).sum().reshape(1).float()

def net_and_optimizer():
    net = Net()
    return net, torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, nesterov=True)

def torch_threads():
    return torch.get_num_threads(), torch.get_num_interop_threads(), os.environ.get("OMP_NUM_THREADS")
'''


@pytest.fixture
def torch_student():
    import torch  # noqa: F401  (the kernel of nbgrader autograde has it imported)
    namespace = {"__name__": "student_program"}
    exec(compile(TORCH_PROGRAM, "<test program>", "exec"), namespace)
    return in_process_student(namespace)


def _reference_net(state, dtype):
    """The reference of the program's ``Net`` (written here again), holding ``state``."""
    import torch
    from torch import nn

    class Reference(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc, self.bn = nn.Linear(3, 4), nn.BatchNorm1d(4)

        def forward(self, x):
            return self.bn(torch.tanh(self.fc(x)))

    net = Reference().to(dtype)
    net.load_state_dict(state)
    return net


def _random_state(student, handle, seed: int) -> dict:
    """Values for every parameter and buffer of the stored module, chosen here (float64)."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    state = {name: torch.randn(info["shape"], generator=generator, dtype=torch.float64) if info["dtype"] != "int64"
             else torch.tensor(5) for name, info in student.tensor_info(handle).items()}
    state["bn.running_var"] = state["bn.running_var"].abs() + 0.5
    return state


def test_a_module_is_built_loaded_and_run_in_train_and_eval_mode(torch_student):
    import torch

    torch_student.call("Net", kwargs={"d": 3, "h": 4}, store={"net": "all"}, reply="none")
    net = Handle("net")
    state = _random_state(torch_student, net, 1)
    assert torch_student.prepare_module(net, dtype=torch.float64, state=state) == {}
    x = torch.randn(6, 3, dtype=torch.float64)
    for train in (False, True):
        reference = _reference_net(state, torch.float64).train(train)
        got = torch_student.forward(net, x, train=train)
        expected = reference(x).detach()
        assert type(got) is torch.Tensor and got.dtype == torch.float64 and torch.allclose(got, expected, atol=1e-12), train
    eval_out, train_out = torch_student.forward(net, x, train=False), torch_student.forward(net, x, train=True)
    assert (eval_out - train_out).abs().max() > 1e-3  # the batch norm tells the modes apart
    missing = torch_student.prepare_module(net, state={"fc.weight": state["fc.weight"]}, strict=False)
    assert "bn.running_mean" in missing["missing"] and missing["unexpected"] == []
    with pytest.raises(StudentError, match="Missing key"):
        torch_student.prepare_module(net, state={"fc.weight": state["fc.weight"]})


def test_vjp_of_a_module_matches_autograd_on_the_reference(torch_student):
    import torch

    torch_student.call("Net", store={"net": "all"}, reply="none")
    net = Handle("net")
    torch_student.prepare_module(net, dtype=torch.float64)
    state = _random_state(torch_student, net, 2)
    torch_student.prepare_module(net, state=state)
    x, upstream = torch.randn(5, 3, dtype=torch.float64), torch.randn(5, 4, dtype=torch.float64)
    for train in (False, True):
        reference = _reference_net(state, torch.float64).train(train)
        got = torch_student.vjp(net, (x,), upstream, wrt=("inputs", "params"), train=train)
        xx = x.clone().requires_grad_(True)
        out = reference(xx)
        (out * upstream).sum().backward()
        assert torch.allclose(got["output"], out.detach(), atol=1e-12)
        assert torch.allclose(got["inputs"][0], xx.grad, atol=1e-12)
        assert list(got["params"]) == [name for name, _ in reference.named_parameters()]
        for name, p in reference.named_parameters():
            assert torch.allclose(got["params"][name], p.grad, atol=1e-12), (train, name)
    only_params = torch_student.vjp(net, (x,), upstream, wrt=("params",))
    assert only_params["inputs"] == [] and set(only_params["params"]) == {"fc.weight", "fc.bias", "bn.weight", "bn.bias"}


def test_vjp_of_a_function_differentiates_lists_of_tensors_and_chosen_arguments(torch_student):
    import torch

    torch.manual_seed(3)
    x, w0, w1 = (torch.randn(*s, dtype=torch.float64) for s in ((4, 3), (3, 5), (5,)))
    upstream = torch.randn(4, 5, dtype=torch.float64)
    got = torch_student.vjp("scaled", (x, [w0, w1]), upstream)
    leaves = [t.clone().requires_grad_(True) for t in (x, w0, w1)]
    (torch.tanh(leaves[0] @ leaves[1]) * leaves[2] * upstream).sum().backward()
    assert torch.allclose(got["inputs"][0], leaves[0].grad) and len(got["inputs"][1]) == 2
    assert all(torch.allclose(g, leaf.grad) for g, leaf in zip(got["inputs"][1], leaves[1:]))
    only_x = torch_student.vjp("scaled", (x, [w0, w1]), upstream, inputs=[0])
    assert len(only_x["inputs"]) == 1 and torch.allclose(only_x["inputs"][0], leaves[0].grad)
    with pytest.raises(StudentError, match="no parameters"):
        torch_student.vjp("scaled", (x, [w0, w1]), upstream, wrt=("params",))


@pytest.mark.parametrize("kind, message", [
    ("dict", "returned a dict; expected a tensor of shape (5, 4)"),
    ("subclass", "a tensor of the subclass Sub; expected a tensor of shape (5, 4); return a plain torch.Tensor"),
    ("hooked output", "returned a tensor with a backward hook"),
    ("hooked input", "put a backward hook on argument 0"),
    ("hooked parameter", "put a backward hook on fc.weight"),
    ("detached", "does not depend on what it is differentiated"),
    ("float32", "returned torch.float32 for torch.float64 inputs"),
    ("wrong shape", "returned a tensor of shape (5, 2); expected (5, 4)"),
])
def test_a_lying_forward_is_a_student_error_with_a_clear_message(torch_student, kind, message):
    import torch

    torch_student.call("Returns", kind, store={"net": "all"}, reply="none")
    torch_student.prepare_module(Handle("net"), dtype=torch.float64)
    x, upstream = torch.randn(5, 3, dtype=torch.float64), torch.randn(5, 4, dtype=torch.float64)
    with pytest.raises(StudentError) as info:
        torch_student.vjp(Handle("net"), (x,), upstream, wrt=("inputs", "params"), label="Returns(kind)")
    assert message in str(info.value) and str(info.value).startswith("Returns(kind)")
    torch_student.call("Net", store={"net": "all"}, reply="none")  # the session still serves
    assert torch_student.vjp(Handle("net"), (x.float(),), upstream.float())["output"].shape == (5, 4)


def test_frozen_parameters_and_non_modules_are_refused(torch_student):
    import torch

    torch_student.call("Frozen", store={"net": "all"}, reply="none")
    x, upstream = torch.randn(5, 3), torch.randn(5, 4)
    with pytest.raises(StudentError, match=r"parameters \['fc.weight'\] of net do not require grad"):
        torch_student.vjp(Handle("net"), (x,), upstream, wrt=("params",))
    torch_student.put("not_a_module", {"w": x})
    with pytest.raises(StudentError, match="is a dict; expected a torch.nn.Module"):
        torch_student.prepare_module(Handle("not_a_module"), train=False)
    with pytest.raises(StudentError, match="expected a torch.optim.Optimizer"):
        torch_student.optimizer_info(Handle("not_a_module"))


def test_structure_tensor_info_and_optimizer_info(torch_student):
    import torch

    torch_student.call("Net", store={"net": "all"}, reply="none")
    layers = torch_student.structure(Handle("net"))
    assert [(layer["name"], layer["type"]) for layer in layers] == [
        ("", "student_program.Net"), ("fc", "torch.nn.modules.linear.Linear"), ("bn", "torch.nn.modules.batchnorm.BatchNorm1d")]
    assert layers[1]["config"] == {"in_features": 3, "out_features": 4} and layers[1]["parameters"] == {"weight": (4, 3), "bias": (4,)}
    info = torch_student.tensor_info(Handle("net"))
    assert info["fc.weight"] == {"type": "Parameter", "dtype": "float32", "shape": (4, 3), "requires_grad": True, "is_leaf": True,
                                 "device": "cpu", "kind": "parameter"}
    assert info["bn.running_mean"]["kind"] == "buffer" and not info["bn.running_mean"]["requires_grad"]
    torch_student.put("pair", [torch.zeros(2, requires_grad=True), 3])
    assert [i["requires_grad"] if "requires_grad" in i else i["type"] for i in torch_student.tensor_info(Handle("pair"))] == [False, "int"]
    student = torch_student
    student.call("Net", store={"other": "all"}, reply="none")
    student.call("net_and_optimizer", store={"net": 0, "opt": 1}, reply="none")
    found = student.optimizer_info(Handle("opt"), module=Handle("net"))
    assert found["type"] == "torch.optim.sgd.SGD" and found["defaults"]["lr"] == 0.01
    (group,) = found["groups"]
    assert (group["lr"], group["momentum"], group["nesterov"]) == (0.01, 0.9, True)
    assert group["params"] == ["fc.weight", "fc.bias", "bn.weight", "bn.bias"]
    assert student.optimizer_info(Handle("opt"), module=Handle("other"))["groups"][0]["params"] == ["?"] * 4


def test_torch_operations_are_bound_before_student_code_can_replace_torch(torch_student):
    """Student code that replaces torch.autograd.grad, Tensor.requires_grad_ and Module.train after the
    torch operations were imported changes nothing about the gradients the worker computes."""
    import torch
    import autograder.worker_torch  # noqa: F401  (the runner's {"op": "torch"} imports it before any cell)

    saved = torch.autograd.grad, torch.Tensor.requires_grad_, torch.nn.Module.train
    try:
        torch.autograd.grad = lambda outputs, inputs, **kwargs: tuple(torch.zeros_like(t) for t in inputs)
        torch.Tensor.requires_grad_ = lambda self, *a: self
        torch.nn.Module.train = lambda self, mode=True: self
        torch_student.call("Net", store={"net": "all"}, reply="none")
        torch_student.prepare_module(Handle("net"), dtype=torch.float64)
        state = _random_state(torch_student, Handle("net"), 4)
        torch_student.prepare_module(Handle("net"), state=state, train=False)
        x, upstream = torch.randn(5, 3, dtype=torch.float64), torch.randn(5, 4, dtype=torch.float64)
        got = torch_student.vjp(Handle("net"), (x,), upstream, wrt=("inputs",), train=False)
        assert got["inputs"][0].abs().max() > 0
        assert torch_student.forward(Handle("net"), x, train=False).shape == (5, 4)
    finally:
        torch.autograd.grad, torch.Tensor.requires_grad_, torch.nn.Module.train = saved
    reference = _reference_net(state, torch.float64).eval()
    xx = x.clone().requires_grad_(True)
    (reference(xx) * upstream).sum().backward()
    assert torch.allclose(got["inputs"][0], xx.grad)


def _torch_runner(options=GradingOptions(request_timeout=60.0, cell_timeout=60.0)) -> ProgramRunner:
    cells = [ProgramCell("setup", "import torch\n", ("setup",)), ProgramCell("cell 1", TORCH_PROGRAM, ("u",))]
    runner = ProgramRunner(Program(cells=cells), ["Net", "torch_threads"], options)
    runner.ensure_loaded()
    assert not runner.cell_errors, runner.cell_errors
    return runner


def test_the_worker_process_pins_torch_to_one_thread_and_serves_torch_requests():
    import torch

    runner = _torch_runner()
    try:
        student = runner.student()
        assert student.call("torch_threads") == (1, 1, "1")
        student.call("set_threads", 2)
        student.call("Threads", store={"t": "all"}, reply="none")
        assert student.forward(Handle("t"), torch.zeros(1)).item() == 1.0  # pinned again before the forward
        student.call("Net", store={"net": "all"}, reply="none")
        x, upstream = torch.randn(5, 3), torch.randn(5, 4)
        got = student.vjp(Handle("net"), (x,), upstream, wrt=("inputs", "params"), train=True)
        assert got["inputs"][0].shape == (5, 3) and got["params"]["fc.weight"].shape == (4, 3)
        student.call("Returns", "subclass", store={"net": "all"}, reply="none")
        with pytest.raises(StudentError, match="subclass Sub"):
            student.vjp(Handle("net"), (x,), upstream)
        assert runner.worker.alive
    finally:
        runner.close()


def test_a_torch_allocation_over_the_address_space_limit_is_an_error_of_that_call():
    import torch

    runner = _torch_runner(GradingOptions(request_timeout=60.0, cell_timeout=60.0, memory_mb=torch_memory_mb()))
    try:
        student = runner.student()
        student.call("Hog", 3, store={"hog": "all"}, reply="none")
        with pytest.raises(StudentError, match="hog raised RuntimeError: .*can't allocate memory"):
            student.forward(Handle("hog"), torch.zeros(1))
        assert runner.worker.alive
        student.call("Net", store={"net": "all"}, reply="none")
        assert student.forward(Handle("net"), torch.randn(5, 3)).shape == (5, 4)
    finally:
        runner.close()


@pytest.mark.skipif(not __import__("autograder.cgroups", fromlist=["available"]).available()[0], reason="cgroups cannot be used here")
def test_torch_memory_over_the_submission_limit_stops_the_worker_and_a_fresh_one_serves():
    import torch

    options = GradingOptions(request_timeout=60.0, cell_timeout=60.0, memory_mb=0, submission_memory_mb=1024)
    runner = _torch_runner(options)
    try:
        student = runner.student()
        student.call("Hog", 1.5, store={"hog": "all"}, reply="none")  # under no rlimit, over the cgroup's 1024 MB
        with pytest.raises(WorkerFailure, match="out of memory: .*more than the 1024 MB"):
            student.forward(Handle("hog"), torch.zeros(1))
        runner.ensure_loaded()
        student = runner.student()
        student.call("Net", store={"net": "all"}, reply="none")
        assert student.forward(Handle("net"), torch.randn(5, 3)).shape == (5, 4)
    finally:
        runner.close()
