"""The best-model unit: graded from the saved artifact by a reference model, on injected held-out data."""
import json
import shutil

import numpy as np
import pytest

from autograder.checks import CheckContext, run_checks
from tests.autograder.conftest import labelled_for
from tests.autograder.notebooks import unit

BEST = unit("a1-fc-best_model")


def grade_artifact(folder, data):
    return run_checks(BEST, None, CheckContext(unit=BEST, artifacts_dir=folder, data={"cifar10": lambda: data}), seed=0)


@pytest.mark.parametrize("accuracy, score", [(0.60, 1.0), (0.50, 1.0), (0.45, 0.5), (0.40, 0.0), (0.20, 0.0)])
def test_full_credit_from_half_and_linear_partial_credit_from_forty_percent(model_artifacts, fixture_images, accuracy, score):
    outcome = grade_artifact(model_artifacts, labelled_for(accuracy, model_artifacts, fixture_images))
    assert outcome.score == pytest.approx(score)
    assert f"validation accuracy {accuracy:.3f} on 200 held-out images" in outcome.message
    assert "test accuracy" in outcome.message


def test_missing_artifact(tmp_path, fixture_images):
    outcome = grade_artifact(tmp_path / "artifacts", fixture_images)
    assert outcome.score == 0 and "artifacts/a1_best_fc.npz is missing from your submission" in outcome.message


@pytest.mark.parametrize("change, words", [
    (lambda meta: meta["meta"].update(hidden_dims=[30]), "shape"),
    (lambda meta: meta["meta"].update(hidden_dims="big"), "malformed architecture"),
    (lambda meta: meta["meta"].update(input_dim=60000, hidden_dims=[60000]), "more than"),
    (lambda meta: meta["meta"].update(dtype="object"), "dtype"),
])
def test_malformed_artifacts_score_zero_with_a_reason(tmp_path, model_artifacts, fixture_images, change, words):
    folder = shutil.copytree(model_artifacts, tmp_path / "artifacts")
    meta = json.loads((folder / "a1_best_fc.json").read_text())
    change(meta)
    (folder / "a1_best_fc.json").write_text(json.dumps(meta))
    outcome = grade_artifact(folder, fixture_images)
    assert outcome.score == 0 and words in outcome.message, outcome.message
    assert str(tmp_path) not in outcome.message  # grader paths are not shown to students


def test_a_pickled_artifact_is_refused(tmp_path, model_artifacts, fixture_images):
    folder = shutil.copytree(model_artifacts, tmp_path / "artifacts")
    arrays = dict(np.load(folder / "a1_best_fc.npz"))
    arrays["W1"] = np.array([{"evil": 1}], dtype=object)
    np.savez(folder / "a1_best_fc.npz", **arrays)
    outcome = grade_artifact(folder, fixture_images)
    assert outcome.score == 0 and "cannot be used" in outcome.message


def test_a_saved_model_that_would_fill_the_graders_memory_is_refused(tmp_path, model_artifacts, fixture_images):
    """W1 compressed: a few KiB on disk, far over the limit once loaded (the grader would run out of memory)."""
    folder = shutil.copytree(model_artifacts, tmp_path / "artifacts")
    arrays = dict(np.load(folder / "a1_best_fc.npz"))
    arrays["W1"] = np.zeros((2**16, 2**10))  # 512 MiB
    np.savez_compressed(folder / "a1_best_fc.npz", **arrays)
    assert (folder / "a1_best_fc.npz").stat().st_size < 2**20
    outcome = grade_artifact(folder, fixture_images)
    assert outcome.score == 0 and "512 MiB in memory, over the 400 MiB limit" in outcome.message, outcome.message
    assert str(tmp_path) not in outcome.message


def test_absurdly_nested_json_beside_the_model_scores_zero_with_a_reason(tmp_path, model_artifacts, fixture_images):
    folder = shutil.copytree(model_artifacts, tmp_path / "artifacts")
    (folder / "a1_best_fc.json").write_text('{"meta": ' + "[" * 100_000 + "]" * 100_000 + "}")
    outcome = grade_artifact(folder, fixture_images)
    assert outcome.score == 0 and "cannot be used" in outcome.message and "recursion" in outcome.message, outcome.message
