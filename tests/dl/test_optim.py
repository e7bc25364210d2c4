"""Update rules against torch.optim (an independent implementation) and their config protocol."""
import numpy as np
import pytest
import torch

from dl import optim
from dl.gradcheck import rel_error

STEPS = 6


def run_ours(rule, w, grads, config):
    for dw in grads:
        w, config = rule(w, dw, config)
    return w, config


def run_torch(make_optimizer, w, grads):
    p = torch.tensor(w, requires_grad=True)
    opt = make_optimizer([p])
    for dw in grads:
        opt.zero_grad()
        p.grad = torch.tensor(dw)
        opt.step()
    return p.detach().numpy()


@pytest.mark.parametrize(
    "name, config, make_optimizer",
    [
        ("sgd", {"learning_rate": 0.05}, lambda p: torch.optim.SGD(p, lr=0.05)),
        ("sgd_momentum", {"learning_rate": 0.05, "momentum": 0.8}, lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.8)),
        ("rmsprop", {"learning_rate": 0.01, "decay_rate": 0.9}, lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.9, eps=1e-8)),
        ("adam", {"learning_rate": 0.01, "beta1": 0.8, "beta2": 0.95}, lambda p: torch.optim.Adam(p, lr=0.01, betas=(0.8, 0.95), eps=1e-8)),
    ],
)
def test_several_steps_match_torch(name, config, make_optimizer):
    rng = np.random.default_rng(7)
    w = rng.standard_normal((4, 3))
    grads = [rng.standard_normal((4, 3)) for _ in range(STEPS)]
    ours, _ = run_ours(getattr(optim, name), w.copy(), grads, dict(config))
    theirs = run_torch(make_optimizer, w.copy(), grads)
    assert rel_error(ours, theirs) < 1e-10


@pytest.mark.parametrize(
    "name, defaults",
    [
        ("sgd", {"learning_rate": 1e-2}),
        ("sgd_momentum", {"learning_rate": 1e-2, "momentum": 0.9}),
        ("rmsprop", {"learning_rate": 1e-2, "decay_rate": 0.99, "epsilon": 1e-8}),
        ("adam", {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}),
    ],
)
def test_none_config_fills_defaults(name, defaults):
    w = np.ones((2, 2))
    _, config = getattr(optim, name)(w, np.ones((2, 2)), None)
    for key, value in defaults.items():
        assert config[key] == value


@pytest.mark.parametrize("name, state", [("sgd_momentum", ["velocity"]), ("rmsprop", ["cache"]), ("adam", ["m", "v", "t"])])
def test_state_is_persisted_and_input_unchanged(name, state):
    rng = np.random.default_rng(8)
    w, dw = rng.standard_normal((3, 3)), rng.standard_normal((3, 3))
    w_before = w.copy()
    config = {}
    next_w, returned = getattr(optim, name)(w, dw, config)
    assert returned is config
    for key in state:
        assert key in config
    np.testing.assert_array_equal(w, w_before)
    assert not np.allclose(next_w, w)
    if name == "adam":
        assert config["t"] == 1
        getattr(optim, name)(next_w, dw, config)
        assert config["t"] == 2


def test_zero_momentum_is_sgd():
    rng = np.random.default_rng(9)
    w, dw = rng.standard_normal(5), rng.standard_normal(5)
    a, _ = optim.sgd_momentum(w, dw, {"learning_rate": 0.1, "momentum": 0.0})
    b, _ = optim.sgd(w, dw, {"learning_rate": 0.1})
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-15)
