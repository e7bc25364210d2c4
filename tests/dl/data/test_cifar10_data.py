"""get_cifar10_data: splits, mean subtraction, layout, size errors and smoke-mode defaults."""
from __future__ import annotations

import numpy as np
import pytest

from dl.data import cifar10_defaults, get_cifar10_data, load_cifar10
from dl.data.integrity import FIXTURE_MARKER

SHAPES = {
    "X_train": (400, 3, 32, 32), "y_train": (400,),
    "X_val": (50, 3, 32, 32), "y_val": (50,),
    "X_test": (30, 3, 32, 32), "y_test": (30,),
}


def test_split_sizes_rows_and_layout(cifar_fixture_shared):
    data = get_cifar10_data(400, 50, 30, subtract_mean=False, root=cifar_fixture_shared)
    assert {key: value.shape for key, value in data.items()} == SHAPES
    assert all(data[key].dtype == np.float64 for key in ("X_train", "X_val", "X_test"))
    assert all(data[key].dtype == np.int64 for key in ("y_train", "y_val", "y_test"))
    X, y, X_test, y_test = load_cifar10(cifar_fixture_shared)
    np.testing.assert_array_equal(data["X_train"], X[:400].transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(data["X_val"], X[400:450].transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(data["X_test"], X_test[:30].transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(data["y_val"], y[400:450])
    np.testing.assert_array_equal(data["y_test"], y_test[:30])


def test_training_mean_image_is_subtracted_from_every_split(cifar_fixture_shared):
    raw = get_cifar10_data(400, 50, 30, subtract_mean=False, root=cifar_fixture_shared)
    data = get_cifar10_data(400, 50, 30, root=cifar_fixture_shared)
    mean_image = raw["X_train"].mean(axis=0)
    assert np.abs(data["X_train"].mean(axis=0)).max() < 1e-9
    np.testing.assert_allclose(data["X_val"], raw["X_val"] - mean_image)
    np.testing.assert_allclose(data["X_test"], raw["X_test"] - mean_image)
    assert data["X_train"].flags["C_CONTIGUOUS"]


@pytest.mark.parametrize(
    "sizes, message",
    [((600, 1, 10), "holds only 600 training rows"), ((100, 10, 201), "holds only 200"), ((0, 10, 10), "num_training")],
)
def test_impossible_sizes_are_errors(cifar_fixture_shared, sizes, message):
    with pytest.raises(ValueError, match=message):
        get_cifar10_data(*sizes, root=cifar_fixture_shared)


def test_full_size_defaults_do_not_fit_a_fixture(cifar_fixture_shared):
    with pytest.raises(ValueError, match="49000 training"):
        get_cifar10_data(root=cifar_fixture_shared)


def test_normal_defaults(isolated_data_dir):
    defaults = cifar10_defaults()
    assert defaults.root == isolated_data_dir / "cifar-10-batches-py"
    assert defaults[1:] == (49000, 1000, 1000)
    assert not isolated_data_dir.exists()  # nothing is created outside smoke mode


def test_missing_default_data_names_the_command():
    with pytest.raises(FileNotFoundError, match="python -m dl.data.download cifar10"):
        get_cifar10_data()


def test_smoke_mode_uses_a_generated_fixture(isolated_data_dir, monkeypatch):
    monkeypatch.setenv("DL_SMOKE", "1")
    data = get_cifar10_data()
    assert data["X_train"].shape == (500, 3, 32, 32)
    assert data["X_val"].shape == (100, 3, 32, 32)
    assert data["X_test"].shape == (100, 3, 32, 32)
    fixture = isolated_data_dir / "fixtures" / "cifar-10-batches-py"
    assert (fixture / FIXTURE_MARKER).is_file()
    assert cifar10_defaults() == (fixture, 500, 100, 100)


def test_smoke_mode_keeps_an_explicit_root(cifar_fixture_shared, monkeypatch):
    monkeypatch.setenv("DL_SMOKE", "1")
    assert cifar10_defaults(cifar_fixture_shared).root == cifar_fixture_shared
    assert get_cifar10_data(root=cifar_fixture_shared)["X_train"].shape == (500, 3, 32, 32)
