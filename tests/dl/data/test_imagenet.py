"""The ImageNet sample: bundled class names, the generated fixture, and when label_map may be unpickled."""
from __future__ import annotations

import json
import os
import pickle
import shutil
from dataclasses import replace

import numpy as np
import pytest

from dl.data import (
    REGISTRY, DownloadError, download, ensure_imagenet_val_fixture, imagenet_class_names, load_imagenet_val,
    write_imagenet_val_fixture,
)
from dl.data.download import file_md5
from dl.data.fixtures import _write_npz
from dl.data.integrity import FIXTURE_MARKER

ANCHORS = {  # index -> name, as given for the standard ILSVRC-2012 order
    0: "tench", 1: "goldfish", 76: "tarantula", 78: "tick", 187: "Yorkshire terrier", 366: "gorilla",
    604: "hourglass", 683: "oboe", 999: "toilet tissue", 151: "Chihuahua", 207: "golden retriever",
    281: "tabby", 291: "lion", 340: "zebra", 409: "analog clock", 504: "coffee mug", 817: "sports car",
    948: "Granny Smith", 954: "banana", 985: "daisy",
}


@pytest.fixture(scope="module")
def fixture_file(tmp_path_factory):
    """A 25-image fixture written once; tests copy it before changing anything."""
    return write_imagenet_val_fixture(tmp_path_factory.mktemp("imagenet"))


def copy_to(fixture_file, folder, marked: bool):
    """A copy of the fixture file in ``folder``, with the fixture marker or without it (as real data)."""
    folder.mkdir(parents=True)
    if marked:
        shutil.copy(fixture_file.parent / FIXTURE_MARKER, folder / FIXTURE_MARKER)
    return shutil.copy(fixture_file, folder / fixture_file.name)


def rewrite(path, **changes):
    """Rewrite the .npz at ``path`` with some arrays replaced (values) or dropped (None)."""
    with np.load(path, allow_pickle=True) as archive:
        arrays = {key: archive[key] for key in archive.files}
    arrays.update(changes)
    _write_npz(path, {key: value for key, value in arrays.items() if value is not None})


def label_map_of(names: dict) -> np.ndarray:
    holder = np.empty((), dtype=object)
    holder[()] = names
    return holder


# --------------------------------------------------------------------------------------------
# Class names


def test_class_names_are_the_1000_classes_in_index_order():
    names = imagenet_class_names()
    assert len(names) == 1000 and all(isinstance(n, str) and n == n.strip() and n for n in names)
    assert len({n.lower() for n in names}) == 1000  # unique, even ignoring case
    assert {i: names[i] for i in ANCHORS} == ANCHORS
    assert (names[134], names[517], names[638], names[639]) == ("crane (bird)", "crane (machine)", "maillot", "tank suit")
    names.append("extra")
    assert len(imagenet_class_names()) == 1000  # a fresh list each time


# --------------------------------------------------------------------------------------------
# The fixture


def test_fixture_has_the_real_format(fixture_file):
    assert fixture_file.name == "imagenet_val_25.npz" and fixture_file.parent.name == "imagenet_val"
    with pytest.raises(ValueError, match="allow_pickle"):
        np.load(fixture_file, allow_pickle=False)["label_map"]  # the real format pickles label_map
    with np.load(fixture_file, allow_pickle=True) as archive:
        assert sorted(archive.files) == ["X", "label_map", "y"]
        X, y, label_map = archive["X"], archive["y"], archive["label_map"]
    assert X.dtype == np.uint8 and X.shape == (25, 224, 224, 3)
    assert y.dtype == np.int64 and y.shape == (25,) and 0 <= y.min() and y.max() < 1000
    assert label_map.dtype == object and label_map.shape == () and label_map.item() == dict(enumerate(imagenet_class_names()))
    assert X.std() > 20 and len({image.tobytes() for image in X}) == 25  # real photographs, all different crops
    marker = json.loads((fixture_file.parent / FIXTURE_MARKER).read_text())
    assert marker["generated"] is True and marker["num_images"] == 25


def test_fixture_bytes_are_deterministic(fixture_file, tmp_path):
    assert write_imagenet_val_fixture(tmp_path / "a").read_bytes() == fixture_file.read_bytes()
    assert write_imagenet_val_fixture(tmp_path / "b", num_images=4, seed=1).read_bytes() != fixture_file.read_bytes()


def test_ensure_writes_once(isolated_data_dir):
    path = ensure_imagenet_val_fixture()
    assert path == isolated_data_dir / "fixtures" / "imagenet_val" / "imagenet_val_25.npz"
    before = path.stat().st_mtime_ns
    assert ensure_imagenet_val_fixture() == path and path.stat().st_mtime_ns == before


# --------------------------------------------------------------------------------------------
# Loading


def test_load_the_first_images(fixture_file):
    X, y, class_names = load_imagenet_val(num=5, path=fixture_file)
    with np.load(fixture_file) as archive:
        np.testing.assert_array_equal(X, archive["X"][:5])
        np.testing.assert_array_equal(y, archive["y"][:5])
    assert X.shape == (5, 224, 224, 3) and y.dtype == np.int64 and class_names == imagenet_class_names()
    assert load_imagenet_val(path=fixture_file)[0].shape == (25, 224, 224, 3)
    for bad in (0, 26):
        with pytest.raises(ValueError, match="between 1 and 25"):
            load_imagenet_val(num=bad, path=fixture_file)


def test_a_fixture_label_map_is_read(fixture_file, tmp_path):
    path = copy_to(fixture_file, tmp_path / "marked", marked=True)
    shouted = {i: name.upper() for i, name in enumerate(imagenet_class_names())}
    rewrite(path, label_map=label_map_of(shouted))
    assert load_imagenet_val(path=path)[2] == [shouted[i] for i in range(1000)]


def test_an_unverified_file_keeps_its_pickle_closed(fixture_file, tmp_path):
    """Real data whose entry is unpinned: X and y are used, label_map never unpickled."""
    assert not REGISTRY["imagenet_val"].pinned
    path = copy_to(fixture_file, tmp_path / "real", marked=False)
    witness = tmp_path / "pickle-ran"
    rewrite(path, label_map=_runs_shell(f"touch {witness}"))
    X, y, class_names = load_imagenet_val(path=path)
    assert X.shape == (25, 224, 224, 3) and class_names == imagenet_class_names()
    assert not witness.exists()


def test_a_hostile_label_map_is_refused_even_when_trusted(fixture_file, tmp_path):
    path = copy_to(fixture_file, tmp_path / "marked", marked=True)
    witness = tmp_path / "pickle-ran"
    rewrite(path, label_map=_runs_shell(f"touch {witness}"))
    with pytest.raises(ValueError, match="label_map is not readable.*refusing to load"):
        load_imagenet_val(path=path)
    assert not witness.exists()


def test_a_pinned_file_is_checked_before_its_label_map_is_read(fixture_file, tmp_path, monkeypatch):
    path = copy_to(fixture_file, tmp_path / "real", marked=False)
    shouted = {i: name.upper() for i, name in enumerate(imagenet_class_names())}
    rewrite(path, label_map=label_map_of(shouted))
    entry = REGISTRY["imagenet_val"]
    monkeypatch.setitem(REGISTRY, "imagenet_val", replace(entry, size=path.stat().st_size, md5=file_md5(path)))
    assert load_imagenet_val(path=path)[2][0] == "TENCH"
    monkeypatch.setitem(REGISTRY, "imagenet_val", replace(entry, size=path.stat().st_size, md5="0" * 32))
    with pytest.raises(ValueError, match="damaged or not the published one.*python -m dl.data.download imagenet_val"):
        load_imagenet_val(path=path)


@pytest.mark.parametrize("changes, message", [
    ({"X": np.zeros((2, 224, 224, 3), np.float32)}, "X must be a uint8 array"),
    ({"X": np.zeros((2, 224, 224), np.uint8), "y": np.zeros(2, np.int64)}, "X must be a uint8 array"),
    ({"y": np.zeros(24, np.int64)}, "y must be 25 integer labels"),
    ({"y": np.full(25, 1.0)}, "y must be 25 integer labels"),
    ({"y": np.full(25, 1000)}, "labels must lie in 0..999"),
    ({"y": None}, "missing array"),
    ({"X": np.array([None, 1], dtype=object)}, "allow_pickle"),
    ({"label_map": label_map_of({0: "only one"})}, "dict of 1000 class names"),
    ({"label_map": label_map_of({"0": "a", **{i: "b" for i in range(1, 1000)}})}, "dict of 1000 class names"),
    ({"label_map": np.arange(3)}, "not the pickled dict"),
    ({"label_map": None}, "label_map is not readable"),
])
def test_malformed_files_are_errors_naming_the_file(fixture_file, tmp_path, changes, message):
    path = copy_to(fixture_file, tmp_path / "marked", marked=True)
    rewrite(path, **changes)
    with pytest.raises(ValueError, match=message) as info:
        load_imagenet_val(path=path)
    assert str(path) in str(info.value)


def test_a_file_that_is_not_an_npz(tmp_path):
    path = tmp_path / "imagenet_val_25.npz"
    path.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="not a readable imagenet_val_25.npz"):
        load_imagenet_val(path=path)


# --------------------------------------------------------------------------------------------
# Defaults, smoke mode and the download entry


def test_missing_real_file_names_the_command(isolated_data_dir):
    with pytest.raises(FileNotFoundError, match="python -m dl.data.download imagenet_val") as info:
        load_imagenet_val()
    assert str(isolated_data_dir / "imagenet_val_25.npz") in str(info.value)
    assert not isolated_data_dir.exists()


def test_smoke_mode_uses_the_fixture(isolated_data_dir, monkeypatch):
    monkeypatch.setenv("DL_SMOKE", "1")
    X, y, class_names = load_imagenet_val(num=3)
    assert X.shape == (3, 224, 224, 3) and len(class_names) == 1000
    assert (isolated_data_dir / "fixtures" / "imagenet_val" / FIXTURE_MARKER).is_file()


def test_the_entry_has_no_location_and_no_checksum(isolated_data_dir):
    entry = REGISTRY["imagenet_val"]
    assert entry.filename == "imagenet_val_25.npz" and entry.url is None and not entry.pinned
    with pytest.raises(DownloadError, match="(?s)no download location is recorded.*--url LOCATION"):
        download("imagenet_val", progress=False)


def test_a_download_from_a_given_location_is_reported_unpinned_and_its_arrays_load(fixture_file, isolated_data_dir):
    with pytest.raises(DownloadError, match="not pinned") as info:
        download("imagenet_val", url=fixture_file.as_uri(), progress=False)
    assert file_md5(fixture_file) in str(info.value)
    X, _, class_names = load_imagenet_val()
    assert X.shape == (25, 224, 224, 3) and class_names == imagenet_class_names()


class _Shell:
    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def _runs_shell(command: str) -> np.ndarray:
    """A 0-d object array whose pickle runs ``command`` when an ordinary unpickler loads it."""
    holder = np.empty((), dtype=object)
    holder[()] = _Shell(command)
    pickle.dumps(holder)  # it pickles (the shell runs only on loading)
    return holder
