"""Checks of torch units: student modules built, run and differentiated in the worker, compared in the parent;
and the accuracy of a saved model of the student's own design, with its hostile variants."""
from __future__ import annotations

import math
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from autograder import datasets
from autograder.checks import torch_modules as tm
from autograder.checks.compare import mismatch
from autograder.checks.registry import CheckContext
from autograder.extraction import Program, ProgramCell
from autograder.nbgrader_bridge import in_process_student
from autograder.options import GradingOptions
from autograder.protocol import Handle
from autograder.runner import ProgramRunner
from autograder.student import Student, StudentError
from autograder.units import Unit
from dl.artifacts import save_torch_model
from tests.autograder import torch_memory_mb
from tests.autograder.test_sandbox import needs_bwrap

PROGRAM = '''
import torch
import torch.nn as nn

class ConvNet(nn.Module):
    def __init__(self, channels=4, classes=10):
        super().__init__()
        self.conv = nn.Conv2d(3, channels, 3, padding=1)
        self.bn = nn.BatchNorm2d(channels)
        self.pool = nn.AdaptiveAvgPool2d(2)
        self.fc = nn.Linear(channels * 4, classes)
        nn.init.kaiming_normal_(self.conv.weight)
        nn.init.kaiming_normal_(self.fc.weight)
        nn.init.zeros_(self.conv.bias)
        nn.init.zeros_(self.fc.bias)

    def forward(self, x):
        return self.fc(self.pool(torch.relu(self.bn(self.conv(x)))).flatten(1))

def build_challenge_model():
    return ConvNet(channels=4)

def convnet_function(x, params):
    w, b = params
    return torch.relu(torch.nn.functional.conv2d(x, w, b, padding=1)).sum(dim=(2, 3))
'''

class Reference(nn.Module):
    """The program's ``ConvNet``, written again here: what the parent compares with."""

    def __init__(self, channels=4, classes=10):
        super().__init__()
        self.conv = nn.Conv2d(3, channels, 3, padding=1)
        self.bn = nn.BatchNorm2d(channels)
        self.pool = nn.AdaptiveAvgPool2d(2)
        self.fc = nn.Linear(channels * 4, classes)

    def forward(self, x):
        return self.fc(self.pool(torch.relu(self.bn(self.conv(x)))).flatten(1))


def student_for(source: str = PROGRAM) -> Student:
    namespace = {"__name__": "student_program"}
    exec(compile(source, "<test program>", "exec"), namespace)
    return in_process_student(namespace)


def random_state(module: nn.Module, seed: int, dtype=torch.float64) -> dict:
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for name, value in module.state_dict().items():
        state[name] = torch.randn(value.shape, generator=generator, dtype=dtype) if value.is_floating_point() else value.clone()
    state["bn.running_var"] = state["bn.running_var"].abs() + 0.5
    return state


# --------------------------------------------------------------------------------------------
# Modules, forward passes, vector-Jacobian products


def test_a_module_built_with_a_state_matches_the_reference_in_both_modes():
    student = student_for()
    reference = Reference(channels=3).double()
    state = random_state(reference, 0)
    reference.load_state_dict(state)
    handle = tm.build_student_module(student, "ConvNet", {"channels": 3}, state, dtype=torch.float64)
    assert handle == tm.MODULE
    got_state = tm.module_state(student, handle)
    assert list(got_state) == list(reference.state_dict()) and all(torch.equal(got_state[k], v) for k, v in state.items())
    x = torch.randn(2, 3, 5, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    for train in (False, True):
        expected = reference.train(train)(x).detach()
        assert mismatch("the scores", tm.module_forward(student, handle, x, train=train), expected, 1e-10) is None
    assert mismatch("the scores", tm.module_forward(student, handle, x, train=True),
                    reference.eval()(x).detach(), 1e-10) is not None  # the modes differ, and the check sees it


def test_module_vjp_gives_the_gradients_autograd_gives_the_reference():
    student = student_for()
    reference = Reference().double()
    state = random_state(reference, 2)
    reference.load_state_dict(state)
    tm.build_student_module(student, "ConvNet", {}, state, dtype=torch.float64)
    generator = torch.Generator().manual_seed(3)
    x = torch.randn(3, 3, 4, 4, dtype=torch.float64, generator=generator)
    upstream = torch.randn(3, 10, dtype=torch.float64, generator=generator)
    got = tm.module_vjp(student, tm.MODULE, x, upstream=upstream, train=True)
    xx = x.clone().requires_grad_(True)
    (reference.train()(xx) * upstream).sum().backward()
    assert mismatch("dx", got.inputs[0], xx.grad, 1e-10) is None
    assert list(got.params) == [name for name, _ in reference.named_parameters()]
    for name, p in reference.named_parameters():
        assert mismatch(f"the gradient of {name}", got.params[name], p.grad, 1e-10) is None, name
    w, b = torch.randn(2, 3, 3, 3, dtype=torch.float64), torch.randn(2, dtype=torch.float64)
    function = tm.module_vjp(student, "convnet_function", x, [w, b], upstream=torch.ones(3, 2, dtype=torch.float64))
    leaves = [t.clone().requires_grad_(True) for t in (x, w, b)]
    torch.relu(torch.nn.functional.conv2d(leaves[0], leaves[1], leaves[2], padding=1)).sum().backward()
    assert mismatch("dx", function.inputs[0], leaves[0].grad, 1e-10) is None
    assert [mismatch("dw", g, leaf.grad, 1e-10) for g, leaf in zip(function.inputs[1], leaves[1:])] == [None, None]


def test_module_info_and_structure_describe_the_student_module():
    student = student_for()
    tm.build_student_module(student, "ConvNet", {"channels": 5})
    info = tm.module_info(student)
    shapes = {name: i["shape"] for name, i in info.items() if i["kind"] == "parameter"}
    expected = {name: tuple(p.shape) for name, p in Reference(channels=5).named_parameters()}
    assert shapes == expected and tm.parameter_count(shapes) == sum(p.numel() for p in Reference(channels=5).parameters())
    assert info["bn.running_mean"]["persistent"] and not info["bn.running_mean"]["requires_grad"]
    assert set(tm.module_state_shapes(student)) == set(Reference(channels=5).state_dict())
    layers = tm.module_structure(student)
    assert [layer["type"].rsplit(".", 1)[1] for layer in layers] == ["ConvNet", "Conv2d", "BatchNorm2d", "AdaptiveAvgPool2d", "Linear"]
    assert layers[1]["config"]["padding"] == (1, 1) and layers[1]["config"]["kernel_size"] == (3, 3)


def test_build_student_module_names_the_constructor_in_its_errors():
    student = student_for(PROGRAM + "\ndef not_a_module():\n    return {'w': torch.ones(2)}\n")
    with pytest.raises(StudentError, match=r"not_a_module\(\) is a dict; expected a torch.nn.Module"):
        tm.build_student_module(student, "not_a_module")
    with pytest.raises(StudentError, match=r"Missing key"):
        tm.build_student_module(student, "ConvNet", {"channels": 3}, {"conv.weight": torch.zeros(3, 3, 3, 3)})
    with pytest.raises(StudentError, match="ConvNet raised TypeError"):
        tm.build_student_module(student, "ConvNet", {"width": 3})


def test_parameter_failures_speak_of_names_and_shapes():
    expected = {"conv1.weight": (32, 3, 5, 5), "conv1.bias": (32,), "fc.weight": (10, 16384)}
    assert tm.parameter_failures(expected, expected, "ThreeLayerConvNet(3, 32, 16, 10)") == (None, None)
    names, shapes = tm.parameter_failures({"conv1.weight": (32, 3, 3, 3), "conv1.bias": (32,), "linear.weight": (10, 16384)},
                                          expected, "ThreeLayerConvNet(3, 32, 16, 10)")
    assert names == ("ThreeLayerConvNet(3, 32, 16, 10): the module's parameters lacks ['fc.weight'] and has unexpected "
                     "['linear.weight'] (names follow the attributes: conv1.weight, fc.bias, ...)")
    assert shapes == "ThreeLayerConvNet(3, 32, 16, 10): conv1.weight is (32, 3, 3, 3), expected (32, 3, 5, 5)"


def test_init_statistics_pass_kaiming_normal_and_fail_other_initialisations():
    shapes = {"conv1.weight": (32, 3, 5, 5), "conv2.weight": (16, 32, 3, 3), "fc.weight": (10, 16 * 8 * 8)}
    fan_in = {name: tm.torch_fan_in(shape) for name, shape in shapes.items()}
    for seed in range(30):  # a correct initialisation passes whatever the seed
        torch.manual_seed(seed)
        weights = {name: nn.init.kaiming_normal_(torch.empty(shape)) for name, shape in shapes.items()}
        assert tm.init_statistics(weights, fan_in, "the model") is None, seed
    torch.manual_seed(0)
    default = {"conv1.weight": nn.Conv2d(3, 32, 5).weight.detach(), "fc.weight": nn.Linear(1024, 10).weight.detach()}
    failure = tm.init_statistics(default, fan_in, "ThreeLayerConvNet(3, 32, 16, 10)")
    assert failure.startswith("ThreeLayerConvNet(3, 32, 16, 10): conv1.weight has standard deviation")
    assert "expected about sqrt(2 / fan_in) = 0.163 (fan_in = 75)" in failure
    shifted = {"conv1.weight": torch.randn(32, 3, 5, 5) * math.sqrt(2 / 75) + 0.05}
    assert "has mean" in tm.init_statistics(shifted, fan_in, "m")
    assert tm.nonzero_biases({"conv1.bias": torch.zeros(3), "fc.bias": torch.tensor([0.0, 1e-9])}, "m") == \
        "m: the biases ['fc.bias'] are not all exactly zero"
    assert tm.nonzero_biases({"conv1.bias": np.zeros(3)}, "m") is None


# --------------------------------------------------------------------------------------------
# torch_artifact_accuracy: a saved model of the student's design

FULL, ZERO, MAX_EPOCHS = 0.70, 0.60, 10


@pytest.fixture(scope="module")
def test_images(tmp_path_factory) -> dict:
    """The first 100 images of the ``cifar10_test`` data set (the generated fixture's), as the grader loads it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DL_DATA_DIR", str(tmp_path_factory.mktemp("data")))
        arrays = datasets.DATASETS["cifar10_test"].load(smoke=True)
    return {name: array[:100] for name, array in arrays.items()}


def saved_model(seed: int = 0, channels: int = 4) -> nn.Module:
    torch.manual_seed(seed)
    model = Reference(channels=channels)
    with torch.no_grad():
        model.bn.running_mean.uniform_(-0.5, 0.5)
    return model.eval()


def labelled(images: dict, model: nn.Module, accuracy: float) -> dict:
    """The data set with test labels on which ``model`` scores exactly ``accuracy``."""
    with torch.no_grad():
        predictions = model.eval()(torch.from_numpy(images["X_test"])).argmax(1).numpy()
    right = int(round(accuracy * len(predictions)))
    labels = np.where(np.arange(len(predictions)) < right, predictions, (predictions + 1) % 10)
    return {**images, "y_test": labels}


def context_for(tmp_path: Path, data: dict) -> CheckContext:
    unit = Unit("a2-pt-challenge", 10, ("pytorch_challenge_accuracy",), reference="dl.nn.basics:build_challenge_model")
    return CheckContext(unit=unit, artifacts_dir=tmp_path / "artifacts", data={"cifar10_test": lambda: data})


def grade(student, context, **changes):
    options = dict(full_credit=FULL, zero_credit=ZERO, max_epochs=MAX_EPOCHS, artifact="a2_cifar_challenge", batch=32)
    return tm.torch_artifact_accuracy(student, context, "build_challenge_model", **{**options, **changes})


@pytest.mark.parametrize("accuracy, score", [(0.75, 1.0), (0.70, 1.0), (0.65, 0.5), (0.60, 0.0), (0.30, 0.0)])
def test_the_saved_model_is_rebuilt_by_the_students_builder_and_scored_on_held_back_labels(tmp_path, test_images, accuracy, score):
    model = saved_model()
    save_torch_model(model, "a2_cifar_challenge", log={"val_acc": [0.5] * 10}, directory=tmp_path / "artifacts")
    result = grade(student_for(), context_for(tmp_path, labelled(test_images, model, accuracy)))
    assert result.score == pytest.approx(score)
    assert result.message == (f"test accuracy {accuracy:.3f} on 100 held-back images (full credit from 0.70, partial credit "
                              f"from 0.60); the training log shows 10 epochs")


def test_the_labels_never_enter_the_worker(tmp_path, test_images):
    """Every request the check sends is recorded: images go, labels never do."""
    model = saved_model()
    save_torch_model(model, "a2_cifar_challenge", log={"val_acc": [0.5]}, directory=tmp_path / "artifacts")
    data = labelled(test_images, model, 0.8)
    inner = student_for()
    sent = []

    def transport(request):
        sent.append(request)
        return inner._transport(request)
    assert grade(Student(transport), context_for(tmp_path, data)).score == 1.0

    def tensors(value):
        if isinstance(value, (torch.Tensor, np.ndarray)):
            yield value
        elif isinstance(value, (list, tuple)):
            for v in value:
                yield from tensors(v)
        elif isinstance(value, dict):
            for v in value.values():
                yield from tensors(v)
    shipped = [t for request in sent for t in tensors(request)]
    images = [t for t in shipped if tuple(t.shape[1:]) == (3, 32, 32)]
    assert sum(t.shape[0] for t in images) == len(data["y_test"]) and all(t.dtype == torch.float32 for t in images)
    assert not any(t.ndim == 1 and t.shape[0] >= 32 and not t.is_floating_point() for t in shipped if isinstance(t, torch.Tensor))
    assert not any(isinstance(t, np.ndarray) for t in shipped)


@pytest.mark.parametrize("log, message", [
    ({"val_acc": [0.5] * 11}, "your training log shows 11 epochs; the model must be trained for at most 10"),
    ({}, "has no training log"),
    ({"val_acc": [0.5, 0.6], "loss": [1.0]}, "one entry per epoch"),
])
def test_the_training_log_must_show_at_most_max_epochs(tmp_path, test_images, log, message):
    model = saved_model()
    save_torch_model(model, "a2_cifar_challenge", directory=tmp_path / "artifacts")
    json_path = tmp_path / "artifacts" / "a2_cifar_challenge.json"
    json_path.write_text(json_path.read_text().replace('"log": {}', f'"log": {__import__("json").dumps(log)}'))
    result = grade(student_for(), context_for(tmp_path, labelled(test_images, model, 0.9)))
    assert result.score == 0 and message in result.message, result.message


def test_a_missing_linked_or_oversized_artifact_fails_with_the_fix(tmp_path, test_images):
    data = labelled(test_images, saved_model(), 0.9)
    result = grade(student_for(), context_for(tmp_path, data))
    assert result.score == 0 and result.message == ("artifacts/a2_cifar_challenge.safetensors is missing from your submission; "
                                                    "run the cell that trains your model and saves it with save_torch_model")
    outside = tmp_path / "elsewhere"
    save_torch_model(saved_model(), "a2_cifar_challenge", log={"val_acc": [0.5]}, directory=outside)
    (tmp_path / "artifacts").mkdir()
    (tmp_path / "artifacts" / "a2_cifar_challenge.safetensors").symlink_to(outside / "a2_cifar_challenge.safetensors")
    (tmp_path / "artifacts" / "a2_cifar_challenge.json").write_bytes((outside / "a2_cifar_challenge.json").read_bytes())
    assert "is a symbolic link" in grade(student_for(), context_for(tmp_path, data)).message
    (tmp_path / "artifacts" / "a2_cifar_challenge.safetensors").unlink()
    save_torch_model(saved_model(), "a2_cifar_challenge", log={"val_acc": [0.5]}, directory=tmp_path / "artifacts")
    result = grade(student_for(), context_for(tmp_path, data), max_mb=0.001)
    assert result.score == 0 and "is over 0.001 MiB" in result.message, result.message
    size = (tmp_path / "artifacts" / "a2_cifar_challenge.safetensors").stat().st_size
    result = grade(student_for(), context_for(tmp_path, data), max_mb=(size + 100) / 2**20, max_parameters=100)
    assert result.score == 0 and "the grader accepts at most 100" in result.message, result.message


class _Marker:
    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_a_state_dict_that_is_a_pickle_is_refused_without_unpickling(tmp_path, test_images, suffix):
    model = saved_model()
    save_torch_model(model, "a2_cifar_challenge", log={"val_acc": [0.5]}, directory=tmp_path / "artifacts")
    (tmp_path / "artifacts" / "a2_cifar_challenge.safetensors").unlink()
    marker = tmp_path / "unpickled"
    (tmp_path / "artifacts" / f"a2_cifar_challenge{suffix}").write_bytes(pickle.dumps({**model.state_dict(), "x": _Marker(marker)}))
    result = grade(student_for(), context_for(tmp_path, labelled(test_images, model, 0.9)))
    assert result.score == 0 and "cannot be used" in result.message and ("not a safetensors file" in result.message
                                                                           or "zip format" in result.message), result.message
    assert not marker.exists()


def test_weights_that_do_not_fit_the_builders_model_are_named(tmp_path, test_images):
    model = saved_model(channels=6)
    save_torch_model(model, "a2_cifar_challenge", log={"val_acc": [0.5]}, directory=tmp_path / "artifacts")
    result = grade(student_for(), context_for(tmp_path, labelled(test_images, model, 0.9)))
    assert result.score == 0
    assert result.message == ("the saved weights do not fit the model build_challenge_model() builds: conv.weight is "
                              "(4, 3, 3, 3), expected (6, 3, 3, 3); conv.bias is (4,), expected (6,); bn.weight is (4,), "
                              "expected (6,) (and 4 more); save the model that this builder makes, after training it")


HOSTILE_BUILDERS = {
    "dict": ("    def forward(self, x):\n        return {'logits': super().forward(x)}\n",
             "the output of build_challenge_model() is a dict; expected a numeric array"),
    "object": ("    def forward(self, x):\n        return object()\n", "returned a value the grader cannot receive"),
    "wrong shape": ("    def forward(self, x):\n        return super().forward(x)[:3]\n",
                    "has shape (3, 10) for 32 images; expected (N, classes) = (32, C)"),
    "nan": ("    def forward(self, x):\n        return super().forward(x) * float('nan')\n", "contains nan or inf"),
    "raises": ("    def forward(self, x):\n        raise ValueError('no')\n", "build_challenge_model() raised ValueError: no"),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE_BUILDERS))
def test_a_forward_that_returns_a_lying_object_fails_with_a_message(tmp_path, test_images, kind):
    forward, message = HOSTILE_BUILDERS[kind]
    source = PROGRAM + "\nclass Lying(ConvNet):\n" + forward + "\ndef build_challenge_model():\n    return Lying(channels=4)\n"
    model = saved_model()
    save_torch_model(model, "a2_cifar_challenge", log={"val_acc": [0.5]}, directory=tmp_path / "artifacts")
    result = grade(student_for(source), context_for(tmp_path, labelled(test_images, model, 0.9)))
    assert result.score == 0 and message in result.message, result.message


def test_a_tensor_subclass_cannot_change_how_its_predictions_are_read(tmp_path, test_images):
    """A subclass whose torch functions answer with the 'right' labels travels as its plain data: argmax runs here."""
    source = PROGRAM + '''
class Always(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        result = super().__torch_function__(func, types, args, kwargs or {})
        return torch.zeros_like(result) if func in (torch.argmax, torch.Tensor.argmax) else result

class Subclassed(ConvNet):
    def forward(self, x):
        return super().forward(x).as_subclass(Always)

def build_challenge_model():
    return Subclassed(channels=4)
'''
    model = saved_model()
    save_torch_model(model, "a2_cifar_challenge", log={"val_acc": [0.5]}, directory=tmp_path / "artifacts")
    result = grade(student_for(source), context_for(tmp_path, labelled(test_images, model, 0.65)))
    assert result.score == pytest.approx(0.5), result.message


def test_a_builder_in_the_sandbox_can_read_neither_the_labels_nor_the_reference(tmp_path, test_images):
    """The builder reads the labels' file and the reference if it can, and raises saying so.

    In process (no sandbox) it can, which shows the attempt is real; the sandboxed worker cannot,
    and its model is graded as it is. (The labels themselves are never sent: see above.)
    """
    model = saved_model()
    data = labelled(test_images, model, 0.65)
    labels_file = tmp_path / "held-out" / "labels.npy"
    labels_file.parent.mkdir()
    np.save(labels_file, data["y_test"])
    reference = Path(tm.__file__).resolve().parents[2] / "dl" / "artifacts.py"
    source = PROGRAM + f'''
def build_challenge_model():
    for path in ({str(labels_file)!r}, {str(reference)!r}):
        try:
            with open(path, "rb") as f:
                f.read(16)
        except OSError:
            continue
        raise RuntimeError("read " + path)
    return ConvNet(channels=4)
'''
    save_torch_model(model, "a2_cifar_challenge", log={"val_acc": [0.5]}, directory=tmp_path / "artifacts")
    context = context_for(tmp_path, data)
    in_process = grade(student_for(source), context)
    assert in_process.score == 0 and "raised RuntimeError: read " in in_process.message
    sandboxed = _sandboxed_grade(source, context)
    assert sandboxed.score == pytest.approx(0.5), sandboxed.message


@needs_bwrap
def test_the_accuracy_check_runs_in_the_bubblewrap_sandbox(tmp_path, test_images):
    model = saved_model()
    save_torch_model(model, "a2_cifar_challenge", log={"val_acc": [0.5] * 3}, directory=tmp_path / "artifacts")
    result = _sandboxed_grade(PROGRAM, context_for(tmp_path, labelled(test_images, model, 0.72)), sandbox="bwrap")
    assert result.score == 1.0 and result.message.startswith("test accuracy 0.720"), result.message


def _sandboxed_grade(source: str, context: CheckContext, sandbox: str = "auto"):
    options = GradingOptions(request_timeout=60.0, cell_timeout=60.0, unit_timeout=120.0, sandbox=sandbox)
    cells = [ProgramCell("setup", "import torch\n", ("setup",)), ProgramCell("cell 1", source, ("a2-pt-challenge",))]
    runner = ProgramRunner(Program(cells=cells), ["build_challenge_model"], options)
    try:
        runner.ensure_loaded()
        assert not runner.cell_errors, runner.cell_errors
        return grade(runner.student(), context)
    finally:
        runner.close()


# --------------------------------------------------------------------------------------------
# A batch: a module that allocates past the memory limit fails its unit only

HOG = '''
class Hog(nn.Module):
    def forward(self, x):
        return torch.ones(3 * 2**30, dtype=torch.uint8).sum().reshape(1, 1).float() * x[:, :1]
'''
NET = '''
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 2)

    def forward(self, x):
        return self.fc(x)
'''


@pytest.fixture
def forward_shape_check():
    """A check registered for this test: the unit's module built and run on (4, 3) inputs."""
    from autograder.checks.registry import REGISTRY, CheckResult

    def check(student, rng, context):
        try:
            handle = tm.build_student_module(student, context.unit.names[0])
            out = tm.module_forward(student, handle, torch.from_numpy(rng.standard_normal((4, 3)).astype(np.float32)))
        except StudentError as exc:
            return CheckResult("failed", 0.0, str(exc))
        return CheckResult.from_score(float(tuple(out.shape) == (4, 2)), f"output {tuple(out.shape)}")
    REGISTRY.add("test_torch_forward_shape", check, ())
    yield "test_torch_forward_shape"
    for table in (REGISTRY._checks, REGISTRY.datasets, REGISTRY.parts, REGISTRY.deterministic):
        table.pop("test_torch_forward_shape", None)


def _notebook(cells: list[tuple[str, str, str | None]]):
    import nbformat

    from tests.autograder.notebooks import _cell

    nb = nbformat.v4.new_notebook()
    nb.metadata["dl"] = {"assignment": "a1", "notebook": "Torchy", "generated_by": "tests"}
    for role, source, unit in cells:
        nbgrader = {"grade_id": unit or f"t-{role}", "solution": role == "unit", "grade": False, "locked": role != "unit"}
        nb.cells.append(_cell("code", source, role, unit, nbgrader))
    return nb


def test_a_module_allocating_past_the_memory_limit_fails_its_unit_not_the_batch(tmp_path, forward_shape_check):
    from autograder.grade import grade_submission
    from tests.autograder import notebooks

    units = [Unit("t-hog", 2, (forward_shape_check,), reference="tests.torchy:Hog"),
             Unit("t-net", 3, (forward_shape_check,), reference="tests.torchy:Net")]
    setup = "import torch\nimport torch.nn as nn\n"
    release = _notebook([("setup", setup, None), ("unit", "class Hog(nn.Module):\n    pass\n", "t-hog"),
                         ("unit", "class Net(nn.Module):\n    pass\n", "t-net")])
    submission = _notebook([("setup", setup, None), ("unit", HOG, "t-hog"), ("unit", NET, "t-net")])
    release_path = notebooks.write(release, tmp_path / "release" / "Torchy.ipynb")
    path = notebooks.write(submission, tmp_path / "student" / "Torchy.ipynb")
    options = GradingOptions(request_timeout=60.0, cell_timeout=60.0, unit_timeout=120.0, memory_mb=torch_memory_mb())
    result = grade_submission(path, release_path, units, options=options)
    by_id = {u.grade_id: u for u in result.units}
    assert by_id["t-hog"].score == 0 and "can't allocate memory" in by_id["t-hog"].message, (by_id["t-hog"].message, result.instructor_log)
    assert by_id["t-net"].score == 3, by_id["t-net"].message


def test_seeded_torch_draws_as_after_manual_seed_and_leaves_the_global_rng_alone():
    import torch

    from autograder.checks.torch_modules import seeded_torch

    torch.manual_seed(7)
    before = torch.random.get_rng_state()
    with seeded_torch(3):
        drawn = torch.randn(5)
    assert torch.equal(torch.random.get_rng_state(), before)
    torch.manual_seed(3)
    assert torch.equal(drawn, torch.randn(5))
