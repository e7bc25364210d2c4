"""Solver behaviour: options, update rules, decay, accuracy checks, best-parameter restore."""
import numpy as np
import pytest

from dl import artifacts
from dl.models import FullyConnectedNet
from dl.solver import Solver


def toy_data(n_train=60, n_val=20, d=5, c=3, seed=0):
    """Linearly separable classes, so a softmax model can learn them."""
    rng = np.random.default_rng(seed)
    centers = 3 * rng.standard_normal((c, d))
    def split(n):
        y = rng.integers(c, size=n)
        return centers[y] + rng.standard_normal((n, d)), y
    X_train, y_train = split(n_train)
    X_val, y_val = split(n_val)
    return dict(X_train=X_train, y_train=y_train, X_val=X_val, y_val=y_val)


def small_model(seed=0, reg=0.0):
    np.random.seed(seed)
    return FullyConnectedNet([8], input_dim=5, num_classes=3, reg=reg, dtype=np.float64)


class ScriptedModel:
    """Predicts class ``params['k'] mod 3`` for every input; each update adds one to k.

    Its validation accuracy per epoch is therefore fully determined by the labels we choose.
    """

    def __init__(self):
        self.params = {"k": np.zeros(1)}

    def loss(self, X, y=None):
        scores = np.zeros((X.shape[0], 3))
        scores[:, int(self.params["k"][0]) % 3] = 1.0
        if y is None:
            return scores
        return 0.0, {"k": -np.ones(1)}  # sgd with lr 1 turns this into k + 1


def test_unknown_keyword_is_rejected():
    with pytest.raises(ValueError, match="unrecognized arguments.*'learnin_rate'"):
        Solver(small_model(), toy_data(), learnin_rate=1e-3)


def test_missing_data_key_is_rejected():
    data = toy_data()
    del data["y_val"]
    with pytest.raises(ValueError, match="y_val"):
        Solver(small_model(), data)


def test_unknown_rule_name_is_rejected():
    with pytest.raises(ValueError, match='invalid update_rule "adamw"'):
        Solver(small_model(), toy_data(), update_rule="adamw")


def test_training_lowers_the_loss_and_records_histories():
    np.random.seed(0)
    solver = Solver(small_model(), toy_data(), update_rule="adam", optim_config={"learning_rate": 1e-2},
                    num_epochs=5, batch_size=20, verbose=False)
    solver.train()
    iterations = 5 * (60 // 20)
    assert len(solver.loss_history) == iterations
    assert len(solver.train_acc_history) == len(solver.val_acc_history) == 5 + 1  # first iteration + each epoch
    assert np.mean(solver.loss_history[-3:]) < np.mean(solver.loss_history[:3])
    assert solver.best_val_acc == max(solver.val_acc_history)


def test_same_seed_same_run():
    histories = []
    for _ in range(2):
        np.random.seed(3)
        solver = Solver(small_model(), toy_data(), num_epochs=2, batch_size=10, verbose=False)
        solver.train()
        histories.append(solver.loss_history)
    assert histories[0] == histories[1]


def test_callable_update_rule_is_used_per_parameter():
    calls = []

    def rule(w, dw, config):
        calls.append(config)
        config.setdefault("learning_rate", 1e-2)
        return w - config["learning_rate"] * dw, config

    model = small_model()
    np.random.seed(0)
    solver = Solver(model, toy_data(), update_rule=rule, num_epochs=1, batch_size=30, verbose=False)
    solver.train()
    assert len(calls) == 2 * len(model.params)
    assert solver.update_rule_name == "rule"
    assert len({id(c) for c in calls}) == len(model.params)  # each parameter has its own config


def test_optim_config_is_copied_per_parameter():
    velocity = np.zeros(3)
    solver = Solver(small_model(), toy_data(), update_rule="sgd_momentum", optim_config={"velocity": velocity})
    configs = list(solver.optim_configs.values())
    assert configs[0] is not configs[1]
    assert configs[0]["velocity"] is not velocity


def test_lr_decay_is_applied_once_per_epoch():
    np.random.seed(0)
    solver = Solver(small_model(), toy_data(), update_rule="sgd", optim_config={"learning_rate": 0.1},
                    lr_decay=0.5, num_epochs=3, batch_size=20, verbose=False)
    solver.train()
    for config in solver.optim_configs.values():
        assert config["learning_rate"] == pytest.approx(0.1 * 0.5**3)


def test_best_validation_params_are_restored(capsys):
    # Predictions cycle 0, 1, 2, 0, ... with k = number of updates. With batch_size = n_train each
    # epoch is one update, and its first iteration is also its end, so there is one accuracy
    # check per epoch, after which the model predicts class e % 3. Validation labels are all 2,
    # so only epoch 2 has accuracy 1.
    data = dict(X_train=np.zeros((4, 1)), y_train=np.zeros(4, int), X_val=np.zeros((6, 1)), y_val=np.full(6, 2))
    model = ScriptedModel()
    np.random.seed(0)
    solver = Solver(model, data, update_rule="sgd", optim_config={"learning_rate": 1.0}, num_epochs=4, batch_size=4)
    solver.train()
    assert solver.val_acc_history == [0.0, 1.0, 0.0, 0.0]
    assert solver.best_epoch == 2
    assert model.params["k"][0] == 2  # trained to k = 4, restored to the epoch-2 snapshot
    assert "Restored the parameters of epoch 2" in capsys.readouterr().out


def test_log_lines(capsys):
    np.random.seed(0)
    Solver(small_model(), toy_data(), num_epochs=2, batch_size=20, print_every=2).train()
    out = capsys.readouterr().out
    assert "(Iteration 1 / 6) loss: " in out and "(Iteration 3 / 6) loss: " in out
    assert "(Iteration 2 / 6)" not in out
    assert "(Epoch 0 / 2) train acc: " in out and "(Epoch 2 / 2) train acc: " in out


def test_train_accuracy_uses_a_subsample():
    np.random.seed(0)
    model = small_model()
    seen = []
    original = model.loss
    model.loss = lambda X, y=None: (seen.append(X.shape[0]), original(X, y))[1]
    solver = Solver(model, toy_data(n_train=60), num_train_samples=25, num_epochs=1, batch_size=60, verbose=False)
    solver.check_accuracy(solver.X_train, solver.y_train, num_samples=25, batch_size=10)
    assert seen == [10, 10, 5]


def test_callbacks_run_every_iteration():
    seen = []
    np.random.seed(0)
    solver = Solver(small_model(), toy_data(), num_epochs=2, batch_size=20, verbose=False,
                    callbacks=[lambda s: seen.append((len(s.loss_history), len(s.val_acc_history)))])
    solver.train()
    assert [n for n, _ in seen] == list(range(1, 7))
    assert seen[0][1] == 1 and seen[-1][1] == 3


def test_checkpoints_are_pickle_free(tmp_path):
    np.random.seed(0)
    model = small_model()
    solver = Solver(model, toy_data(), num_epochs=2, batch_size=20, verbose=False, checkpoint_name=str(tmp_path / "ck"))
    solver.train()
    arrays, meta = artifacts.load("ck_epoch_2", directory=tmp_path)
    assert set(arrays) == set(model.params)
    assert meta["epoch"] == 2 and meta["update_rule"] == "sgd"
    assert len(meta["loss_history"]) == 6
