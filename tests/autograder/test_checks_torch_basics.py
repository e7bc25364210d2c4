"""Hidden checks of the PyTorch notebook beyond its bug table (``bug_tables/pt.py``): the reference
earns full marks for any seed, an unfinished unit earns nothing, the challenge's registered check
rebuilds the student's design and scores it in eval mode, and hostile challenge submissions earn
nothing in a real batch whose other units are graded as usual.

The generic machinery of saved torch models (missing, linked, oversized files, the training log,
messages) is tested in ``test_torch_modules.py``; here it is the notebook's own check and units.
"""
from __future__ import annotations

import functools
import pickle
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch

from autograder.checks import REGISTRY, CheckContext, check_rng
from autograder.manifest import find_unit, read_units
from autograder.nbgrader_bridge import in_process_student
from autograder.options import GradingOptions
from course.grading.assignment import grade_class
from course.grading.plan import GradingPlan, NotebookPlan
from dl.artifacts import save_torch_model
from dl.data import cifar10_test_arrays
from dl.nn import basics
from tests.autograder.bug_tables import edit, program, source

ROOT = Path(__file__).resolve().parents[2]
CHALLENGE = "a2-pt-challenge"
UNIT_OF = {"pt_three_layer_convnet": "a2-pt-three_layer_convnet",
           "pt_init_three_layer_convnet_params": "a2-pt-init_three_layer_convnet_params",
           "pt_three_layer_convnet_module": "a2-pt-ThreeLayerConvNet",
           "pt_convnet_and_optimizer": "a2-pt-module_model_and_optimizer",
           "pt_sequential_convnet": "a2-pt-build_sequential_convnet"}
GRADED_NAME = {"pt_three_layer_convnet": "three_layer_convnet", "pt_init_three_layer_convnet_params": "init_three_layer_convnet_params",
               "pt_three_layer_convnet_module": "ThreeLayerConvNet", "pt_convnet_and_optimizer": "make_convnet_and_optimizer",
               "pt_sequential_convnet": "build_sequential_convnet"}


def namespace_of(*sources: str) -> dict:
    """A kernel that ran the notebook's reference answers (the challenge's builder included), then ``sources``."""
    namespace: dict = {}
    exec("\n\n".join([program("PyTorch"), source(basics.build_challenge_model), *sources]), namespace)
    return namespace


def run(check: str, seed: int, *sources: str, context: CheckContext | None = None):
    grade_id = UNIT_OF.get(check, CHALLENGE)
    context = context or CheckContext(unit=find_unit(grade_id))
    return REGISTRY[check](in_process_student(namespace_of(*sources)), check_rng(seed, grade_id, check), context)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("check", list(UNIT_OF))
def test_the_reference_earns_full_marks_for_any_seed(check, seed):
    result = run(check, seed)
    assert result.score == 1.0 and result.status == "passed", result.message


@pytest.mark.parametrize("check", list(UNIT_OF))
def test_an_unfinished_unit_earns_nothing(check):
    name = GRADED_NAME[check]
    stub = (f"class {name}(nn.Module):\n    def __init__(self, *args, **kwargs):\n        super().__init__()\n"
            f"        raise NotImplementedError\n" if name[0].isupper() else
            f"def {name}(*args, **kwargs):\n    raise NotImplementedError\n")
    result = run(check, 0, stub)
    assert result.score == 0.0 and "NotImplementedError" in result.message, result.message


def test_a_module_that_differs_only_in_training_mode_loses_the_forward_part():
    """The module check runs the student's ThreeLayerConvNet in both modes: dropout left on in
    training costs the forward part only (eval mode alone would not see it)."""
    dropout = edit(basics.ThreeLayerConvNet, ("scores = self.fc(flatten(x))", "scores = self.fc(F.dropout(flatten(x), 0.5, self.training))"))
    result = run("pt_three_layer_convnet_module", 0, dropout)
    assert 0 < result.score < 1 and "train mode" in result.message and "eval mode" not in result.message, result.message


# --------------------------------------------------------------------------------------------
# The challenge: the registered check on the reference design

@functools.cache
def held_back_images(n: int = 80) -> np.ndarray:
    """The first ``n`` images of smoke mode's test split, as the notebook's models receive them."""
    return cifar10_test_arrays(smoke=True)["X_test"][:n]


def trained_stand_in(seed: int = 0) -> torch.nn.Module:
    """The reference design with random weights and batch-norm statistics that matter (eval differs from train)."""
    torch.manual_seed(seed)
    model = basics.build_challenge_model()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-1, 1)
                module.running_var.uniform_(0.5, 2)
    return model.eval()


def labels_for(model: torch.nn.Module, images: np.ndarray, accuracy: float) -> np.ndarray:
    """Test labels on which ``model`` (in eval mode) scores exactly ``accuracy``."""
    with torch.no_grad():
        predictions = model.eval()(torch.from_numpy(images)).argmax(1).numpy()
    right = int(round(accuracy * len(predictions)))
    return np.where(np.arange(len(predictions)) < right, predictions, (predictions + 1) % 10).astype(np.int64)


def challenge_context(tmp_path: Path, data: dict) -> CheckContext:
    return CheckContext(unit=find_unit(CHALLENGE), artifacts_dir=tmp_path / "artifacts", data={"cifar10_test": lambda: data})


def test_the_challenge_check_reads_cifar10_test_and_the_units_artifact():
    assert REGISTRY.datasets_of("pt_challenge_accuracy") == ("cifar10_test",)
    assert find_unit(CHALLENGE).checks == ("pt_challenge_accuracy",)


@pytest.mark.parametrize("accuracy, score", [(0.75, 1.0), (0.65, 0.5), (0.5, 0.0)])
def test_the_saved_reference_design_is_scored_in_eval_mode_whatever_mode_the_builder_returns(tmp_path, accuracy, score):
    """The builder returns its model in training mode (a student who never calls eval()); the grader
    switches it to eval mode, so batch norm uses the saved running statistics."""
    model = trained_stand_in()
    images = held_back_images()
    data = {"X_test": images, "y_test": labels_for(model, images, accuracy)}
    with torch.no_grad():
        train_predictions = model.train()(torch.from_numpy(images)).argmax(1).numpy()
    assert np.mean(train_predictions == data["y_test"]) != pytest.approx(accuracy)  # the modes disagree here
    save_torch_model(model.eval(), "a2_cifar_challenge", log={"val_acc": [0.5] * 10}, directory=tmp_path / "artifacts")
    in_training = "\n\n_build = build_challenge_model\n\ndef build_challenge_model():\n    return _build().train()\n"
    result = run("pt_challenge_accuracy", 0, in_training, context=challenge_context(tmp_path, data))
    assert result.score == pytest.approx(score), result.message
    assert result.message.startswith(f"test accuracy {accuracy:.3f} on 80 held-back images (full credit from 0.70, "
                                     "partial credit from 0.60)"), result.message


def test_a_challenge_trained_past_ten_epochs_earns_nothing(tmp_path):
    model = trained_stand_in()
    images = held_back_images()
    save_torch_model(model, "a2_cifar_challenge", log={"val_acc": [0.5] * 11}, directory=tmp_path / "artifacts")
    data = {"X_test": images, "y_test": labels_for(model, images, 1.0)}
    result = run("pt_challenge_accuracy", 0, context=challenge_context(tmp_path, data))
    assert result.score == 0 and "at most 10" in result.message, result.message


# --------------------------------------------------------------------------------------------
# Hostile challenge submissions in a real batch (sandboxed workers): each earns nothing on the
# challenge, and every other unit of the notebook is graded as usual.

HONEST = "def build_challenge_model():\n    return nn.Sequential(" + \
         "nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(128, 10))\n"
SUBCLASS = HONEST.replace("def build_challenge_model", "def _plain_model") + '''
class Shifted(torch.Tensor):
    """Its argmax answers one class further on: right wherever the true predictions are wrong by one."""
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        result = super().__torch_function__(func, types, args, kwargs or {})
        if func in (torch.argmax, torch.Tensor.argmax):
            return (result.as_subclass(torch.Tensor) + 1) % 10
        return result

class Lying(nn.Sequential):
    def __init__(self):
        super().__init__(*_plain_model())

    def forward(self, x):
        return super().forward(x).as_subclass(Shifted)

def build_challenge_model():
    return Lying()
'''
LYING_OBJECT = HONEST.replace("def build_challenge_model", "def _plain_model") + '''
class Perfect:
    """Claims the shape of a batch of logits; is nothing the grader can read as numbers."""
    def __init__(self, n):
        self.shape = (n, 10)

    def __len__(self):
        return self.shape[0]

    def argmax(self, *args, **kwargs):
        raise RuntimeError("the grader asked the student's object for its argmax")

class Lying(nn.Sequential):
    def __init__(self):
        super().__init__(*_plain_model())

    def forward(self, x):
        return Perfect(len(x))

def build_challenge_model():
    return Lying()
'''
READER = HONEST.replace("def build_challenge_model", "def _plain_model") + '''
def build_challenge_model():
    for path in PATHS:
        try:
            with open(path, "rb") as f:
                f.read(16)
        except OSError:
            continue
        raise RuntimeError("read " + path)
    return _plain_model()
'''


def _honest_model() -> torch.nn.Module:
    namespace: dict = {"nn": torch.nn}
    exec(HONEST, namespace)
    torch.manual_seed(0)
    model = namespace["build_challenge_model"]()
    with torch.no_grad():
        model[1].running_mean.uniform_(-0.5, 0.5)
    return model.eval()


class _Marker:
    """Unpickling it creates a file: the proof that a pickle was loaded."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def _held_back(images: np.ndarray, labels: np.ndarray) -> dict:
    return {"X_test": images, "y_test": labels}


@pytest.fixture(scope="module")
def hostile_batch(tmp_path_factory):
    """Grade an honest and four hostile PyTorch submissions in one batch; -> ({student: result}, the pickle's marker)."""
    root = tmp_path_factory.mktemp("hostile")
    units = tuple(read_units()["PyTorch"])
    answers = nbformat.read(ROOT / "source_notebooks" / "a2" / "PyTorch.ipynb", as_version=4)
    model = _honest_model()  # what the hostile students saved: it scores 0 on these labels
    images = held_back_images()
    with torch.no_grad():
        labels = (model(torch.from_numpy(images)).argmax(1).numpy() + 1) % 10
    right = _honest_model()  # the honest student's: the same network, its classes shifted by one (scores 1)
    with torch.no_grad():
        right[-1].weight.copy_(torch.roll(right[-1].weight, 1, dims=0))
        right[-1].bias.copy_(torch.roll(right[-1].bias, 1, dims=0))
    labels_file = root / "held-out" / "labels.npy"
    labels_file.parent.mkdir()
    np.save(labels_file, labels)
    reference = ROOT / "dl" / "nn" / "basics.py"
    marker = root / "unpickled"
    cells = {"honest": HONEST, "pickle": HONEST, "subclass": SUBCLASS, "lying": LYING_OBJECT,
             "reader": f"PATHS = ({str(labels_file)!r}, {str(reference)!r})\n" + READER}
    folders = []
    for student, challenge in cells.items():
        nb = nbformat.from_dict(answers)
        for cell in nb.cells:
            if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == CHALLENGE:
                cell.source = challenge
        folder = root / "submitted" / student / "a2"
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / "PyTorch.ipynb")
        save_torch_model(right if student == "honest" else model, "a2_cifar_challenge", log={"val_acc": [0.5]},
                         directory=folder / "artifacts")
        folders.append(folder)
    pickled = root / "submitted" / "pickle" / "a2" / "artifacts"
    (pickled / "a2_cifar_challenge.safetensors").unlink()
    (pickled / "a2_cifar_challenge.pt").write_bytes(pickle.dumps({**model.state_dict(), "x": _Marker(marker)}))
    options = GradingOptions(request_timeout=60.0, cell_timeout=60.0, unit_timeout=120.0)
    plan = GradingPlan("a2", ROOT / "release" / "a2", (NotebookPlan("PyTorch", units),), options,
                       data={"cifar10_test": functools.partial(_held_back, images, labels)})
    report = grade_class(plan, folders, root / "out", jobs=1)
    return {r.submission: r for r in report.results}, marker


def test_the_honest_challenge_of_the_batch_earns_full_marks(hostile_batch):
    results, _ = hostile_batch
    challenge = next(u for u in results["honest"].units if u.grade_id == CHALLENGE)
    assert challenge.score == challenge.max_score and challenge.message.startswith("test accuracy 1.000"), challenge.message


@pytest.mark.parametrize("student, message", [
    ("pickle", "cannot be used"),
    ("subclass", "test accuracy 0.000"),  # argmax ran in the parent, on the plain numbers; the shifted one would score 1
    ("lying", "returned a value the grader cannot receive"),
    ("reader", "test accuracy 0.000"),  # in the sandbox the builder read nothing (it raises if it reads) and built its plain model
])
def test_a_hostile_challenge_earns_nothing_and_the_batch_completes(hostile_batch, student, message):
    results, marker = hostile_batch
    by_id = {u.grade_id: u for u in results[student].units}
    assert by_id[CHALLENGE].score == 0 and message in by_id[CHALLENGE].message, by_id[CHALLENGE].message
    assert not marker.exists()
    lost = {g: u.message for g, u in by_id.items() if g != CHALLENGE and u.score < u.max_score}
    assert not lost, lost
