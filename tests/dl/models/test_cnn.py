"""ThreeLayerConvNet: parameters, initialisation, loss against PyTorch, gradient checks.

The sandwich layers it uses loop in Python, so the tests use small images.
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dl.gradcheck import eval_numerical_gradient, rel_error
from dl.models import ThreeLayerConvNet


def torch_convnet_scores(X, params, filter_size):
    """Independent PyTorch forward pass; ``params`` holds tensors (leaf tensors give gradients)."""
    h = F.conv2d(torch.tensor(X), params["W1"], params["b1"], padding=(filter_size - 1) // 2)
    h = F.max_pool2d(torch.relu(h), 2, stride=2)
    h = torch.relu(h.reshape(h.shape[0], -1) @ params["W2"] + params["b2"])
    return h @ params["W3"] + params["b3"]


def test_parameter_shapes_dtype_and_rng_order():
    np.random.seed(0)
    model = ThreeLayerConvNet(input_dim=(2, 6, 8), num_filters=4, filter_size=3, hidden_dim=5, num_classes=3,
                              weight_scale=0.02)
    np.random.seed(0)
    expected = {
        "W1": 0.02 * np.random.randn(4, 2, 3, 3), "b1": np.zeros(4),
        "W2": 0.02 * np.random.randn(4 * 3 * 4, 5), "b2": np.zeros(5),
        "W3": 0.02 * np.random.randn(5, 3), "b3": np.zeros(3),
    }
    assert list(model.params) == list(expected)
    for name, value in expected.items():
        assert model.params[name].dtype == np.float32
        np.testing.assert_array_equal(model.params[name], value.astype(np.float32))


def test_default_initialisation_statistics():
    np.random.seed(1)
    model = ThreeLayerConvNet()
    assert model.params["W1"].shape == (32, 3, 7, 7)
    assert model.params["W2"].shape == (32 * 16 * 16, 100)
    assert model.params["W3"].shape == (100, 10)
    weights = np.concatenate([model.params[k].ravel() for k in ("W1", "W2", "W3")])
    assert abs(weights.std() - 1e-3) < 1e-5  # 824,904 samples
    # what the notebook's reg = 0.5 check adds: 0.25 * sum w^2, about 0.25e-6 per weight = 0.206
    assert abs(0.25 * np.sum(weights.astype(np.float64) ** 2) - 0.206) < 0.002


@pytest.mark.parametrize("filter_size", [3, 5])
def test_loss_and_gradients_match_torch(filter_size):
    rng = np.random.default_rng(2)
    np.random.seed(2)
    model = ThreeLayerConvNet(input_dim=(3, 6, 6), num_filters=4, filter_size=filter_size, hidden_dim=7,
                              num_classes=5, weight_scale=0.3, reg=0.4, dtype=np.float64)
    X, y = rng.standard_normal((3, 3, 6, 6)), rng.integers(5, size=3)
    loss, grads = model.loss(X, y)
    tensors = {k: torch.tensor(v, requires_grad=True) for k, v in model.params.items()}
    scores = torch_convnet_scores(X, tensors, filter_size)
    expected = F.cross_entropy(scores, torch.tensor(y)) + 0.2 * sum((tensors[k] ** 2).sum() for k in ("W1", "W2", "W3"))
    expected.backward()
    assert abs(loss - expected.item()) < 1e-12
    assert rel_error(model.loss(X), scores.detach().numpy()) < 1e-12
    assert set(grads) == set(model.params)
    for name, tensor in tensors.items():
        grad_t = tensor.grad.numpy()
        assert grads[name].shape == grad_t.shape
        np.testing.assert_allclose(grads[name], grad_t, rtol=0, atol=1e-12 * np.abs(grad_t).max(), err_msg=name)


def test_gradients_match_numerical():
    """Float64, h = 1e-6, on small images.

    The weights are larger than the default 1e-3: at that scale the pre-activations are ~1e-6,
    a step of h crosses ReLU and max kinks, and W2's gradient entries (~1e-7) drown in the
    centred difference's rounding; the notebook therefore accepts errors up to ~1e-2 there
    (CURRICULUM §9), which would hide real mistakes here. The comparison with autograd above is
    the exact check.
    """
    np.random.seed(231)
    X = np.random.randn(2, 3, 4, 4)
    y = np.random.randint(10, size=2)
    model = ThreeLayerConvNet(num_filters=3, filter_size=3, input_dim=(3, 4, 4), hidden_dim=7, weight_scale=0.1,
                              dtype=np.float64)
    _, grads = model.loss(X, y)
    for name, param in model.params.items():
        numeric = eval_numerical_gradient(lambda p: model.loss(X, y)[0], param, verbose=False, h=1e-6)
        assert rel_error(numeric, grads[name]) < 1e-6, name


def test_initial_loss_is_log_c_and_reg_adds_half_l2():
    np.random.seed(231)
    model = ThreeLayerConvNet(input_dim=(3, 8, 8))
    X = np.random.randn(4, 3, 8, 8)
    y = np.random.randint(10, size=4)
    loss, _ = model.loss(X, y)
    assert abs(loss - np.log(10)) < 1e-3  # scores of size ~1e-5 at weight scale 1e-3
    model.reg = 0.5  # settable after construction
    loss_reg, grads = model.loss(X, y)
    l2 = sum(np.sum(model.params[k].astype(np.float64) ** 2) for k in ("W1", "W2", "W3"))
    assert loss_reg - loss == pytest.approx(0.25 * l2, rel=1e-5)  # float32 parameters


def test_inputs_are_cast_to_dtype():
    model = ThreeLayerConvNet(input_dim=(1, 4, 4), num_filters=2, filter_size=3, hidden_dim=3, dtype=np.float32)
    scores = model.loss(np.ones((2, 1, 4, 4), dtype=np.float64))
    assert scores.shape == (2, 10) and scores.dtype == np.float32
