"""dl.utils: seeding every generator, the device choice, seeded torch generators."""
import random
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from dl import utils


def _draws():
    return random.random(), float(np.random.rand()), float(torch.rand(1))


def test_reset_seed_makes_python_numpy_and_torch_repeat():
    utils.reset_seed(7)
    first = _draws()
    _draws()  # move every generator on
    utils.reset_seed(7)
    assert _draws() == first
    utils.reset_seed(8)
    assert all(a != b for a, b in zip(_draws(), first))


def test_reset_seed_seeds_cuda_through_torch(monkeypatch):
    seeded = []
    monkeypatch.setattr(torch, "manual_seed", seeded.append)  # torch.manual_seed seeds every CUDA device too
    utils.reset_seed(3)
    assert seeded == [3]


def test_seeded_generator_repeats_and_ignores_the_global_rng():
    a = torch.randn(5, generator=utils.seeded_generator(0))
    torch.manual_seed(123)
    torch.randn(100)  # global state moved: the generator does not care
    b = torch.randn(5, generator=utils.seeded_generator(0))
    assert torch.equal(a, b)
    assert not torch.equal(a, torch.randn(5, generator=utils.seeded_generator(1)))
    assert utils.seeded_generator(0).device == torch.device("cpu")


def _backends(monkeypatch, cuda: bool, mps: bool | None):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    if mps is None:
        monkeypatch.delattr(torch.backends, "mps", raising=False)
    else:
        monkeypatch.setattr(torch.backends, "mps", SimpleNamespace(is_available=lambda: mps))


@pytest.mark.parametrize("cuda, mps, double, expected", [
    (True, True, False, "cuda"),
    (True, True, True, "cuda"),      # CUDA has float64
    (False, True, False, "mps"),
    (False, True, True, "cpu"),      # MPS has no float64
    (False, False, False, "cpu"),
    (False, None, False, "cpu"),     # a torch without the MPS backend
])
def test_get_device_prefers_cuda_then_mps_then_cpu(monkeypatch, cuda, mps, double, expected):
    _backends(monkeypatch, cuda, mps)
    assert utils.get_device(double=double) == torch.device(expected)


def test_get_device_on_this_machine_is_usable():
    device = utils.get_device()
    assert torch.ones(2, device=device).sum().item() == 2.0
