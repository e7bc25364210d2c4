"""Pickle-free artifacts (numpy .npz and torch .safetensors models): round trip, atomic writes, size checks, clear errors."""
import json
import os
import pickle
import stat
import struct
import zipfile

import numpy as np
import pytest
import torch

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


# --------------------------------------------------------------------------------------------
# torch models: .safetensors + .json


class _Tied(torch.nn.Module):
    """Two names for one weight (as a language model ties its embedding and output layers)."""

    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Linear(3, 3, bias=False)
        self.out = torch.nn.Linear(3, 3, bias=False)
        self.out.weight = self.embed.weight
        self.bn = torch.nn.BatchNorm1d(3)


def _model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Flatten(), torch.nn.Linear(16, 2))


def test_torch_model_round_trip(tmp_path):
    model = _model()
    model(torch.randn(2, 3, 4, 4))  # running statistics move away from their initial values
    path = artifacts.save_torch_model(model, "net", constructor={"width": 4}, log={"val_acc": [0.5, 0.6]}, directory=tmp_path)
    assert path == tmp_path / "net.safetensors"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.json", "net.safetensors"]
    state, description = artifacts.load_torch_model("net", tmp_path, max_bytes=2**20)
    expected = model.state_dict()
    assert sorted(state) == sorted(expected)
    for key, value in expected.items():
        assert type(state[key]) is torch.Tensor and state[key].dtype == value.dtype and torch.equal(state[key], value), key
    assert description["constructor"] == {"width": 4} and description["log"] == {"val_acc": [0.5, 0.6]}
    assert description["version"] == artifacts.TORCH_FORMAT_VERSION
    fresh = _model(seed=1)
    fresh.load_state_dict(state, strict=True)
    x = torch.randn(2, 3, 4, 4)
    assert torch.equal(fresh.eval()(x), model.eval()(x))


def test_a_state_dict_with_tied_weights_and_parameters_saves_plain_copies(tmp_path):
    model = _Tied()
    artifacts.save_torch_model(model, "tied", directory=tmp_path)
    state = artifacts.load_torch_state(tmp_path / "tied.safetensors", max_bytes=2**20)
    assert torch.equal(state["embed.weight"], state["out.weight"])
    _Tied().load_state_dict(state, strict=True)
    artifacts.save_torch_model({"w": torch.nn.Parameter(torch.ones(2))}, "param", directory=tmp_path)
    assert type(artifacts.load_torch_state(tmp_path / "param.safetensors")["w"]) is torch.Tensor


@pytest.mark.parametrize("model, log, error", [
    ({"w": np.ones(2)}, None, TypeError),
    ({3: torch.ones(2)}, None, TypeError),
    ([torch.ones(2)], None, TypeError),
    ({"w": torch.ones(2)}, {"val_acc": [0.1], "loss": [1.0, 0.5]}, ValueError),
    ({"w": torch.ones(2)}, {"val_acc": 0.5}, ValueError),
    ({"w": torch.ones(2)}, {"f": [print]}, TypeError),
])
def test_a_bad_model_or_log_writes_nothing(tmp_path, model, log, error):
    with pytest.raises(error):
        artifacts.save_torch_model(model, "bad", log=log, directory=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_logged_epochs_counts_the_entries_of_the_lists():
    assert artifacts.logged_epochs({"val_acc": [0.1, 0.2, 0.3], "loss": [3, 2, 1]}) == 3
    assert artifacts.logged_epochs({}) == 0
    with pytest.raises(ValueError, match="one entry per epoch"):
        artifacts.logged_epochs({"val_acc": [0.1], "loss": []})


@pytest.mark.parametrize("mask", [0o022, 0o077], ids=oct)
def test_torch_models_get_the_mode_the_umask_allows(tmp_path, umask, mask):
    umask(mask)
    artifacts.save_torch_model(_model(), "net", directory=tmp_path)
    for name in ("net.safetensors", "net.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~mask, name


def test_torch_state_bytes_reads_the_header_only(tmp_path):
    artifacts.save_torch_model({"a": torch.ones(3, 4), "b": torch.zeros(5, dtype=torch.int64)}, "m", directory=tmp_path)
    assert artifacts.torch_state_bytes(tmp_path / "m.safetensors") == 12 * 4 + 5 * 8
    torch.save({"a": torch.ones(1000)}, tmp_path / "m.pt")
    assert 4000 <= artifacts.torch_state_bytes(tmp_path / "m.pt") < 4000 + 4096


def _safetensors_file(path, header: dict, data: bytes = b"", length: int | None = None) -> None:
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text) if length is None else length) + text + data)


@pytest.mark.parametrize("header, data, length, match", [
    ({"w": {"dtype": "F32", "shape": [10**9], "data_offsets": [0, 4 * 10**9]}}, bytes(16), None, "holds 16"),
    ({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 8]}}, bytes(8), None, "does not fill"),
    ({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "v": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}},
     bytes(12), None, "overlap"),
    ({"w": {"dtype": "O", "shape": [2], "data_offsets": [0, 8]}}, bytes(8), None, "supported dtype"),
    ({"w": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}, bytes(8), None, "supported dtype"),
    ({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, bytes(8), 2**40, "header length"),
    ([1, 2], b"", None, "not a JSON object"),
])
def test_inconsistent_safetensors_headers_are_refused_before_loading(tmp_path, header, data, length, match):
    path = tmp_path / "m.safetensors"
    _safetensors_file(path, header, data, length)
    with pytest.raises(ValueError, match=match):
        artifacts.torch_state_bytes(path)
    with pytest.raises(ValueError, match=match):
        artifacts.load_torch_state(path, max_bytes=2**30)


class _Marker:
    """Unpickling it writes a file: proof that a loader ran a pickle."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.mark.parametrize("suffix", [".safetensors", ".pt", ".pth"])
def test_a_pickle_is_refused_without_being_unpickled(tmp_path, suffix):
    marker = tmp_path / "ran"
    path = tmp_path / f"evil{suffix}"
    path.write_bytes(pickle.dumps({"w": _Marker(marker)}))
    with pytest.raises(ValueError, match="not a safetensors file|zip format"):
        artifacts.load_torch_state(path, max_bytes=2**20)
    assert not marker.exists()


def test_a_torch_save_zip_with_code_in_its_pickle_is_refused_by_the_weights_only_loader(tmp_path):
    marker = tmp_path / "ran"
    torch.save({"w": _Marker(marker)}, tmp_path / "evil.pt")
    with pytest.raises(ValueError, match="weights_only"):
        artifacts.load_torch_state(tmp_path / "evil.pt", max_bytes=2**20)
    assert not marker.exists()
    torch.load(tmp_path / "evil.pt", weights_only=False)  # the file is hostile: a full unpickler runs its code
    assert marker.exists()


def test_a_legacy_torch_save_file_is_refused(tmp_path):
    torch.save({"w": torch.ones(2)}, tmp_path / "old.pt", _use_new_zipfile_serialization=False)
    with pytest.raises(ValueError, match="zip format"):
        artifacts.load_torch_state(tmp_path / "old.pt", max_bytes=2**20)


def test_a_pt_file_must_hold_a_state_dict_of_tensors(tmp_path):
    torch.save({"w": torch.nn.Parameter(torch.ones(2)), "b": torch.zeros(1)}, tmp_path / "ok.pt")
    state = artifacts.load_torch_state(tmp_path / "ok.pt", max_bytes=2**20)
    assert {k: type(v) for k, v in state.items()} == {"w": torch.Tensor, "b": torch.Tensor}
    torch.save({"w": torch.ones(2), "epochs": 3}, tmp_path / "mixed.pt")
    with pytest.raises(ValueError, match="maps 'epochs' to a int"):
        artifacts.load_torch_state(tmp_path / "mixed.pt", max_bytes=2**20)
    torch.save([torch.ones(2)], tmp_path / "list.pt")
    with pytest.raises(ValueError, match="holds a list"):
        artifacts.load_torch_state(tmp_path / "list.pt", max_bytes=2**20)


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_weights_over_max_bytes_are_refused_before_they_are_read(tmp_path, monkeypatch, suffix):
    state = {"w": torch.ones(256, 256)}  # 256 KiB
    if suffix == ".pt":
        torch.save(state, tmp_path / "big.pt")
    else:
        artifacts.save_torch_model(state, "big", directory=tmp_path)
    monkeypatch.setattr(artifacts.Path, "read_bytes", lambda self: pytest.fail("read before the size check"))
    with pytest.raises(ValueError, match="over the 0.1 MiB limit"):
        artifacts.load_torch_state(tmp_path / f"big{suffix}", max_bytes=100 * 2**10)


def test_load_torch_model_finds_the_weights_and_checks_the_description(tmp_path):
    with pytest.raises(FileNotFoundError, match="net.safetensors is missing"):
        artifacts.load_torch_model("net", tmp_path)
    torch.save({"w": torch.ones(2)}, tmp_path / "net.pt")
    with pytest.raises(FileNotFoundError, match="net.json is missing"):
        artifacts.load_torch_model("net", tmp_path)
    description = {"format": artifacts.TORCH_FORMAT, "version": 1, "constructor": {}, "log": {"val_acc": [0.7]}}
    (tmp_path / "net.json").write_text(json.dumps(description))
    state, found = artifacts.load_torch_model("net", tmp_path, max_bytes=2**20)  # a .pt works as well
    assert list(state) == ["w"] and found["log"] == {"val_acc": [0.7]}
    for wrong in ({**description, "format": "other"}, {**description, "version": 2}, {**description, "log": [1]}, [1]):
        (tmp_path / "net.json").write_text(json.dumps(wrong))
        with pytest.raises(ValueError, match="description|version"):
            artifacts.load_torch_model("net", tmp_path)
    (tmp_path / "net.json").write_text(json.dumps({**description, "tensors": ["w", "extra"]}))
    with pytest.raises(ValueError, match="does not list"):
        artifacts.load_torch_model("net", tmp_path)
