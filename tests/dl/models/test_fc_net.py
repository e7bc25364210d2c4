"""FullyConnectedNet: parameters, initialisation, loss against PyTorch, gradient checks."""
import numpy as np
import pytest
import torch

from dl.gradcheck import eval_numerical_gradient, rel_error
from dl.models import FullyConnectedNet
from dl.models.fc_net import load_fc_net, save_fc_net


@pytest.mark.parametrize("hidden_dims", [[], [7], [6, 4], [5, 5, 5], [3, 8, 2, 6]])
def test_parameter_names_shapes_and_dtype(hidden_dims):
    model = FullyConnectedNet(hidden_dims, input_dim=9, num_classes=4, dtype=np.float32)
    dims = [9, *hidden_dims, 4]
    L = len(hidden_dims) + 1
    assert sorted(model.params) == sorted([f"W{i}" for i in range(1, L + 1)] + [f"b{i}" for i in range(1, L + 1)])
    for i in range(1, L + 1):
        assert model.params[f"W{i}"].shape == (dims[i - 1], dims[i])
        assert model.params[f"b{i}"].shape == (dims[i],)
        assert model.params[f"W{i}"].dtype == np.float32
        assert not np.any(model.params[f"b{i}"])


def test_initialisation_statistics_and_rng_order():
    np.random.seed(0)
    model = FullyConnectedNet([400, 300], input_dim=500, num_classes=10, weight_scale=0.05, dtype=np.float64)
    for name in ("W1", "W2"):
        assert abs(model.params[name].std() - 0.05) < 0.002  # >= 120k samples: std error ~1e-4
        assert abs(model.params[name].mean()) < 0.002
    np.random.seed(0)
    expected_w1 = 0.05 * np.random.randn(500, 400)
    expected_w2 = 0.05 * np.random.randn(400, 300)
    np.testing.assert_array_equal(model.params["W1"], expected_w1)
    np.testing.assert_array_equal(model.params["W2"], expected_w2)


def test_scores_in_test_mode_match_torch():
    rng = np.random.default_rng(1)
    np.random.seed(1)
    model = FullyConnectedNet([6, 5], input_dim=12, num_classes=3, weight_scale=0.3, dtype=np.float64)
    X = rng.standard_normal((4, 3, 2, 2))
    scores = model.loss(X)
    h = torch.tensor(X.reshape(4, -1))
    for i in (1, 2, 3):
        h = h @ torch.tensor(model.params[f"W{i}"]) + torch.tensor(model.params[f"b{i}"])
        h = torch.relu(h) if i < 3 else h
    assert scores.shape == (4, 3)
    assert rel_error(scores, h.numpy()) < 1e-12


@pytest.mark.parametrize("hidden_dims", [[20], [12, 9, 11, 10]], ids=["2-layer", "5-layer"])
@pytest.mark.parametrize("reg", [0.0, 1.7])
def test_gradients_match_numerical(hidden_dims, reg):
    np.random.seed(231)
    N, D, C = 3, 15, 7
    X = np.random.randn(N, D)
    y = np.random.randint(C, size=N)
    model = FullyConnectedNet(hidden_dims, input_dim=D, num_classes=C, reg=reg, weight_scale=0.2, dtype=np.float64)
    loss, grads = model.loss(X, y)
    assert set(grads) == set(model.params)
    for name, param in model.params.items():
        numeric = eval_numerical_gradient(lambda p: model.loss(X, y)[0], param, verbose=False, h=1e-5)
        assert grads[name].shape == param.shape
        # Element-wise relative error: the worst element of a deep net's weight gradient may
        # reach ~1e-5 (CURRICULUM §9: W2 up to ~1e-5); the typical element must be far better.
        assert rel_error(numeric, grads[name]) < 2e-5, name
        typical = np.median(np.abs(numeric - grads[name]) / np.maximum(1e-8, np.abs(numeric) + np.abs(grads[name])))
        assert typical < 1e-8, name


def test_regularisation_adds_half_l2_of_weights_only():
    np.random.seed(0)
    X, y = np.random.randn(5, 6), np.array([0, 1, 2, 0, 1])
    plain = FullyConnectedNet([4], input_dim=6, num_classes=3, reg=0.0, dtype=np.float64)
    regd = FullyConnectedNet([4], input_dim=6, num_classes=3, reg=2.0, dtype=np.float64)
    regd.params = {k: v.copy() for k, v in plain.params.items()}
    regd.params["b1"] += 1.0  # biases are not regularised, so they change the data loss only
    plain.params["b1"] += 1.0
    l2 = sum(np.sum(plain.params[k] ** 2) for k in ("W1", "W2"))
    assert regd.loss(X, y)[0] == pytest.approx(plain.loss(X, y)[0] + 0.5 * 2.0 * l2, rel=1e-12)
    g_plain, g_reg = plain.loss(X, y)[1], regd.loss(X, y)[1]
    np.testing.assert_allclose(g_reg["W1"], g_plain["W1"] + 2.0 * plain.params["W1"], rtol=1e-12)
    np.testing.assert_allclose(g_reg["b1"], g_plain["b1"], rtol=1e-12)


def test_inputs_are_cast_to_dtype():
    model = FullyConnectedNet([4], input_dim=6, num_classes=3, dtype=np.float32)
    assert model.loss(np.ones((2, 6), dtype=np.float64)).dtype == np.float32


def test_bad_options_are_rejected():
    with pytest.raises(ValueError, match="normalization must be None, .batchnorm. or .layernorm."):
        FullyConnectedNet([4], normalization="groupnorm")
    with pytest.raises(ValueError, match="dropout_keep_ratio"):
        FullyConnectedNet([4], dropout_keep_ratio=0.0)


def test_save_and_load_round_trip(tmp_path):
    np.random.seed(3)
    model = FullyConnectedNet([7, 5], input_dim=6, num_classes=4, weight_scale=0.3, dtype=np.float64)
    model.params["b2"] += 0.25
    save_fc_net("best", model, directory=tmp_path)
    loaded = load_fc_net("best", directory=tmp_path)
    X = np.random.randn(3, 6)
    np.testing.assert_array_equal(loaded.loss(X), model.loss(X))
    assert loaded.dtype == np.float64


def test_load_rejects_tampered_artifacts(tmp_path):
    import json

    model = FullyConnectedNet([3], input_dim=4, num_classes=2)
    save_fc_net("m", model, directory=tmp_path)
    meta_path = tmp_path / "m.json"
    info = json.loads(meta_path.read_text())
    info["meta"]["hidden_dims"] = [5]
    meta_path.write_text(json.dumps(info))
    with pytest.raises(ValueError, match="W1 has shape"):
        load_fc_net("m", directory=tmp_path)
    info["meta"]["hidden_dims"] = [-1]
    meta_path.write_text(json.dumps(info))
    with pytest.raises(ValueError, match="malformed architecture"):
        load_fc_net("m", directory=tmp_path)
