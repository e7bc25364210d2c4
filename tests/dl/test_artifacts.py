"""Pickle-free artifacts: round trip, atomic writes, clear errors."""
import json

import numpy as np
import pytest

from dl import artifacts


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
