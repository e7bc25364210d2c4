"""Hidden checks of ThreeLayerConvNet and of the saved one-epoch ConvNet.

The model checks run against in-process namespaces holding the reference class (or a buggy copy)
and the layer functions a notebook provides; the artifact check runs on a small saved net with
held-out labels crafted so that its accuracy is exactly what a test wants.
"""
import inspect
import json
import re
import shutil

import numpy as np
import pytest

import dl.layer_utils
import dl.layers
from autograder.checks import REGISTRY, CheckContext, check_rng, run_checks
from autograder.manifest import find_unit
from autograder.nbgrader_bridge import in_process_student
from dl.models.cnn import ThreeLayerConvNet, load_conv_net, save_conv_net
from tests.autograder.notebooks import MARKER_LINE, replace_once

MODEL = find_unit("a1-cnn-ThreeLayerConvNet")
ONE_EPOCH = find_unit("a1-cnn-one_epoch_model")
SOURCE = MARKER_LINE.sub("", inspect.getsource(ThreeLayerConvNet))


def run(check: str, source: str = SOURCE, seed: int = 0):
    """``check`` against a namespace with numpy, every layer and sandwich function, and ``source``."""
    namespace = {"np": np}
    for module in (dl.layers, dl.layer_utils):
        namespace.update({name: obj for name, obj in vars(module).items() if inspect.isfunction(obj)})
    exec(source, namespace)
    return REGISTRY[check](in_process_student(namespace), check_rng(seed, MODEL.grade_id, check), CheckContext(unit=MODEL))


def buggy(*replacements: tuple[str, str]) -> str:
    source = SOURCE
    for old, new in replacements:
        source = replace_once(source, old, new)
    return source


@pytest.mark.parametrize("check", ["conv_net_params", "conv_net_loss"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_reference_earns_full_marks(check, seed):
    result = run(check, seed=seed)
    assert result.score == 1.0, result.message


def test_the_manifest_unit_runs_both_checks():
    namespace = {"np": np}
    for module in (dl.layers, dl.layer_utils):
        namespace.update({name: obj for name, obj in vars(module).items() if inspect.isfunction(obj)})
    exec(SOURCE, namespace)
    outcome = run_checks(MODEL, in_process_student(namespace), CheckContext(unit=MODEL), seed=3)
    assert outcome.score == 1.0 and set(outcome.results) == {"conv_net_params", "conv_net_loss"}, outcome.message


def test_the_check_leaves_the_graders_random_state_alone():
    """In-process (nbgrader) the student's np.random is the grader's: seeding it for the constructor is undone."""
    np.random.seed(5)
    before = np.random.get_state()[1].copy()
    assert run("conv_net_params").score == 1.0
    np.testing.assert_array_equal(np.random.get_state()[1], before)


@pytest.mark.parametrize("old, new, words", [
    ("C, H, W = input_dim", "C, H, W = input_dim\n        np.random.seed(0)", "no reseeding in the constructor"),
    ('self.params["W1"] = weight_scale * np.random.randn', 'self.params["W1"] = np.random.randn',
     "your weights are not multiplied by weight_scale"),
    ('self.params["W2"] = weight_scale * np.random.randn', 'self.params["W2"] = weight_scale**2 * np.random.randn', "params['W2'] differs"),
])
def test_initial_values_after_a_seed_are_the_references(old, new, words):
    result = run("conv_net_params", buggy((old, new)))
    assert result.score == 0.5 and words in result.message, result.message  # the initialisation part, half the check


@pytest.mark.parametrize("check, old, new", [
    ("conv_net_params", 'self.params["W1"] = weight_scale * np.random.randn', 'self.params["W1"] = np.random.randn'),
    ("conv_net_loss", "loss += 0.5 * self.reg", "loss += self.reg"),
])
def test_messages_name_weight_scale_and_reg_without_their_values(check, old, new):
    message = run(check, buggy((old, new))).message
    assert "ThreeLayerConvNet(input_dim=(" in message
    assert not re.search(r"(weight_scale|reg)\s*[=:]\s*[0-9]", message), message
    assert "seed" not in message.replace("seeding", "").replace("reseeding", ""), message


def test_odd_values_fail_with_a_message_not_a_crash():
    no_params = "class ThreeLayerConvNet:\n    def __init__(self, *a, **k):\n        self.params = [1]\n"
    assert "model.params is a list" in run("conv_net_params", no_params).message
    no_loss = "class ThreeLayerConvNet:\n    def __init__(self, *a, **k):\n        self.params = {}\n"
    result = run("conv_net_loss", no_loss)
    assert result.score == 0 and "model.loss raised AttributeError" in result.message


# --------------------------------------------------------------------------------------------
# The saved one-epoch model

NAME = ONE_EPOCH.artifact


@pytest.fixture(scope="module")
def convnet_artifacts(tmp_path_factory):
    """An ``artifacts/`` folder holding a small saved ThreeLayerConvNet for 3x32x32 images."""
    folder = tmp_path_factory.mktemp("saved") / "artifacts"
    np.random.seed(0)
    save_conv_net(NAME, ThreeLayerConvNet(num_filters=4, filter_size=3, hidden_dim=16, weight_scale=0.05), folder)
    return folder


def labelled_for_convnet(accuracy: float, folder, images: dict) -> dict:
    """Held-out data on which the saved ConvNet's accuracy is exactly ``accuracy`` (as ``labelled_for`` does for the FC net)."""
    predictions = np.argmax(load_conv_net(NAME, folder).loss(images["X_val"]), axis=1)
    right = int(round(accuracy * len(predictions)))
    labels = np.where(np.arange(len(predictions)) < right, predictions, (predictions + 1) % 10)
    return {"X_val": images["X_val"], "y_val": labels, "X_test": images["X_test"], "y_test": images["y_test"]}


def grade_artifact(folder, data):
    return run_checks(ONE_EPOCH, None, CheckContext(unit=ONE_EPOCH, artifacts_dir=folder, data={"cifar10": lambda: data}), seed=0)


def test_the_manifest_names_the_artifact():
    assert NAME == "a1_convnet" and ONE_EPOCH.checks == ("conv_net_one_epoch_accuracy",)


@pytest.mark.parametrize("accuracy, score", [(0.50, 1.0), (0.40, 1.0), (0.35, 0.5), (0.30, 0.0), (0.10, 0.0)])
def test_full_credit_from_forty_percent_and_linear_partial_credit_from_thirty(convnet_artifacts, fixture_images, accuracy, score):
    outcome = grade_artifact(convnet_artifacts, labelled_for_convnet(accuracy, convnet_artifacts, fixture_images))
    assert outcome.score == pytest.approx(score)
    assert f"validation accuracy {accuracy:.3f} on 200 held-out images" in outcome.message
    assert "test accuracy" in outcome.message and "full credit from 0.40" in outcome.message


def test_without_a_test_split_only_validation_is_reported(convnet_artifacts, fixture_images):
    data = labelled_for_convnet(0.45, convnet_artifacts, fixture_images)
    outcome = grade_artifact(convnet_artifacts, {"X_val": data["X_val"], "y_val": data["y_val"]})
    assert outcome.score == 1.0 and "test accuracy" not in outcome.message


def test_missing_artifact(tmp_path, fixture_images):
    outcome = grade_artifact(tmp_path / "artifacts", fixture_images)
    assert outcome.score == 0 and "artifacts/a1_convnet.npz is missing from your submission" in outcome.message


def test_missing_json(tmp_path, convnet_artifacts, fixture_images):
    folder = shutil.copytree(convnet_artifacts, tmp_path / "artifacts")
    (folder / f"{NAME}.json").unlink()
    outcome = grade_artifact(folder, fixture_images)
    assert outcome.score == 0 and "artifacts/a1_convnet.json is missing" in outcome.message


def test_an_oversized_artifact_is_not_read(tmp_path, convnet_artifacts, fixture_images, monkeypatch):
    import autograder.checks.models as models

    monkeypatch.setattr(models, "MAX_ARTIFACT_MB", 0.001)  # 1 KiB: the saved net is larger
    outcome = grade_artifact(convnet_artifacts, fixture_images)
    assert outcome.score == 0 and "is over" in outcome.message, outcome.message


@pytest.mark.parametrize("change, words", [
    (lambda meta: meta["meta"].update(hidden_dim=17), "W2 has shape"),
    (lambda meta: meta["meta"].update(num_filters="big"), "malformed architecture"),
    (lambda meta: meta["meta"].update(num_filters=True), "malformed architecture"),
    (lambda meta: meta["meta"].update(input_dim=[3, 32]), "malformed architecture"),
    (lambda meta: meta["meta"].update(num_filters=60000, hidden_dim=60000), "parameters, more than the limit of 50000000"),
    (lambda meta: meta["meta"].update(dtype="object"), "dtype 'object' is not float32 or float64"),
    (lambda meta: meta["meta"].update(filter_size=4), "filter_size 4 is not an odd number"),
    (lambda meta: meta["meta"].update(input_dim=[3, 31, 32]), "odd height or width"),
    (lambda meta: meta["meta"].update(model="FullyConnectedNet"), "does not describe a ThreeLayerConvNet"),
])
def test_malformed_artifacts_score_zero_with_a_reason(tmp_path, convnet_artifacts, fixture_images, change, words):
    folder = shutil.copytree(convnet_artifacts, tmp_path / "artifacts")
    meta = json.loads((folder / f"{NAME}.json").read_text())
    change(meta)
    (folder / f"{NAME}.json").write_text(json.dumps(meta))
    outcome = grade_artifact(folder, fixture_images)
    assert outcome.score == 0 and words in outcome.message, outcome.message
    assert "cannot be used" in outcome.message and str(tmp_path) not in outcome.message  # grader paths are not shown


def test_a_pickled_artifact_is_refused(tmp_path, convnet_artifacts, fixture_images):
    folder = shutil.copytree(convnet_artifacts, tmp_path / "artifacts")
    arrays = dict(np.load(folder / f"{NAME}.npz"))
    arrays["W1"] = np.array([{"evil": 1}], dtype=object)
    np.savez(folder / f"{NAME}.npz", **arrays)
    outcome = grade_artifact(folder, fixture_images)
    assert outcome.score == 0 and "cannot be used" in outcome.message


def test_a_net_for_other_images_scores_zero_with_a_reason(tmp_path, fixture_images):
    np.random.seed(1)
    save_conv_net(NAME, ThreeLayerConvNet(input_dim=(3, 16, 16), num_filters=2, filter_size=3, hidden_dim=4), tmp_path)
    outcome = grade_artifact(tmp_path, fixture_images)
    assert outcome.score == 0 and "does not fit the (3, 32, 32) images" in outcome.message, outcome.message


def test_a_net_too_slow_to_evaluate_scores_zero_with_a_reason(tmp_path, fixture_images):
    np.random.seed(2)
    save_conv_net(NAME, ThreeLayerConvNet(num_filters=200, filter_size=31, hidden_dim=1), tmp_path)
    outcome = grade_artifact(tmp_path, fixture_images)
    assert outcome.score == 0 and "multiply-adds per image, more than the grader allows" in outcome.message, outcome.message
