"""load_cifar10: layout, validation of damaged files, missing files and checksum policy."""
from __future__ import annotations

import os
import pickle
import struct
import sys

import numpy as np
import pytest

from dl.data import load_cifar10, load_cifar10_classes
from dl.data.cifar10 import CLASSES
from dl.data.fixtures import digit_images
from dl.data.integrity import FIXTURE_MARKER


def write_batch(path, data, labels, **extra) -> None:
    """Write a batch pickle (protocol 2) in the CIFAR-10 layout with the given contents."""
    with open(path, "wb") as f:
        pickle.dump({"batch_label": "test", "data": data, "labels": labels, **extra}, f, protocol=2)


def test_shapes_dtypes_and_values(cifar_fixture_shared):
    X_train, y_train, X_test, y_test = load_cifar10(cifar_fixture_shared)
    assert X_train.shape == (600, 32, 32, 3) and X_train.dtype == np.float64
    assert y_train.shape == (600,) and y_train.dtype == np.int64
    assert X_test.shape == (200, 32, 32, 3) and X_test.dtype == np.float64
    assert y_test.shape == (200,) and y_test.dtype == np.int64
    assert X_train.min() >= 0 and X_train.max() <= 255
    assert set(np.unique(y_train)) == set(range(10))


def test_fixture_round_trip_is_exact(cifar_fixture_shared):
    images, labels = digit_images(800, 32, seed=0)
    X_train, y_train, X_test, y_test = load_cifar10(cifar_fixture_shared)
    np.testing.assert_array_equal(X_train, images[:600])
    np.testing.assert_array_equal(X_test, images[600:])
    np.testing.assert_array_equal(y_train, labels[:600])
    np.testing.assert_array_equal(y_test, labels[600:])


def test_rgb_planes_land_in_channels_row_major(cifar_fixture):
    rows, cols = np.meshgrid(np.arange(32), np.arange(32), indexing="ij")
    red, green, blue = rows, 100 + cols, np.full((32, 32), 250)
    known = np.concatenate([red.ravel(), green.ravel(), blue.ravel()]).astype(np.uint8)[None, :]
    write_batch(cifar_fixture / "data_batch_1", known, [7])
    X_train, y_train, _, _ = load_cifar10(cifar_fixture)
    image = X_train[0]
    np.testing.assert_array_equal(image[:, :, 0], rows)  # red varies down the rows
    np.testing.assert_array_equal(image[:, :, 1], 100 + cols)  # green varies across the columns
    np.testing.assert_array_equal(image[:, :, 2], 250)
    assert y_train[0] == 7 and len(X_train) == 1 + 4 * 120


def test_bytes_keys_are_accepted(cifar_fixture):
    data = np.zeros((2, 3072), np.uint8)
    with open(cifar_fixture / "test_batch", "wb") as f:
        pickle.dump({b"data": data, b"labels": [1, 2], b"batch_label": b"x"}, f, protocol=2)
    _, _, X_test, y_test = load_cifar10(cifar_fixture)
    assert X_test.shape == (2, 32, 32, 3) and list(y_test) == [1, 2]


def test_pre_numpy2_module_path_is_accepted(cifar_fixture):
    """The published files name numpy.core.multiarray; it must resolve without importing numpy.core."""
    path = cifar_fixture / "data_batch_2"
    raw = path.read_bytes()
    assert b"numpy._core.multiarray" in raw
    path.write_bytes(raw.replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))
    X_train, _, _, _ = load_cifar10(cifar_fixture)
    assert X_train.shape == (600, 32, 32, 3)


class _Python2StylePickler(pickle._Pickler):
    """Writes bytes as Python 2 ``str`` (BINSTRING), as in the published CIFAR-10 files."""

    def save_bytes(self, obj: bytes) -> None:
        self.write(b"T" + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch = {**pickle._Pickler.dispatch, bytes: save_bytes}


def test_python2_style_pickle_is_read(cifar_fixture):
    """Array bytes stored as a Python 2 str come back as text under encoding='latin1'; numpy accepts it."""
    data = (np.arange(2 * 3072) % 256).astype(np.uint8).reshape(2, 3072)
    with open(cifar_fixture / "test_batch", "wb") as f:
        _Python2StylePickler(f, protocol=2).dump({"data": data, "labels": [3, 4], "batch_label": "testing batch"})
    _, _, X_test, y_test = load_cifar10(cifar_fixture)
    np.testing.assert_array_equal(X_test, data.reshape(2, 3, 32, 32).transpose(0, 2, 3, 1))
    assert list(y_test) == [3, 4]


def test_class_names(cifar_fixture_shared):
    assert load_cifar10_classes(cifar_fixture_shared) == list(CLASSES)


class _RunsShell:
    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def _truncate(path, rng):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _random_bytes(path, rng):
    path.write_bytes(rng.integers(0, 256, 5000, dtype=np.uint8).tobytes())


def _wrong_shape(path, rng):
    write_batch(path, np.zeros((4, 3000), np.uint8), [0, 1, 2, 3])


def _wrong_dtype(path, rng):
    write_batch(path, np.zeros((4, 3072), np.float32), [0, 1, 2, 3])


def _label_out_of_range(path, rng):
    write_batch(path, np.zeros((4, 3072), np.uint8), [0, 1, 2, 10])


def _negative_label(path, rng):
    write_batch(path, np.zeros((4, 3072), np.uint8), [0, -1, 2, 3])


def _float_labels(path, rng):
    write_batch(path, np.zeros((4, 3072), np.uint8), [0.0, 1.5, 2.0, 3.0])


def _label_count(path, rng):
    write_batch(path, np.zeros((4, 3072), np.uint8), [0, 1, 2])


def _missing_labels(path, rng):
    with open(path, "wb") as f:
        pickle.dump({"data": np.zeros((4, 3072), np.uint8)}, f, protocol=2)


def _not_a_dict(path, rng):
    with open(path, "wb") as f:
        pickle.dump([1, 2, 3], f, protocol=2)


@pytest.mark.parametrize(
    "damage, message",
    [
        (_truncate, "not a readable"),
        (_random_bytes, "not a readable"),
        (_wrong_shape, "(4, 3000)"),
        (_wrong_dtype, "float32"),
        (_label_out_of_range, "0..9"),
        (_negative_label, "0..9"),
        (_float_labels, "ints"),
        (_label_count, "3 labels for 4 images"),
        (_missing_labels, "labels"),
        (_not_a_dict, "dict"),
    ],
)
def test_damaged_batch_gives_value_error_naming_the_file(cifar_fixture, rng, damage, message):
    damage(cifar_fixture / "data_batch_3", rng)
    with pytest.raises(ValueError, match="data_batch_3") as info:
        load_cifar10(cifar_fixture)
    assert message in str(info.value)


def test_pickle_calling_os_system_is_refused_without_running(cifar_fixture, tmp_path):
    witness = tmp_path / "executed"
    write_batch(cifar_fixture / "test_batch", _RunsShell(f"touch {witness}"), [0])
    with pytest.raises(ValueError, match="test_batch") as info:
        load_cifar10(cifar_fixture)
    assert "system" in str(info.value) and "refusing" in str(info.value)
    assert not witness.exists()


def test_missing_folder_names_file_checksum_and_command(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        load_cifar10(tmp_path / "nowhere" / "cifar-10-batches-py")
    message = str(info.value)
    assert "data_batch_1" in message and "c99cafc152244af753f735de768cd75f" in message
    assert "python -m dl.data.download cifar10" in message


def test_missing_file_is_named(cifar_fixture):
    (cifar_fixture / "test_batch").unlink()
    with pytest.raises(FileNotFoundError, match="test_batch") as info:
        load_cifar10(cifar_fixture)
    assert "40351d587109b95175f43aff81a1287e" in str(info.value)
    assert "python -m dl.data.download cifar10" in str(info.value)


def test_real_data_is_checked_against_registry_md5s(cifar_fixture):
    (cifar_fixture / FIXTURE_MARKER).unlink()  # now it claims to be the real release
    with pytest.raises(ValueError, match="data_batch_1") as info:
        load_cifar10(cifar_fixture)
    assert "c99cafc152244af753f735de768cd75f" in str(info.value)
    assert "re-download" in str(info.value)


def _leave_pytest_and_smoke(monkeypatch):
    monkeypatch.delenv("PYTEST_CURRENT_TEST", raising=False)
    monkeypatch.delitem(sys.modules, "pytest")
    monkeypatch.delenv("DL_SMOKE", raising=False)


def test_fixture_refused_outside_smoke_mode_and_pytest(cifar_fixture_shared, monkeypatch):
    _leave_pytest_and_smoke(monkeypatch)
    with pytest.raises(ValueError, match="generated fixture"):
        load_cifar10(cifar_fixture_shared)


def test_fixture_accepted_in_smoke_mode_outside_pytest(cifar_fixture_shared, monkeypatch):
    _leave_pytest_and_smoke(monkeypatch)
    monkeypatch.setenv("DL_SMOKE", "1")
    assert load_cifar10(cifar_fixture_shared)[0].shape == (600, 32, 32, 3)
