"""Batch-size and weight-scale experiments: structure, settings, seeding and the caller's smoke flag.

Runs on a tiny generated CIFAR-format data set with one or two epochs, so the numbers themselves
mean nothing; only the bookkeeping is tested.
"""
import numpy as np
import pytest

from dl.data import get_cifar10_data, write_cifar10_fixture
from dl.experiments import run_batchsize_experiments, weight_scale_sweep
from dl.models import FullyConnectedNet
from dl.optim import adam


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    root = write_cifar10_fixture(tmp_path_factory.mktemp("cifar"), n_train=60, n_test=10)
    data = get_cifar10_data(num_training=40, num_validation=20, num_test=0, root=root)
    return {key: data[key] for key in ("X_train", "y_train", "X_val", "y_val")}


@pytest.mark.parametrize("mode", ["batchnorm", "layernorm"])
def test_batchsize_experiments_structure(tiny_data, mode):
    labels = []

    def callback(label):
        labels.append(label)
        return lambda solver: None

    norm_solvers, baseline, batch_sizes = run_batchsize_experiments(
        mode, tiny_data, FullyConnectedNet, update_rule="adam", smoke=False, batch_sizes=[4, 8], num_epochs=1, num_train=32,
        callback=callback)
    assert batch_sizes == [4, 8]
    assert len(norm_solvers) == 2
    solvers = [*norm_solvers, baseline]
    assert len({id(s) for s in solvers}) == 3 and len({id(s.model) for s in solvers}) == 3
    assert [s.batch_size for s in norm_solvers] == [4, 8] and baseline.batch_size == 4
    assert [s.model.normalization for s in norm_solvers] == [mode, mode]
    assert baseline.model.normalization is None
    for solver in solvers:
        assert isinstance(solver.model, FullyConnectedNet)
        assert [solver.model.params[f"W{i}"].shape[1] for i in range(1, 6)] == [100] * 5
        assert solver.X_train.shape[0] == 32 and solver.X_val.shape[0] == 20
        assert solver.update_rule_name == "adam" and solver.optim_config == {"learning_rate": 10**-3.5}
        assert not solver.verbose and solver.num_epochs == 1
        assert len(solver.loss_history) == 32 // solver.batch_size  # one epoch was trained
    assert sorted(labels) == ["baseline4", "with_norm4", "with_norm8"]


def test_batchsize_experiments_are_seeded(tiny_data):
    def run():
        return run_batchsize_experiments("batchnorm", tiny_data, FullyConnectedNet, update_rule="adam", smoke=False,
                                         batch_sizes=[4, 8], num_epochs=1, num_train=32)

    (norm_a, base_a, _), (norm_b, base_b, _) = run(), run()
    for a, b in zip([*norm_a, base_a], [*norm_b, base_b]):
        assert a.loss_history == b.loss_history
        assert a.val_acc_history == b.val_acc_history


def _recording_class():
    """A FullyConnectedNet subclass that remembers every instance's initial W1 and arguments."""
    built = []

    class Recorded(FullyConnectedNet):
        def __init__(self, hidden_dims, **kwargs):
            super().__init__(hidden_dims, **kwargs)
            built.append((list(hidden_dims), kwargs, self.params["W1"].copy()))

    return Recorded, built


def test_batchsize_experiments_seed_every_net_and_use_the_given_class(tiny_data):
    model_class, built = _recording_class()
    run_batchsize_experiments("batchnorm", tiny_data, model_class, update_rule="adam", smoke=False, batch_sizes=[4, 8],
                              num_epochs=1, num_train=32)
    assert [kwargs for _, kwargs, _ in built] == [
        {"weight_scale": 2e-2, "normalization": None},
        {"weight_scale": 2e-2, "normalization": "batchnorm"},
        {"weight_scale": 2e-2, "normalization": "batchnorm"},
    ]
    np.random.seed(231)
    expected_W1 = FullyConnectedNet([100] * 5, weight_scale=2e-2).params["W1"]
    for hidden_dims, _, W1 in built:  # np.random.seed(231) right before each net is built
        assert hidden_dims == [100] * 5
        np.testing.assert_array_equal(W1, expected_W1)


def test_batchsize_experiments_accept_a_notebook_update_rule(tiny_data):
    calls = []

    def my_adam(w, dw, config=None):
        calls.append(w.shape)
        return adam(w, dw, config)

    norm_solvers, baseline, _ = run_batchsize_experiments(
        "layernorm", tiny_data, FullyConnectedNet, update_rule=my_adam, smoke=False, batch_sizes=[8], num_epochs=1, num_train=16)
    assert norm_solvers[0].update_rule is my_adam and baseline.update_rule is my_adam
    assert calls  # the notebook's rule did the updates


@pytest.mark.parametrize("mode", [None, "groupnorm", "BatchNorm"])
def test_batchsize_experiments_reject_bad_mode(tiny_data, mode):
    with pytest.raises(ValueError, match="normalization_mode must be one of"):
        run_batchsize_experiments(mode, tiny_data, FullyConnectedNet, update_rule="adam", smoke=False)


def test_batchsize_experiments_smoke_defaults(tiny_data, monkeypatch):
    monkeypatch.delenv("DL_SMOKE", raising=False)  # the flag is the caller's, not the environment's
    norm_solvers, baseline, batch_sizes = run_batchsize_experiments(
        "layernorm", tiny_data, FullyConnectedNet, update_rule="adam", smoke=True, num_train=20)
    assert batch_sizes == [5, 50]
    assert [s.num_epochs for s in [*norm_solvers, baseline]] == [1, 1, 1]


def test_batchsize_experiments_ignore_the_environment(tiny_data, monkeypatch):
    monkeypatch.setenv("DL_SMOKE", "1")
    norm_solvers, _, batch_sizes = run_batchsize_experiments(
        "layernorm", tiny_data, FullyConnectedNet, update_rule="adam", smoke=False, num_epochs=1, num_train=20)
    assert batch_sizes == [5, 10, 50]  # the full default: smoke=False wins over DL_SMOKE


@pytest.mark.parametrize("experiment, args", [(run_batchsize_experiments, ("batchnorm",)), (weight_scale_sweep, ())])
def test_the_update_rule_is_the_callers_choice(tiny_data, experiment, args):
    """Is there no default rule to fall back on (the student edition stubs the reference adam)?"""
    with pytest.raises(TypeError, match="update_rule"):
        experiment(*args, tiny_data, FullyConnectedNet, smoke=True)


def test_weight_scale_sweep_structure_and_seed(tiny_data, capsys):
    scales = [1e-3, 1e-1]

    def run():
        return weight_scale_sweep(tiny_data, FullyConnectedNet, update_rule="adam", smoke=False, weight_scales=scales,
                                  num_epochs=2, num_train=40, progress=False)

    results = run()
    assert set(results) == {"weight_scales", "baseline", "batchnorm"}
    np.testing.assert_array_equal(results["weight_scales"], scales)
    for key in ("baseline", "batchnorm"):
        assert set(results[key]) == {"best_val_acc", "best_train_acc", "final_train_loss"}
        for values in results[key].values():
            assert values.shape == (2,) and np.all(np.isfinite(values))
        assert np.all((0 <= results[key]["best_val_acc"]) & (results[key]["best_val_acc"] <= 1))
        assert np.all((0 <= results[key]["best_train_acc"]) & (results[key]["best_train_acc"] <= 1))
        assert np.all(results[key]["final_train_loss"] > 0)
    out = capsys.readouterr().out
    assert "Running weight scale 1 / 2" in out and "Running weight scale 2 / 2" in out

    again = run()  # the seed at the start makes the whole sweep repeatable
    for key in ("baseline", "batchnorm"):
        for name, values in results[key].items():
            np.testing.assert_array_equal(again[key][name], values)


def test_weight_scale_sweep_smoke_defaults(tiny_data, monkeypatch):
    monkeypatch.delenv("DL_SMOKE", raising=False)
    results = weight_scale_sweep(tiny_data, FullyConnectedNet, update_rule="adam", smoke=True, num_train=20)  # with the progress bar
    np.testing.assert_allclose(results["weight_scales"], np.logspace(-4, 0, num=3))
    assert results["baseline"]["best_val_acc"].shape == (3,)


def test_weight_scale_sweep_settings_and_single_seed(tiny_data):
    model_class, built = _recording_class()
    weight_scale_sweep(tiny_data, model_class, update_rule="adam", smoke=False, weight_scales=[1e-2, 1.0], num_epochs=1,
                       num_train=40, progress=False)
    assert [(hidden, kwargs) for hidden, kwargs, _ in built] == [
        ([50] * 7, {"weight_scale": 1e-2, "normalization": "batchnorm"}),
        ([50] * 7, {"weight_scale": 1e-2, "normalization": None}),
        ([50] * 7, {"weight_scale": 1.0, "normalization": "batchnorm"}),
        ([50] * 7, {"weight_scale": 1.0, "normalization": None}),
    ]
    np.random.seed(231)
    np.testing.assert_array_equal(built[0][2], FullyConnectedNet([50] * 7, weight_scale=1e-2).params["W1"])
    assert not np.array_equal(built[0][2], built[1][2])  # seeded once, not before every net
