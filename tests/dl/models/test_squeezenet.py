"""SqueezeNet 1.1: the published state-dict layout (written out here from CURRICULUM §8, not taken
from the model), its forward pass against a functional re-computation, and ``weights="default"``
in smoke mode, offline and when it downloads."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from dl.data import REGISTRY, ChecksumError, DownloadError
from dl.data.download import file_hash, file_md5
from dl.data.integrity import FIXTURE_MARKER
from dl.models import SQUEEZENET_MEAN, SQUEEZENET_STD, SqueezeNet, squeezenet1_1
from dl.models.pretrained import random_state

REPO = Path(__file__).resolve().parents[3]
# index in ``features`` -> (in, squeeze, expand 1x1, expand 3x3), as published
FIRES = {3: (64, 16, 64, 64), 4: (128, 16, 64, 64), 6: (128, 32, 128, 128), 7: (256, 32, 128, 128),
         9: (256, 48, 192, 192), 10: (384, 48, 192, 192), 11: (384, 64, 256, 256), 12: (512, 64, 256, 256)}


def published_layout() -> dict[str, tuple[int, ...]]:
    """Key -> shape of the published ``squeezenet1_1-b8a52dc0.pth``, in its order."""
    layout = {"features.0.weight": (64, 3, 3, 3), "features.0.bias": (64,)}
    for index, (cin, squeeze, e1, e3) in FIRES.items():
        for name, shape in [("squeeze", (squeeze, cin, 1, 1)), ("expand1x1", (e1, squeeze, 1, 1)),
                            ("expand3x3", (e3, squeeze, 3, 3))]:
            layout[f"features.{index}.{name}.weight"] = shape
            layout[f"features.{index}.{name}.bias"] = shape[:1]
    layout["classifier.1.weight"] = (1000, 512, 1, 1)
    layout["classifier.1.bias"] = (1000,)
    return layout


def published_like_file(path: Path, seed: int = 0, **overrides) -> dict[str, torch.Tensor]:
    """Write random values in the published layout to ``path`` (a plain dict, ``torch.save``);
    ``overrides`` (``__`` for ``.``) replace or, with None, delete entries. Returns what was written."""
    generator = torch.Generator().manual_seed(seed)
    state = {key: 0.05 * torch.randn(shape, generator=generator) for key, shape in published_layout().items()}
    for key, value in overrides.items():
        key = key.replace("__", ".")
        if value is None:
            del state[key]
        else:
            state[key] = value
    torch.save(state, path)
    return state


def functional_squeezenet(x: torch.Tensor, w: dict[str, torch.Tensor]) -> torch.Tensor:
    """SqueezeNet 1.1 in eval mode written with torch.nn.functional from the layout above."""
    def pool(t):
        return F.max_pool2d(t, kernel_size=3, stride=2, ceil_mode=True)

    def conv(t, key, **options):
        return F.relu(F.conv2d(t, w[f"{key}.weight"], w[f"{key}.bias"], **options))

    t = pool(conv(x, "features.0", stride=2))
    for index in FIRES:
        s = conv(t, f"features.{index}.squeeze")
        t = torch.cat([conv(s, f"features.{index}.expand1x1"), conv(s, f"features.{index}.expand3x3", padding=1)], 1)
        if index in (4, 7):
            t = pool(t)
    return conv(t, "classifier.1").mean(dim=(2, 3))


@pytest.fixture(autouse=True)
def isolated_data_dir(tmp_path, monkeypatch) -> Path:
    """Each test gets its own DL_DATA_DIR, starts outside smoke mode and cannot reach the network:
    the weights entry points at a loopback port where nothing listens."""
    monkeypatch.setenv("DL_DATA_DIR", str(tmp_path / "data-dir"))
    monkeypatch.delenv("DL_SMOKE", raising=False)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}/squeezenet1_1-b8a52dc0.pth"
    monkeypatch.setitem(REGISTRY, "squeezenet1_1", replace(REGISTRY["squeezenet1_1"], url=closed))
    return tmp_path / "data-dir"


def test_state_dict_has_the_published_keys_and_shapes_in_order():
    state = SqueezeNet().state_dict()
    assert [(key, tuple(value.shape)) for key, value in state.items()] == list(published_layout().items())


def test_parameter_count():
    assert sum(p.numel() for p in squeezenet1_1().parameters()) == 1_235_496


def test_published_layout_file_loads_strictly_and_gives_n_by_1000(tmp_path):
    written = published_like_file(tmp_path / "squeezenet1_1-b8a52dc0.pth")
    model = squeezenet1_1(weights=tmp_path / "squeezenet1_1-b8a52dc0.pth").eval()
    for key, value in model.state_dict().items():
        assert torch.equal(value, written[key]), key
    x = torch.randn(3, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        scores = model(x)
    assert scores.shape == (3, 1000) and scores.dtype == torch.float32
    torch.testing.assert_close(scores, functional_squeezenet(x, written), rtol=1e-5, atol=1e-6)


def test_pools_round_up():
    """225×225 inputs give a 112×112 map after the first conv, where rounding up matters."""
    with torch.no_grad():
        features = SqueezeNet().features(torch.zeros(1, 3, 225, 225))
    assert features.shape == (1, 512, 14, 14)  # 112 -> 56 -> 28 -> 14 (rounding down: 13)


def test_classifier_dropout_acts_only_in_training_mode():
    model = squeezenet1_1()
    model.load_state_dict(random_state(model, seed=2))
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        model.eval()
        assert torch.equal(model(x), model(x))
        model.train()
        torch.manual_seed(0)
        assert not torch.equal(model(x), model(x))
    assert model.classifier[0].p == 0.5


def test_normalisation_constants():
    assert SQUEEZENET_MEAN == (0.485, 0.456, 0.406) and SQUEEZENET_STD == (0.229, 0.224, 0.225)


def test_wrong_shape_names_the_key(tmp_path):
    path = tmp_path / "bad.pth"
    published_like_file(path, features__6__expand3x3__weight=torch.zeros(128, 32, 1, 1))
    with pytest.raises(ValueError, match=r"features\.6\.expand3x3\.weight' has shape \(128, 32, 1, 1\) in the "
                                         r"file but \(128, 32, 3, 3\) in the model"):
        squeezenet1_1(weights=path)


def test_missing_and_extra_keys_are_named(tmp_path):
    published_like_file(tmp_path / "missing.pth", classifier__1__bias=None)
    with pytest.raises(ValueError, match=r"'classifier\.1\.bias' \(shape \(1000,\)\) is missing"):
        squeezenet1_1(weights=tmp_path / "missing.pth")
    published_like_file(tmp_path / "extra.pth", classifier__2__weight=torch.zeros(3))
    with pytest.raises(ValueError, match=r"'classifier\.2\.weight' \(shape \(3,\)\) is not in the model"):
        squeezenet1_1(weights=tmp_path / "extra.pth")


class _DeletesAFile:
    """Unpickling this calls ``os.remove(path)``."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return (os.remove, (str(self.path),))


def test_a_pickle_with_code_is_refused_without_running_it(tmp_path):
    sentinel = tmp_path / "keep.txt"
    sentinel.write_text("still here")
    path = tmp_path / "hostile.pth"
    published_like_file(path, features__0__bias=_DeletesAFile(sentinel))
    with pytest.raises(ValueError, match=r"hostile\.pth: refused, the file is not plain tensors: loading it would call "
                                         r"or rebuild \w+\.remove"):
        squeezenet1_1(weights=path)
    assert sentinel.read_text() == "still here"


def test_default_weights_in_smoke_mode_are_a_marked_random_file(monkeypatch, isolated_data_dir):
    monkeypatch.setenv("DL_SMOKE", "1")
    model = squeezenet1_1(weights="default")
    path = isolated_data_dir / "fixtures" / "weights" / "squeezenet1_1-random.pth"
    assert (path.parent / FIXTURE_MARKER).is_file()
    stored = torch.load(path, weights_only=True)
    assert type(stored) is dict and list(stored) == list(published_layout())
    for key, value in model.state_dict().items():
        assert torch.equal(value, stored[key]), key
    assert torch.equal(stored["features.0.weight"], random_state(SqueezeNet(), seed=0)["features.0.weight"])
    before = path.stat().st_mtime_ns
    again = squeezenet1_1(weights="default")
    assert path.stat().st_mtime_ns == before  # written once, then reused
    with torch.no_grad():
        assert again.eval()(torch.zeros(1, 3, 224, 224)).shape == (1, 1000)


def test_registry_entry_pins_the_sha256_prefix_of_the_file_name():
    entry = REGISTRY["squeezenet1_1"]
    assert entry.filename == "squeezenet1_1-b8a52dc0.pth"
    assert entry.sha256 == entry.filename.removesuffix(".pth").split("-")[1] == "b8a52dc0"
    assert not entry.pinned and entry.extract_to is None  # the full checksum is not known yet (§7)
    assert "sha256 starts b8a52dc0" in entry.describe()


def test_default_weights_offline_name_the_file_and_the_command(isolated_data_dir):
    with pytest.raises(DownloadError) as info:
        squeezenet1_1(weights="default")
    message = str(info.value)
    assert "squeezenet1_1-b8a52dc0.pth" in message
    assert str((isolated_data_dir / "squeezenet1_1-b8a52dc0.pth").resolve()) in message
    assert "python -m dl.data.download squeezenet1_1" in message and "DL_SMOKE=1" in message
    assert not isolated_data_dir.exists() or not any(isolated_data_dir.glob("*.pth"))


@pytest.fixture
def served(tmp_path, monkeypatch):
    """A published-layout file served from a file:// URL, with the registry entry pointing at it."""
    source = tmp_path / "served" / "squeezenet1_1.pth"
    source.parent.mkdir()
    written = published_like_file(source, seed=5)

    def point_entry(**fields):
        entry = replace(REGISTRY["squeezenet1_1"], url=source.as_uri(), **fields)
        monkeypatch.setitem(REGISTRY, "squeezenet1_1", entry)

    return source, written, point_entry


def test_default_weights_download_when_missing_and_are_verified(served, isolated_data_dir):
    source, written, point_entry = served
    point_entry(size=source.stat().st_size, md5=file_md5(source), sha256=file_hash(source, "sha256")[:8])
    model = squeezenet1_1(weights="default")
    cached = isolated_data_dir / "squeezenet1_1-b8a52dc0.pth"
    assert cached.read_bytes() == source.read_bytes()
    assert all(torch.equal(value, written[key]) for key, value in model.state_dict().items())
    source.unlink()  # the cached copy is verified and used; nothing is fetched again
    assert torch.equal(squeezenet1_1(weights="default").features[0].bias, written["features.0.bias"])


def test_a_download_with_another_sha256_prefix_is_deleted(served, isolated_data_dir):
    source, _, point_entry = served
    wrong = "0" * 8 if not file_hash(source, "sha256").startswith("0" * 8) else "f" * 8
    point_entry(sha256=wrong)
    with pytest.raises(ChecksumError, match=f"expected sha256 starting {wrong}; got sha256 {file_hash(source, 'sha256')}"):
        squeezenet1_1(weights="default")
    assert not any(isolated_data_dir.glob("*.pth*"))


def test_an_unpinned_download_with_the_right_prefix_is_kept_but_not_used(served, isolated_data_dir):
    source, _, point_entry = served
    point_entry(sha256=file_hash(source, "sha256")[:8])
    for _ in range(2):  # downloaded, then found in the cache: refused both times
        with pytest.raises(DownloadError, match="not pinned") as info:
            squeezenet1_1(weights="default")
        assert f"{source.stat().st_size:,} bytes" in str(info.value)
        assert file_md5(source) in str(info.value) and file_hash(source, "sha256") in str(info.value)
    assert (isolated_data_dir / "squeezenet1_1-b8a52dc0.pth").read_bytes() == source.read_bytes()


def test_dl_models_imports_torch_only_for_the_torch_models():
    script = ("import sys, dl.models; print('torch' in sys.modules); "
              "from dl.models import squeezenet1_1; print('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True"]
