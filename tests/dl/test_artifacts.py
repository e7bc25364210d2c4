"""Pickle-free artifacts: round trip, atomic writes, clear errors."""
import json
import os
import stat
import zipfile

import numpy as np
import pytest

from dl import artifacts
from dl.models.cnn import ThreeLayerConvNet, save_conv_net
from dl.models.fc_net import FullyConnectedNet, save_fc_net


def test_round_trip(tmp_path):
    w = np.arange(6.0).reshape(2, 3)
    path = artifacts.save("best", directory=tmp_path, meta={"hidden_dims": [4, 5]}, W1=w, b1=np.zeros(3))
    assert path == tmp_path / "best.npz"
    arrays, meta = artifacts.load("best", directory=tmp_path)
    np.testing.assert_array_equal(arrays["W1"], w)
    assert meta == {"hidden_dims": [4, 5]}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.json", "best.npz"]  # no temp files left


def test_object_arrays_and_bad_meta_write_nothing(tmp_path):
    with pytest.raises(TypeError, match="dtype object"):
        artifacts.save("x", directory=tmp_path, W=np.array([{}, 1], dtype=object))
    with pytest.raises(TypeError):
        artifacts.save("x", directory=tmp_path, meta={"f": print}, W=np.ones(2))
    assert list(tmp_path.iterdir()) == []


def test_missing_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.npz"):
        artifacts.load("nothing", directory=tmp_path)


def test_pickled_npz_is_refused(tmp_path):
    np.savez(tmp_path / "evil.npz", W=np.array([object()], dtype=object))
    (tmp_path / "evil.json").write_text(json.dumps({"meta": {}, "arrays": ["W"]}))
    with pytest.raises(ValueError, match="cannot be read"):
        artifacts.load("evil", directory=tmp_path)


def test_mismatched_listing_is_reported(tmp_path):
    artifacts.save("a", directory=tmp_path, W=np.ones(2))
    (tmp_path / "a.json").write_text(json.dumps({"meta": {}, "arrays": ["W", "b"]}))
    with pytest.raises(ValueError, match="lists"):
        artifacts.load("a", directory=tmp_path)


@pytest.mark.parametrize("text", ["[1, 2]", '{"arrays": ["w"]}', '{"arrays": ["w"], "meta": 3}'])
def test_a_description_that_is_not_what_save_writes_is_a_value_error(tmp_path, text):
    artifacts.save("model", tmp_path, meta={"k": 1}, w=np.zeros(2))
    (tmp_path / "model.json").write_text(text)
    with pytest.raises(ValueError, match="not a saved artifact's description"):
        artifacts.load("model", tmp_path)


def write_npz_claiming(path, shape, data: bytes = bytes(8)) -> None:
    """An ``.npz`` whose array ``W`` claims ``shape`` (float64) in its header but holds only ``data``."""
    with zipfile.ZipFile(path, "w") as archive, archive.open("W.npy", "w") as member:
        np.lib.format.write_array_header_1_0(member, {"descr": "<f8", "fortran_order": False, "shape": shape})
        member.write(data)


def test_array_bytes_reads_the_headers_only(tmp_path):
    artifacts.save("small", tmp_path, W=np.ones((3, 4)), b=np.zeros(4, dtype=np.float32))
    assert 12 * 8 + 4 * 4 <= artifacts.array_bytes(tmp_path / "small.npz") <= 12 * 8 + 4 * 4 + 2 * 256
    write_npz_claiming(tmp_path / "lying.npz", (10**12,))
    assert artifacts.array_bytes(tmp_path / "lying.npz") == 8 * 10**12  # read without allocating it


def test_arrays_over_max_bytes_are_refused_before_they_are_read(tmp_path):
    (tmp_path / "W.json").write_text(json.dumps({"meta": {}, "arrays": ["W"]}))
    write_npz_claiming(tmp_path / "W.npz", (10**12,))  # np.load would first allocate 8 TB for it
    with pytest.raises(ValueError, match="7,629,395 MiB in memory, over the 1 MiB limit"):
        artifacts.load("W", tmp_path, max_bytes=2**20)
    np.savez_compressed(tmp_path / "W.npz", W=np.zeros(2**22))  # 32 MiB of zeros: about 32 KiB on disk
    assert (tmp_path / "W.npz").stat().st_size < 2**20
    with pytest.raises(ValueError, match="32 MiB in memory, over the 16 MiB limit"):
        artifacts.load("W", tmp_path, max_bytes=16 * 2**20)
    assert artifacts.load("W", tmp_path, max_bytes=64 * 2**20)[0]["W"].shape == (2**22,)


def test_a_file_that_is_not_an_npz_archive_is_a_value_error(tmp_path):
    np.save(tmp_path / "plain.npy", np.ones(3))
    (tmp_path / "plain.npy").rename(tmp_path / "plain.npz")
    (tmp_path / "plain.json").write_text(json.dumps({"meta": {}, "arrays": []}))
    with pytest.raises(ValueError, match="plain.npz is not an .npz archive"):
        artifacts.load("plain", tmp_path)


def test_absurdly_nested_json_is_a_value_error(tmp_path):
    artifacts.save("model", tmp_path, w=np.zeros(2))
    (tmp_path / "model.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ValueError, match="cannot be read: maximum recursion depth"):
        artifacts.load("model", tmp_path)


@pytest.fixture
def umask():
    """A function that sets the process umask (``umask(0o027)``); the old umask is restored after the test."""
    old = os.umask(0o022)
    os.umask(old)
    yield os.umask
    os.umask(old)


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077], ids=oct)
def test_saved_files_get_the_mode_the_umask_allows(tmp_path, umask, mask):
    """Not 0o600 as tempfile.mkstemp would make them: a grader running as another user must read them."""
    umask(mask)
    artifacts.save("best", directory=tmp_path, meta={}, W=np.ones(2))
    for name in ("best.npz", "best.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~mask, name


def test_saved_models_get_the_mode_the_umask_allows(tmp_path, umask):
    umask(0o022)
    np.random.seed(0)
    save_fc_net("fc", FullyConnectedNet([3], input_dim=4, num_classes=2), directory=tmp_path)
    save_conv_net("cnn", ThreeLayerConvNet(input_dim=(3, 4, 4), num_filters=2, filter_size=3, hidden_dim=5), directory=tmp_path)
    modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in tmp_path.iterdir()}
    assert modes == {name: 0o644 for name in ("fc.npz", "fc.json", "cnn.npz", "cnn.json")}


def test_a_failed_write_leaves_no_temporary_file(tmp_path):
    def fail(f):
        f.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        artifacts._atomic_write(tmp_path / "x.npz", fail)
    assert list(tmp_path.iterdir()) == []
