"""The loader of published state dicts and the random stand-ins, on a small model with batch norm."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from dl.data.integrity import FIXTURE_MARKER
from dl.models.pretrained import (
    ensure_random_weights, load_published_state, load_weights, random_state, write_random_state,
)

REPO = Path(__file__).resolve().parents[3]


def small_model() -> nn.Sequential:
    """conv (4, 3, 3, 3) + bias, batch norm (weight, bias, running_mean, running_var,
    num_batches_tracked), linear (5, 4) + bias."""
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(4, 5))


def test_random_state_round_trip(tmp_path):
    path = write_random_state(small_model(), tmp_path / "w.pth", seed=3)
    stored = torch.load(path, weights_only=True)
    assert type(stored) is dict and all(type(v) is torch.Tensor for v in stored.values())
    model = load_published_state(path, small_model())
    for key, value in model.state_dict().items():
        assert torch.equal(value, stored[key]) and value.dtype == stored[key].dtype, key
    assert stored["1.num_batches_tracked"].dtype == torch.int64 and stored["1.num_batches_tracked"] == 0
    assert 0.5 <= stored["1.running_var"].min() and stored["1.running_var"].max() <= 1.5
    fan_in = 3 * 3 * 3
    assert 0.5 < stored["0.weight"].std().item() / (2 / fan_in) ** 0.5 < 1.5
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_random_state_is_seeded_and_leaves_the_global_rng_alone():
    torch.manual_seed(0)
    expected_next = torch.rand(1)
    torch.manual_seed(0)
    first, again, other = (random_state(small_model(), seed) for seed in (1, 1, 2))
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not torch.equal(first["0.weight"], other["0.weight"])
    torch.manual_seed(0)
    small_model()
    for seed in (1, 1, 2):
        random_state(small_model(), seed)
    torch.manual_seed(0)
    assert torch.equal(torch.rand(1), expected_next)


def test_drop_keys_removes_added_counters(tmp_path):
    state = random_state(small_model())
    state.update({"0.total_ops": torch.zeros(1, dtype=torch.float64), "total_params": torch.zeros(1)})
    torch.save(state, tmp_path / "counted.pth")
    with pytest.raises(ValueError, match=r"key '0\.total_ops' \(shape \(1,\)\) is not in the model"):
        load_published_state(tmp_path / "counted.pth", small_model())
    model = load_published_state(tmp_path / "counted.pth", small_model(), drop_keys=("total_ops", "total_params"))
    assert torch.equal(model[0].weight, state["0.weight"])


def test_the_legacy_file_format_loads(tmp_path):
    """Files written before PyTorch 1.6 (as older published weights were) are not zip archives."""
    state = random_state(small_model(), seed=4)
    torch.save(state, tmp_path / "legacy.pth", _use_new_zipfile_serialization=False)
    assert (tmp_path / "legacy.pth").read_bytes()[:2] != b"PK"
    model = load_published_state(tmp_path / "legacy.pth", small_model())
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())


def test_parameters_saved_as_such_load(tmp_path):
    source = small_model()
    torch.save(source.state_dict(keep_vars=True), tmp_path / "params.pth")
    model = load_published_state(tmp_path / "params.pth", small_model())
    assert torch.equal(model[5].weight, source[5].weight)


def test_an_oversized_file_is_refused_before_reading(tmp_path):
    tensor_bytes = sum(t.numel() * t.element_size() for t in small_model().state_dict().values())
    path = tmp_path / "huge.pth"
    path.write_bytes(b"\0" * (2 * tensor_bytes + (1 << 20) + 1))
    with pytest.raises(ValueError, match=r"huge\.pth: 1,049,\d{3} bytes, more than the 1,049,\d{3} that the "
                                         r"weights of Sequential can take"):
        load_published_state(path, small_model())


class Marked(torch.Tensor):
    """A tensor subclass: the loader must never rebuild one."""


@pytest.mark.parametrize("content, message", [
    (b"not a torch file", r"bad\.pth: not a readable torch weights file"),
    ([torch.zeros(4, 3, 3, 3)], r"bad\.pth: expected a state dict \(a dict of tensors\); found list"),
    ({"0.weight": "text"}, r"bad\.pth: '0\.weight' must be a plain tensor; found str"),
    ({0: torch.zeros(1)}, r"bad\.pth: state dict keys must be strings; found 0"),
    ({"0.weight": torch.zeros(4, 3, 3, 3).as_subclass(Marked)}, r"bad\.pth: refused, the file is not plain tensors"),
])
def test_malformed_files_are_named_and_refused(tmp_path, content, message):
    path = tmp_path / "bad.pth"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        torch.save(content, path)
    with pytest.raises(ValueError, match=message):
        load_published_state(path, small_model())


def test_an_integer_entry_must_stay_integer(tmp_path):
    state = random_state(small_model())
    state["1.num_batches_tracked"] = torch.tensor(0.0)
    torch.save(state, tmp_path / "w.pth")
    with pytest.raises(ValueError, match=r"'1\.num_batches_tracked' is torch\.float32 in the file but torch\.int64"):
        load_published_state(tmp_path / "w.pth", small_model())


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"weights file not found: .*absent\.pth"):
        load_weights(small_model(), tmp_path / "absent.pth", "small")


def test_load_weights_none_keeps_the_initialisation():
    model = small_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert load_weights(model, None, "small") is model
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_the_random_stand_in_is_marked_and_written_once(tmp_path):
    path = ensure_random_weights("small", small_model(), root=tmp_path / "fixtures")
    assert path == tmp_path / "fixtures" / "small-random.pth"
    assert (path.parent / FIXTURE_MARKER).is_file()
    assert sorted(p.name for p in path.parent.iterdir()) == [FIXTURE_MARKER, "small-random.pth"]
    assert all(p.stat().st_mode & 0o777 == 0o644 for p in path.parent.iterdir())
    path.write_bytes(b"kept")  # an existing stand-in is reused, not rewritten
    assert ensure_random_weights("small", small_model(), root=tmp_path / "fixtures").read_bytes() == b"kept"


def test_a_generated_file_is_refused_outside_smoke_mode_and_tests(tmp_path):
    """Run without pytest: a path into a marked folder must not stand in for real weights."""
    path = ensure_random_weights("small", small_model(), root=tmp_path / "fixtures")
    script = (
        "import sys; from torch import nn; from dl.models.pretrained import load_weights\n"
        "model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1), "
        "nn.Flatten(), nn.Linear(4, 5))\n"
        "try:\n    load_weights(model, sys.argv[1], 'small')\nexcept ValueError as exc:\n    print(exc)\n"
        "else:\n    print('loaded')\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DL_SMOKE", "PYTEST_CURRENT_TEST")}
    for smoke, expected in ((None, "only used in smoke mode"), ("1", "loaded")):
        if smoke:
            env["DL_SMOKE"] = smoke
        done = subprocess.run([sys.executable, "-c", script, str(path)], cwd=REPO, env=env, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert expected in done.stdout
