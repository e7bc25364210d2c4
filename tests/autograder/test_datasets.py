"""autograder.datasets: every named data set has a loader and a download entry; cifar10_test is what torch models see."""
import importlib

import numpy as np
import pytest

from autograder.datasets import DATASETS, default_sources, download_command
from dl.data import REGISTRY, CIFAR10_MEAN, CIFAR10_STD, load_cifar10


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """An empty data folder of the test's own, outside smoke mode."""
    monkeypatch.setenv("DL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("DL_SMOKE", raising=False)
    return tmp_path / "data"


def test_every_data_set_names_a_loader_and_a_download_entry():
    for name, dataset in DATASETS.items():
        module, function = dataset.loader.split(":")
        assert callable(getattr(importlib.import_module(module), function)), name
        assert dataset.download in REGISTRY, name
    assert download_command("cifar10_test") == "python -m dl.data.download cifar10"


def test_cifar10_test_holds_every_test_image_standardised(data_dir):
    arrays = DATASETS["cifar10_test"].load(smoke=True)
    assert sorted(arrays) == ["X_test", "y_test"]
    X, y = arrays["X_test"], arrays["y_test"]
    assert X.dtype == np.float32 and X.shape == (200, 3, 32, 32) and y.dtype == np.int64 and y.shape == (200,)
    _, _, images, labels = load_cifar10(data_dir / "fixtures" / "cifar-10-batches-py")
    expected = (images.transpose(0, 3, 1, 2) / 255 - np.reshape(CIFAR10_MEAN, (3, 1, 1))) / np.reshape(CIFAR10_STD, (3, 1, 1))
    np.testing.assert_allclose(X, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(y, labels)


def test_cifar10_test_without_the_real_files_names_the_download(data_dir):
    with pytest.raises(FileNotFoundError, match="python -m dl.data.download cifar10"):
        default_sources(smoke=False)["cifar10_test"]()
