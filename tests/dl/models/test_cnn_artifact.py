"""save_conv_net / load_conv_net: a pickle-free round trip, and clear refusals of malformed artifacts."""
import json

import numpy as np
import pytest

from dl import artifacts
from dl.models.cnn import ThreeLayerConvNet, load_conv_net, save_conv_net


def small_net(dtype=np.float64, input_dim=(3, 8, 8), seed=3) -> ThreeLayerConvNet:
    np.random.seed(seed)
    model = ThreeLayerConvNet(input_dim=input_dim, num_filters=3, filter_size=3, hidden_dim=5, num_classes=4,
                              weight_scale=0.3, dtype=dtype)
    model.params["b2"] += 0.25
    return model


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_save_and_load_round_trip(tmp_path, dtype):
    model = small_net(dtype)
    path = save_conv_net("net", model, directory=tmp_path)
    assert path == tmp_path / "net.npz" and (tmp_path / "net.json").is_file()
    loaded = load_conv_net("net", directory=tmp_path)
    assert isinstance(loaded, ThreeLayerConvNet) and loaded.dtype == dtype
    assert list(loaded.params) == ["W1", "b1", "W2", "b2", "W3", "b3"]
    for name, value in model.params.items():
        assert loaded.params[name].dtype == dtype
        np.testing.assert_array_equal(loaded.params[name], value)
    X = np.random.default_rng(0).standard_normal((2, 3, 8, 8))
    np.testing.assert_array_equal(loaded.loss(X), model.loss(X))
    meta = json.loads((tmp_path / "net.json").read_text())["meta"]
    assert meta == {"model": "ThreeLayerConvNet", "input_dim": [3, 8, 8], "num_filters": 3, "filter_size": 3, "hidden_dim": 5,
                    "num_classes": 4, "dtype": np.dtype(dtype).name}


def test_non_square_images_need_input_dim(tmp_path):
    model = small_net(input_dim=(2, 4, 8))
    with pytest.raises(ValueError, match=r"cannot save 'net'.*pass input_dim=\(C, H, W\)"):
        save_conv_net("net", model, directory=tmp_path)
    assert not list(tmp_path.iterdir())  # nothing written
    with pytest.raises(ValueError, match=r"W2 has shape \(24, 5\), expected \(27, 5\)"):
        save_conv_net("net", model, directory=tmp_path, input_dim=(2, 6, 6))
    save_conv_net("net", model, directory=tmp_path, input_dim=(2, 4, 8))
    loaded = load_conv_net("net", directory=tmp_path)
    X = np.random.default_rng(1).standard_normal((3, 2, 4, 8))
    np.testing.assert_array_equal(loaded.loss(X), model.loss(X))


def test_save_refuses_a_dtype_it_cannot_load(tmp_path):
    model = small_net()
    model.dtype = np.float16
    with pytest.raises(ValueError, match="dtype 'float16' is not float32 or float64"):
        save_conv_net("net", model, directory=tmp_path)


def test_loading_leaves_numpy_global_random_state_alone(tmp_path):
    save_conv_net("net", small_net(), directory=tmp_path)
    np.random.seed(7)
    expected = np.random.rand(3)
    np.random.seed(7)
    load_conv_net("net", directory=tmp_path)
    np.testing.assert_array_equal(np.random.rand(3), expected)


def tamper(tmp_path, **meta_changes):
    save_conv_net("m", small_net(), directory=tmp_path)
    meta_path = tmp_path / "m.json"
    info = json.loads(meta_path.read_text())
    info["meta"].update(meta_changes)
    meta_path.write_text(json.dumps(info))


@pytest.mark.parametrize("changes, words", [
    (dict(hidden_dim=6), r"W2 has shape \(48, 5\), expected \(48, 6\)"),
    (dict(input_dim=[3, 8, 12]), r"W2 has shape \(48, 5\), expected \(72, 5\)"),
    (dict(num_filters=-1), "malformed architecture"),
    (dict(num_filters=True), "malformed architecture"),
    (dict(hidden_dim=5.0), "malformed architecture"),
    (dict(input_dim=[3, 8]), "malformed architecture"),
    (dict(input_dim="3x8x8"), "malformed architecture"),
    (dict(num_classes=1 << 20), "malformed architecture"),
    (dict(input_dim=[3, 9, 8]), "odd height or width"),
    (dict(filter_size=2), "filter_size 2 is not an odd number"),
    (dict(filter_size=33), "filter_size 33 is not an odd number up to 31"),
    (dict(num_filters=60000, hidden_dim=60000), "parameters, more than the limit"),
    (dict(dtype="float16"), "dtype 'float16' is not float32 or float64"),
    (dict(model="FullyConnectedNet"), "does not describe a ThreeLayerConvNet"),
])
def test_load_rejects_tampered_architectures(tmp_path, changes, words):
    tamper(tmp_path, **changes)
    with pytest.raises(ValueError, match=words) as info:
        load_conv_net("m", directory=tmp_path)
    assert "artifact 'm' in" in str(info.value) and "save the model again with save_conv_net" in str(info.value)


def test_the_parameter_bound_can_be_lowered(tmp_path):
    save_conv_net("m", small_net(), directory=tmp_path)
    with pytest.raises(ValueError, match="more than the limit of 100"):
        load_conv_net("m", directory=tmp_path, max_parameters=100)


def arrays_of(model):
    return {key: np.asarray(value) for key, value in model.params.items()}


@pytest.mark.parametrize("change, words", [
    (lambda arrays: arrays.pop("b3"), r"missing arrays \['b3'\]"),
    (lambda arrays: arrays.update(W4=np.zeros(2)), r"unexpected arrays \['W4'\]"),
    (lambda arrays: arrays.update(W1=arrays["W1"].astype(np.complex128)), "W1 has dtype complex128; expected real numbers"),
    (lambda arrays: arrays.update(b1=np.array([True, False, True])), "b1 has dtype bool"),
])
def test_load_rejects_tampered_arrays(tmp_path, change, words):
    model = small_net()
    arrays = arrays_of(model)
    change(arrays)
    save_conv_net("m", model, directory=tmp_path)
    meta = json.loads((tmp_path / "m.json").read_text())["meta"]
    artifacts.save("m", directory=tmp_path, meta=meta, **arrays)  # the same architecture, other arrays
    with pytest.raises(ValueError, match=words):
        load_conv_net("m", directory=tmp_path)


def test_a_pickled_array_is_refused_and_a_missing_file_is_named(tmp_path):
    save_conv_net("m", small_net(), directory=tmp_path)
    arrays = dict(np.load(tmp_path / "m.npz"))
    arrays["W1"] = np.array([{"evil": 1}], dtype=object)
    np.savez(tmp_path / "m.npz", **arrays)
    with pytest.raises(ValueError, match="cannot be read"):
        load_conv_net("m", directory=tmp_path)
    (tmp_path / "m.json").unlink()
    with pytest.raises(FileNotFoundError, match="m.json is missing"):
        load_conv_net("m", directory=tmp_path)
