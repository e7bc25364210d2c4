"""FullyConnectedNet: parameters, initialisation, loss against PyTorch, gradient checks."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

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


# ---------------------------------------------------------------------------------------------
# normalization and dropout branches


def torch_fc_scores(X, params, num_layers, normalization=None, bn_params=None, train=True, masks=None):
    """Independent PyTorch forward pass of FullyConnectedNet (float64); returns the score tensor.

    ``params`` holds arrays or tensors (pass leaf tensors to get gradients by autograd).
    """
    tensors = {k: v if isinstance(v, torch.Tensor) else torch.tensor(v) for k, v in params.items()}
    h = torch.tensor(X.reshape(X.shape[0], -1))
    for i in range(1, num_layers + 1):
        h = h @ tensors[f"W{i}"] + tensors[f"b{i}"]
        if i == num_layers:
            break
        if normalization == "batchnorm" and train:
            h = F.batch_norm(h, None, None, tensors[f"gamma{i}"], tensors[f"beta{i}"], training=True, eps=1e-5)
        elif normalization == "batchnorm":
            stats = bn_params[i - 1]
            h = F.batch_norm(h, torch.tensor(stats["running_mean"]), torch.tensor(stats["running_var"]),
                             tensors[f"gamma{i}"], tensors[f"beta{i}"], training=False, eps=1e-5)
        elif normalization == "layernorm":
            h = F.layer_norm(h, (h.shape[1],), tensors[f"gamma{i}"], tensors[f"beta{i}"], eps=1e-5)
        h = torch.relu(h)
        if masks is not None:
            h = h * torch.tensor(masks[i - 1])
    return h


@pytest.mark.parametrize("normalization", ["batchnorm", "layernorm"])
@pytest.mark.parametrize("hidden_dims", [[], [7], [6, 4, 5]])
def test_normalization_parameters_and_param_dicts(normalization, hidden_dims):
    model = FullyConnectedNet(hidden_dims, input_dim=9, num_classes=4, normalization=normalization, dtype=np.float32)
    L = len(hidden_dims) + 1
    expected = {f"W{i}" for i in range(1, L + 1)} | {f"b{i}" for i in range(1, L + 1)}
    expected |= {f"gamma{i}" for i in range(1, L)} | {f"beta{i}" for i in range(1, L)}
    assert set(model.params) == expected
    for i, dim in enumerate(hidden_dims, start=1):
        assert model.params[f"gamma{i}"].shape == (dim,) and model.params[f"beta{i}"].shape == (dim,)
        assert model.params[f"gamma{i}"].dtype == np.float32 and model.params[f"beta{i}"].dtype == np.float32
        np.testing.assert_array_equal(model.params[f"gamma{i}"], 1.0)
        np.testing.assert_array_equal(model.params[f"beta{i}"], 0.0)
    expected_param = {"mode": "train"} if normalization == "batchnorm" else {}
    assert model.bn_params == [expected_param] * (L - 1)
    assert len({id(p) for p in model.bn_params}) == L - 1  # one dict per layer, not one shared dict
    assert not model.use_dropout and model.dropout_param == {}


def test_dropout_param_is_shared_and_carries_the_seed():
    assert FullyConnectedNet([5], dropout_keep_ratio=0.3, seed=7).dropout_param == {"mode": "train", "p": 0.3, "seed": 7}
    assert FullyConnectedNet([5], dropout_keep_ratio=0.3).dropout_param == {"mode": "train", "p": 0.3}
    assert FullyConnectedNet([5], dropout_keep_ratio=1, seed=7).dropout_param == {}


@pytest.mark.parametrize("options", [{"normalization": "batchnorm"}, {"normalization": "layernorm"},
                                     {"dropout_keep_ratio": 0.5, "seed": 1}])
def test_options_draw_the_same_weights_as_the_plain_net(options):
    np.random.seed(5)
    plain = FullyConnectedNet([8, 6], input_dim=10, num_classes=3, weight_scale=0.1, dtype=np.float64)
    next_plain = np.random.rand()
    np.random.seed(5)
    other = FullyConnectedNet([8, 6], input_dim=10, num_classes=3, weight_scale=0.1, dtype=np.float64, **options)
    assert np.random.rand() == next_plain  # the options draw nothing more
    for name, value in plain.params.items():
        np.testing.assert_array_equal(other.params[name], value)


@pytest.mark.parametrize("normalization", ["batchnorm", "layernorm"])
def test_normalized_loss_and_gradients_match_torch(normalization):
    rng = np.random.default_rng(6)
    np.random.seed(6)
    model = FullyConnectedNet([7, 5], input_dim=12, num_classes=4, reg=0.7, weight_scale=0.3,
                              normalization=normalization, dtype=np.float64)
    for i in (1, 2):  # move gamma and beta away from their initial values
        model.params[f"gamma{i}"] += rng.standard_normal(model.params[f"gamma{i}"].shape)
        model.params[f"beta{i}"] += rng.standard_normal(model.params[f"beta{i}"].shape)
    X, y = rng.standard_normal((6, 3, 2, 2)), rng.integers(4, size=6)
    loss, grads = model.loss(X, y)
    tensors = {k: torch.tensor(v, requires_grad=True) for k, v in model.params.items()}
    h = torch_fc_scores(X, tensors, 3, normalization)
    expected = F.cross_entropy(h, torch.tensor(y)) + 0.35 * sum((tensors[f"W{i}"] ** 2).sum() for i in (1, 2, 3))
    expected.backward()
    assert abs(loss - expected.item()) < 1e-12
    assert set(grads) == set(tensors)
    for name in tensors:
        grad_t = tensors[name].grad.numpy()
        # on the scale of the largest entry: before batchnorm the true bias gradient is 0
        np.testing.assert_allclose(grads[name], grad_t, rtol=0, atol=1e-12 * max(1.0, np.abs(grad_t).max()), err_msg=name)


def test_batchnorm_running_stats_are_used_in_test_mode():
    rng = np.random.default_rng(7)
    np.random.seed(7)
    model = FullyConnectedNet([6, 5], input_dim=4, num_classes=3, weight_scale=0.5, normalization="batchnorm",
                              dtype=np.float64)
    for _ in range(4):
        model.loss(rng.standard_normal((10, 4)), rng.integers(3, size=10))
    assert all(p["mode"] == "train" and p["running_mean"].shape == (dim,) for p, dim in zip(model.bn_params, (6, 5)))
    X = rng.standard_normal((3, 4))
    stats = [dict(p) for p in model.bn_params]
    scores = model.loss(X)
    assert all(p["mode"] == "test" for p in model.bn_params)
    for before, after in zip(stats, model.bn_params):  # test mode leaves the statistics alone
        np.testing.assert_array_equal(before["running_mean"], after["running_mean"])
    expected = torch_fc_scores(X, model.params, 3, "batchnorm", model.bn_params, train=False)
    assert rel_error(scores, expected.numpy()) < 1e-12
    np.testing.assert_array_equal(model.loss(X[:1]), scores[:1])  # no dependence on the rest of the batch


def test_dropout_train_loss_matches_torch_with_the_same_masks_and_test_mode_has_none():
    rng = np.random.default_rng(8)
    np.random.seed(8)
    N, D, H1, H2, C, p = 5, 6, 9, 7, 3, 0.6
    model = FullyConnectedNet([H1, H2], input_dim=D, num_classes=C, weight_scale=0.4, dropout_keep_ratio=p, seed=42,
                              dtype=np.float64)
    X, y = rng.standard_normal((N, D)), rng.integers(C, size=N)
    loss, _ = model.loss(X, y)
    masks = [(np.random.RandomState(42).rand(N, H) < p) / p for H in (H1, H2)]  # every layer reseeds
    expected = F.cross_entropy(torch_fc_scores(X, model.params, 3, masks=masks), torch.tensor(y))
    assert abs(loss - expected.item()) < 1e-12
    assert model.loss(X, y)[0] == loss  # the seed makes the loss deterministic
    scores = model.loss(X)
    assert model.dropout_param["mode"] == "test"
    assert rel_error(scores, torch_fc_scores(X, model.params, 3).numpy()) < 1e-12


@pytest.mark.parametrize("options", [
    {"normalization": "batchnorm"},
    {"normalization": "layernorm", "reg": 0.5},
    {"dropout_keep_ratio": 0.7, "seed": 3},
    {"normalization": "batchnorm", "dropout_keep_ratio": 0.5, "seed": 9, "reg": 0.2},
], ids=["batchnorm", "layernorm-reg", "dropout", "batchnorm-dropout-reg"])
def test_gradients_with_options_match_numerical(options):
    np.random.seed(231)
    N, D, C = 6, 8, 4
    X = np.random.randn(N, D)
    y = np.random.randint(C, size=N)
    model = FullyConnectedNet([7, 6], input_dim=D, num_classes=C, weight_scale=0.5, dtype=np.float64, **options)
    _, grads = model.loss(X, y)
    for name, param in model.params.items():
        numeric = eval_numerical_gradient(lambda p: model.loss(X, y)[0], param, verbose=False, h=1e-5)
        if options.get("normalization") == "batchnorm" and name in ("b1", "b2"):
            # cancelled by the batch mean: the true gradient is 0
            assert np.abs(grads[name]).max() < 1e-13 and np.abs(numeric).max() < 1e-9, name
            continue
        # CURRICULUM §9: W <= 1e-4, b/gamma/beta <= 1e-8 (element-wise, so tiny entries dominate)
        assert rel_error(numeric, grads[name]) < (1e-4 if name.startswith("W") else 1e-7), name
        assert np.abs(numeric - grads[name]).max() < 1e-8, name


def test_save_and_load_keep_normalization_running_stats_and_dropout(tmp_path):
    rng = np.random.default_rng(9)
    np.random.seed(9)
    model = FullyConnectedNet([5, 4], input_dim=6, num_classes=3, normalization="batchnorm", dropout_keep_ratio=0.5,
                              weight_scale=0.3, dtype=np.float64)
    model.loss(rng.standard_normal((8, 6)), rng.integers(3, size=8))
    save_fc_net("bn", model, directory=tmp_path)
    loaded = load_fc_net("bn", directory=tmp_path)
    assert loaded.normalization == "batchnorm" and loaded.dropout_param["p"] == 0.5
    X = rng.standard_normal((4, 6))
    np.testing.assert_array_equal(loaded.loss(X), model.loss(X))
