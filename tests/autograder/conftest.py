"""Shared fixtures of the grader tests: the release notebook, held-out data and a graded-submission cache."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from autograder.grade import grade_submission
from autograder.options import GradingOptions
from course.grading.plan import GradingPlan, NotebookPlan
from dl.data import get_cifar10_data, write_cifar10_fixture
from dl.models.fc_net import FullyConnectedNet, load_fc_net, save_fc_net
from tests.autograder import notebooks

# Short limits keep the timeout tests quick; the checks themselves need a few milliseconds.
OPTIONS = GradingOptions(request_timeout=3.0, cell_timeout=10.0, unit_timeout=30.0)
BEST_MODEL_ACCURACY = 0.55  # the held-out labels below make the saved model score exactly this


@pytest.fixture(scope="session")
def release_path(tmp_path_factory) -> Path:
    return notebooks.write(notebooks.release_notebook(), tmp_path_factory.mktemp("release") / "FullyConnectedNets.ipynb")


@pytest.fixture(scope="session")
def model_artifacts(tmp_path_factory) -> Path:
    """An ``artifacts/`` folder holding a small saved FullyConnectedNet."""
    folder = tmp_path_factory.mktemp("saved") / "artifacts"
    np.random.seed(0)
    save_fc_net("a1_best_fc", FullyConnectedNet([20], weight_scale=1e-2), folder)
    return folder


def labelled_for(accuracy: float, model_dir: Path, images: dict) -> dict:
    """Held-out data on which the saved model's accuracy is exactly ``accuracy``.

    The images come from the generated CIFAR-10 fixture; the labels agree with the saved
    model's predictions on the first ``accuracy * N`` images and disagree on the rest.
    """
    predictions = np.argmax(load_fc_net("a1_best_fc", model_dir).loss(images["X_val"]), axis=1)
    right = int(round(accuracy * len(predictions)))
    labels = np.where(np.arange(len(predictions)) < right, predictions, (predictions + 1) % 10)
    return {"X_val": images["X_val"], "y_val": labels, "X_test": images["X_test"], "y_test": images["y_test"]}


@pytest.fixture(scope="session")
def fixture_images(tmp_path_factory) -> dict:
    root = write_cifar10_fixture(tmp_path_factory.mktemp("cifar"))
    return get_cifar10_data(num_training=100, num_validation=200, num_test=50, root=root)


@pytest.fixture(scope="session")
def held_out(model_artifacts, fixture_images):
    """The data sources of a grading run: ``cifar10`` is the labelled fixture."""
    data = labelled_for(BEST_MODEL_ACCURACY, model_artifacts, fixture_images)
    return {"cifar10": lambda: data}


@pytest.fixture(scope="session")
def grade(release_path, tmp_path_factory, model_artifacts, held_out):
    """``grade(name, notebook_or_bytes)``: the SubmissionResult of a submission, graded once per session."""
    cache = {}
    root = tmp_path_factory.mktemp("submissions")

    def grade_one(name: str, nb, artifacts: Path | None = model_artifacts, **kwargs):
        if name not in cache:
            path = root / name / "FullyConnectedNets.ipynb"
            if isinstance(nb, bytes):
                path.parent.mkdir(parents=True)
                path.write_bytes(nb)
            else:
                notebooks.write(nb, path)
            cache[name] = grade_submission(path, release_path, notebooks.UNITS, artifacts_dir=artifacts,
                                           options=kwargs.pop("options", OPTIONS), data=held_out, **kwargs)
        return cache[name]
    return grade_one


def scores(result) -> dict[str, float]:
    return {u.grade_id: u.score for u in result.units}


def unit_result(result, grade_id: str):
    return next(u for u in result.units if u.grade_id == grade_id)


def plan_for(release_path: Path, units, options: GradingOptions = OPTIONS, **kwargs) -> GradingPlan:
    """The grading plan of the one-notebook assignment ``a1`` released at ``release_path``, for
    :func:`course.grading.assignment.grade_class` (``kwargs``: ``data`` or ``fixture_data``)."""
    return GradingPlan("a1", release_path.parent, (NotebookPlan(release_path.stem, tuple(units)),), options, **kwargs)
