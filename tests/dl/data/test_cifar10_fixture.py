"""The generated CIFAR-10 fixture: exact on-disk format, determinism, safe publishing."""
from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from dl.data import ensure_cifar10_fixture, load_cifar10, write_cifar10_archive, write_cifar10_fixture
from dl.data.cifar10 import CLASSES
from dl.data.integrity import FIXTURE_MARKER

EXPECTED_FILES = [
    "DL_FIXTURE.json", "batches.meta", "data_batch_1", "data_batch_2", "data_batch_3",
    "data_batch_4", "data_batch_5", "readme.html", "test_batch",
]


def _contents(folder) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def test_files_follow_the_real_format(cifar_fixture_shared):
    assert sorted(p.name for p in cifar_fixture_shared.iterdir()) == EXPECTED_FILES
    for name in ("data_batch_1", "data_batch_5", "test_batch"):
        raw = (cifar_fixture_shared / name).read_bytes()
        assert raw[:2] == b"\x80\x02"  # pickle protocol 2
        batch = pickle.loads(raw)
        assert sorted(batch) == ["batch_label", "data", "filenames", "labels"]
        rows = 200 if name == "test_batch" else 120
        assert batch["data"].dtype == np.uint8 and batch["data"].shape == (rows, 3072)
        assert isinstance(batch["labels"], list) and all(type(label) is int for label in batch["labels"])
        assert len(batch["labels"]) == len(batch["filenames"]) == rows
    meta = pickle.loads((cifar_fixture_shared / "batches.meta").read_bytes())
    assert meta == {"label_names": list(CLASSES), "num_cases_per_batch": 120, "num_vis": 3072}
    marker = json.loads((cifar_fixture_shared / FIXTURE_MARKER).read_text())
    assert marker["generated"] is True and marker["seed"] == 0


def test_same_seed_gives_identical_bytes(tmp_path):
    first = write_cifar10_fixture(tmp_path / "a", n_train=50, n_test=20, seed=3)
    second = write_cifar10_fixture(tmp_path / "b", n_train=50, n_test=20, seed=3)
    other = write_cifar10_fixture(tmp_path / "c", n_train=50, n_test=20, seed=4)
    assert _contents(first) == _contents(second)
    assert _contents(first)["data_batch_1"] != _contents(other)["data_batch_1"]


def test_archive_is_deterministic(tmp_path):
    first = write_cifar10_archive(tmp_path / "a", n_train=20, n_test=10)
    second = write_cifar10_archive(tmp_path / "b", n_train=20, n_test=10)
    assert first.name == "cifar-10-python.tar.gz"
    assert first.read_bytes() == second.read_bytes()
    assert sorted(p.name for p in first.parent.iterdir()) == ["cifar-10-python.tar.gz"]


def test_fixture_is_learnable_but_not_trivial(cifar_fixture_shared):
    """A nearest-class-mean classifier beats chance clearly but is far from perfect."""
    X_train, y_train, X_test, y_test = load_cifar10(cifar_fixture_shared)
    X_train, X_test = X_train.reshape(len(X_train), -1), X_test.reshape(len(X_test), -1)
    means = np.stack([X_train[y_train == c].mean(axis=0) for c in range(10)])
    distances = ((X_test[:, None, :] - means[None]) ** 2).sum(axis=2)
    accuracy = (distances.argmin(axis=1) == y_test).mean()
    assert 0.3 < accuracy < 0.99


def test_rewrite_replaces_a_fixture_and_leaves_no_temporaries(tmp_path):
    write_cifar10_fixture(tmp_path, n_train=10, n_test=5, seed=0)
    folder = write_cifar10_fixture(tmp_path, n_train=10, n_test=5, seed=1)
    assert json.loads((folder / FIXTURE_MARKER).read_text())["seed"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["cifar-10-batches-py"]


def test_never_overwrites_a_folder_that_is_not_a_fixture(tmp_path):
    real = tmp_path / "cifar-10-batches-py"
    real.mkdir()
    (real / "data_batch_1").write_bytes(b"real data")
    with pytest.raises(FileExistsError, match="not a generated fixture"):
        write_cifar10_fixture(tmp_path, n_train=10, n_test=5)
    assert (real / "data_batch_1").read_bytes() == b"real data"
    assert [p.name for p in tmp_path.iterdir()] == ["cifar-10-batches-py"]


def test_ensure_creates_once_under_the_data_dir(isolated_data_dir):
    folder = ensure_cifar10_fixture()
    assert folder == isolated_data_dir / "fixtures" / "cifar-10-batches-py"
    stamp = (folder / "data_batch_1").stat().st_mtime_ns
    (folder / "readme.html").write_text("kept")
    assert ensure_cifar10_fixture() == folder
    assert (folder / "data_batch_1").stat().st_mtime_ns == stamp
    assert (folder / "readme.html").read_text() == "kept"
    assert [p.name for p in folder.parent.iterdir()] == ["cifar-10-batches-py"]
    assert load_cifar10(folder)[0].shape == (600, 32, 32, 3)
