"""dl.nn.basics: the PyTorch notebook's networks against independent computations, and its loops."""
import functools
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from dl.nn import basics
from dl.widgets import TrainingDashboard


def test_flatten_keeps_examples_and_row_major_order():
    x = torch.arange(12).view(2, 1, 3, 2)
    assert basics.flatten(x).tolist() == [list(range(6)), list(range(6, 12))]
    assert basics.Flatten()(x).shape == (2, 6)


def test_two_layer_fc_is_relu_of_affine_without_biases():
    g = torch.Generator().manual_seed(0)
    x, w1, w2 = torch.randn(4, 2, 3, generator=g), torch.randn(6, 5, generator=g), torch.randn(5, 3, generator=g)
    expected = torch.clamp(x.reshape(4, 6) @ w1, min=0) @ w2
    torch.testing.assert_close(basics.two_layer_fc(x, [w1, w2]), expected)


def _convnet_by_loops(x, params):
    """The ConvNet with the convolution written as unfold + matmul (an independent computation)."""
    conv_w1, conv_b1, conv_w2, conv_b2, fc_w, fc_b = params

    def conv_same(x, w, b):
        k = w.shape[-1]
        cols = F.unfold(x, k, padding=k // 2)  # (N, C*k*k, H*W)
        out = w.reshape(w.shape[0], -1) @ cols + b[:, None]
        return out.reshape(x.shape[0], w.shape[0], x.shape[2], x.shape[3])

    h = conv_same(x, conv_w1, conv_b1).clamp(min=0)
    h = conv_same(h, conv_w2, conv_b2).clamp(min=0)
    return h.reshape(x.shape[0], -1) @ fc_w + fc_b


@pytest.mark.parametrize("c1, c2, k1, k2, size", [(6, 9, 5, 3, 8), (4, 3, 3, 5, 6), (2, 5, 7, 1, 5)])
def test_three_layer_convnet_matches_an_unfold_implementation(c1, c2, k1, k2, size):
    g = torch.Generator().manual_seed(c1 * 100 + k1)
    shapes = [(c1, 3, k1, k1), (c1,), (c2, c1, k2, k2), (c2,), (c2 * size * size, 4), (4,)]
    params = [torch.randn(s, generator=g, dtype=torch.float64) for s in shapes]
    x = torch.randn(3, 3, size, size, generator=g, dtype=torch.float64)
    torch.testing.assert_close(basics.three_layer_convnet(x, params), _convnet_by_loops(x, params))


def test_random_weight_uses_kaiming_std_for_both_layouts():
    torch.manual_seed(0)
    fc = basics.random_weight((400, 300))
    conv = basics.random_weight((64, 16, 5, 5))
    assert fc.requires_grad and conv.requires_grad and fc.is_leaf
    assert fc.std().item() == pytest.approx(math.sqrt(2 / 400), rel=0.02)
    assert conv.std().item() == pytest.approx(math.sqrt(2 / (16 * 25)), rel=0.02)
    z = basics.zero_weight((7,), dtype=torch.float64)
    assert z.requires_grad and z.dtype == torch.float64 and not z.any()


def test_init_three_layer_convnet_params_shapes_init_and_dtype():
    torch.manual_seed(0)
    params = basics.init_three_layer_convnet_params(channel_1=12, channel_2=8, num_classes=7, dtype=torch.float64)
    assert [tuple(p.shape) for p in params] == [(12, 3, 5, 5), (12,), (8, 12, 3, 3), (8,), (8 * 32 * 32, 7), (7,)]
    assert all(p.requires_grad and p.is_leaf and p.dtype == torch.float64 for p in params)
    assert not any(p.any() for p in params[1::2])
    assert params[4].std().item() == pytest.approx(math.sqrt(2 / (8 * 32 * 32)), rel=0.05)
    assert params[2].std().item() == pytest.approx(math.sqrt(2 / (12 * 9)), rel=0.05)


def test_three_layer_convnet_module_equals_the_functional_net_with_its_weights():
    torch.manual_seed(0)
    model = basics.ThreeLayerConvNet(3, 6, 4, 10).double()
    assert [name for name, _ in model.named_parameters()] == [
        "conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc.weight", "fc.bias"]
    assert not any(model.get_parameter(f"{layer}.bias").any() for layer in ("conv1", "conv2", "fc"))
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    params = [model.conv1.weight, model.conv1.bias, model.conv2.weight, model.conv2.bias, model.fc.weight.T, model.fc.bias]
    torch.testing.assert_close(model(x), basics.three_layer_convnet(x, params))


def test_make_convnet_and_optimizer_is_plain_sgd_over_the_convnet():
    model, optimizer = basics.make_convnet_and_optimizer(learning_rate=1e-3)
    assert isinstance(model, basics.ThreeLayerConvNet) and isinstance(optimizer, torch.optim.SGD)
    (group,) = optimizer.param_groups
    assert group["lr"] == 1e-3 and group["momentum"] == 0
    assert {id(p) for p in group["params"]} == {id(p) for p in model.parameters()}
    assert model.conv1.out_channels == 32 and model.conv2.out_channels == 16


def test_build_sequential_convnet_layers_and_nesterov():
    model, optimizer = basics.build_sequential_convnet()
    assert [type(m) for m in model] == [nn.Conv2d, nn.ReLU, nn.Conv2d, nn.ReLU, basics.Flatten, nn.Linear]
    assert (model[0].kernel_size, model[0].padding, model[2].kernel_size, model[2].padding) == ((5, 5), (2, 2), (3, 3), (1, 1))
    assert model[5].in_features == 16 * 32 * 32
    (group,) = optimizer.param_groups
    assert (group["lr"], group["momentum"], group["nesterov"]) == (1e-2, 0.9, True)


class _Split(TensorDataset):
    def __init__(self, x, y, train):
        super().__init__(x, y)
        self.train = train


def _loaders(n=96, seed=0):
    """Separable 3x32x32 'images': the class is the channel with the largest mean."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    x = 0.3 * torch.randn(n, 3, 32, 32, generator=g)
    x[torch.arange(n), y] += 1.0
    train = DataLoader(_Split(x[:64], y[:64], True), batch_size=16)
    return train, DataLoader(_Split(x[64:], y[64:], True), batch_size=16), DataLoader(_Split(x[64:], y[64:], False), batch_size=16)


def test_check_accuracy_names_the_split_counts_and_uses_eval_mode(capsys):
    _, val, test = _loaders()
    model = nn.Sequential(basics.Flatten(), nn.Dropout(0.99), nn.Linear(3 * 32 * 32, 3))
    model.train()
    accs = {basics.check_accuracy(val, model), basics.check_accuracy(val, model)}
    assert len(accs) == 1 and not model.training  # dropout off: the same answer twice
    basics.check_accuracy(test, model)
    out = capsys.readouterr().out.splitlines()
    assert "on the val set: Got" in out[0] and "/ 32 correct" in out[0] and "on the test set" in out[2]


def test_training_loops_learn_and_feed_a_dashboard(capsys):
    torch.manual_seed(0)
    train, val, _ = _loaders()
    dashboard = TrainingDashboard("test")
    params = [basics.random_weight((3 * 32 * 32, 20)), basics.random_weight((20, 3))]
    x0, y0 = next(iter(train))
    with torch.no_grad():
        first_batch_acc = float((basics.two_layer_fc(x0, params).argmax(dim=1) == y0).float().mean())
    accs = basics.train_functional(basics.two_layer_fc, params, 1e-2, train, val, print_every=2,
                                   callback=functools.partial(dashboard.record, "functional"))
    run = dashboard.runs["functional"]
    assert len(run.loss_history) == 4 and run.val_acc_history == accs and len(accs) == 2
    # the training accuracy at each check: the batches since the previous one, scored as they were trained on
    assert len(run.train_acc_history) == 2 and run.train_acc_history[0] == pytest.approx(first_batch_acc)
    assert all(p.grad is not None and not p.grad.any() for p in params)

    model = basics.TwoLayerFC(3 * 32 * 32, 20, 3)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-2)
    epoch_accs = basics.train_module(model, optimizer, train, val, epochs=3, print_every=100, device="cpu",
                                     callback=functools.partial(dashboard.record, "module"))
    run = dashboard.runs["module"]
    assert len(run.loss_history) == 12 and len(epoch_accs) == 3 and run.val_acc_history[3::2] == epoch_accs[1:]
    assert len(run.train_acc_history) == len(run.val_acc_history) == 6
    assert all(0 <= acc <= 1 for acc in run.train_acc_history) and run.train_acc_history[-1] > 0.9
    assert epoch_accs[-1] > 0.9
    dashboard.close()
