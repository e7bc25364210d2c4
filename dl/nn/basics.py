"""The PyTorch notebook's networks and loops, at three levels of abstraction (CURRICULUM §4.1).

1. Functional: parameters are plain tensors with ``requires_grad=True`` in a list, the network a
   function ``model_fn(x, params) -> scores`` and the update a hand-written SGD step
   (:func:`two_layer_fc`, :func:`three_layer_convnet`, :func:`train_functional`).
2. ``nn.Module``: layers own their parameters, ``torch.optim`` updates them
   (:class:`TwoLayerFC`, :class:`ThreeLayerConvNet`, :func:`train_module`).
3. ``nn.Sequential``: a stack of layers in one expression (:func:`build_sequential_convnet`).

Shapes: images ``x`` are ``(N, C, H, W)``, scores ``(N, num_classes)``. Fully connected weights of
the functional networks are stored ``(in, out)`` (``x @ w``); ``nn.Linear`` stores them
``(out, in)``. Initialisation follows Kaiming He, Xiangyu Zhang, Shaoqing Ren and Jian Sun,
*Delving Deep into Rectifiers: Surpassing Human-Level Performance on ImageNet Classification*,
2015, arXiv:1502.01852: weights drawn with standard deviation ``sqrt(2 / fan_in)``, biases zero.
Nesterov momentum (:func:`build_sequential_convnet`): Ilya Sutskever, James Martens, George Dahl
and Geoffrey Hinton, *On the importance of initialization and momentum in deep learning*, ICML 2013.

The training loops report to an optional ``callback`` with keyword arguments: ``callback(loss=...)``
after every iteration and ``callback(train_acc=..., val_acc=...)`` after every validation check
(``train_acc``: the accuracy of the training batches' scores since the previous check, as the
network computed them while it learned, so no extra forward pass; nan after none), e.g.
``callback=functools.partial(dashboard.record, "two-layer")`` for a
:class:`dl.widgets.TrainingDashboard`.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim


def flatten(x: torch.Tensor) -> torch.Tensor:
    """Flatten every example into a vector: ``(N, d1, d2, ...) -> (N, d1 * d2 * ...)`` (a view)."""
    N = x.shape[0]
    return x.view(N, -1)


class Flatten(nn.Module):
    """:func:`flatten` as a layer, for ``nn.Sequential``: ``(N, d1, ...) -> (N, d1 * ...)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return flatten(x)


def two_layer_fc(x: torch.Tensor, params: list[torch.Tensor]) -> torch.Tensor:
    """A two-layer fully connected ReLU network without biases, functional form.

    Inputs:
    - x: (N, d1, ..., dk), flattened to (N, D) with D = d1 * ... * dk.
    - params: ``[w1, w2]``, w1 of shape (D, H) and w2 of shape (H, C).

    Returns the scores, shape (N, C): ``relu(flatten(x) @ w1) @ w2``.
    """
    w1, w2 = params
    x = flatten(x)  # (N, D)
    x = F.relu(x @ w1)  # (N, H)
    return x @ w2  # (N, C)


def three_layer_convnet(x: torch.Tensor, params: list[torch.Tensor]) -> torch.Tensor:
    """A three-layer ConvNet, functional form: conv - relu - conv - relu - fully connected.

    Inputs:
    - x: images, shape (N, 3, H, W).
    - params: ``[conv_w1, conv_b1, conv_w2, conv_b2, fc_w, fc_b]``:
      conv_w1 (C1, 3, KH1, KW1), conv_b1 (C1,): the first convolution;
      conv_w2 (C2, C1, KH2, KW2), conv_b2 (C2,): the second convolution;
      fc_w (C2 * H * W, num_classes), stored (in, out), and fc_b (num_classes,).

    Both convolutions have stride 1 and zero padding that keeps the image size, ``kernel // 2``
    on each side (odd kernels): padding 2 for a 5x5 kernel, 1 for a 3x3 one. So the feature
    maps stay (H, W) and the fully connected layer sees C2 * H * W features per image.

    Returns the scores, shape (N, num_classes).
    """
    conv_w1, conv_b1, conv_w2, conv_b2, fc_w, fc_b = params
    ### BEGIN SOLUTION
    pad1 = (conv_w1.shape[2] // 2, conv_w1.shape[3] // 2)
    pad2 = (conv_w2.shape[2] // 2, conv_w2.shape[3] // 2)
    x = F.relu(F.conv2d(x, conv_w1, conv_b1, stride=1, padding=pad1))  # (N, C1, H, W)
    x = F.relu(F.conv2d(x, conv_w2, conv_b2, stride=1, padding=pad2))  # (N, C2, H, W)
    scores = flatten(x) @ fc_w + fc_b  # (N, C2*H*W) @ (C2*H*W, num_classes) -> (N, num_classes)
    ### END SOLUTION
    return scores


def random_weight(shape: tuple[int, ...], device=None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A weight drawn with Kaiming initialisation: normal, mean 0, standard deviation ``sqrt(2 / fan_in)``.

    ``fan_in`` is ``shape[0]`` for a 2-D fully connected weight stored (in, out), and
    ``prod(shape[1:])`` for a convolution weight (out, in, KH, KW). Returns a leaf tensor of
    ``shape`` on ``device`` (None: the CPU) with ``requires_grad=True``.
    """
    fan_in = shape[0] if len(shape) == 2 else torch.Size(shape[1:]).numel()
    w = torch.randn(tuple(shape), device=device, dtype=dtype) * (2.0 / fan_in) ** 0.5
    return w.requires_grad_()


def zero_weight(shape: tuple[int, ...], device=None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Zeros of ``shape`` on ``device`` (None: the CPU) with ``requires_grad=True`` (biases)."""
    return torch.zeros(tuple(shape), device=device, dtype=dtype, requires_grad=True)


def init_three_layer_convnet_params(channel_1: int = 32, channel_2: int = 16, num_classes: int = 10, device=None,
                                    dtype: torch.dtype = torch.float32) -> list[torch.Tensor]:
    """Parameters of :func:`three_layer_convnet` for 3 x 32 x 32 images, Kaiming-initialised.

    Returns ``[conv_w1 (channel_1, 3, 5, 5), conv_b1 (channel_1,), conv_w2 (channel_2, channel_1, 3, 3),
    conv_b2 (channel_2,), fc_w (channel_2 * 32 * 32, num_classes), fc_b (num_classes,)]``: weights
    from :func:`random_weight`, biases from :func:`zero_weight`, all on ``device`` with ``dtype``
    and ``requires_grad=True``.
    """
    ### BEGIN SOLUTION
    conv_w1 = random_weight((channel_1, 3, 5, 5), device=device, dtype=dtype)
    conv_b1 = zero_weight((channel_1,), device=device, dtype=dtype)
    conv_w2 = random_weight((channel_2, channel_1, 3, 3), device=device, dtype=dtype)
    conv_b2 = zero_weight((channel_2,), device=device, dtype=dtype)
    fc_w = random_weight((channel_2 * 32 * 32, num_classes), device=device, dtype=dtype)
    fc_b = zero_weight((num_classes,), device=device, dtype=dtype)
    ### END SOLUTION
    return [conv_w1, conv_b1, conv_w2, conv_b2, fc_w, fc_b]


class TwoLayerFC(nn.Module):
    """Two fully connected layers with a ReLU between: ``(N, d1, ...) -> (N, num_classes)``.

    ``fc1 = Linear(input_size, hidden_size)``, ``fc2 = Linear(hidden_size, num_classes)``; weights
    Kaiming-initialised (``nn.init.kaiming_normal_``), biases as ``nn.Linear`` makes them.
    """

    def __init__(self, input_size: int, hidden_size: int, num_classes: int):
        super().__init__()
        self.fc1 = nn.Linear(input_size, hidden_size)
        nn.init.kaiming_normal_(self.fc1.weight)
        self.fc2 = nn.Linear(hidden_size, num_classes)
        nn.init.kaiming_normal_(self.fc2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = flatten(x)  # (N, D)
        return self.fc2(F.relu(self.fc1(x)))  # (N, num_classes)


class ThreeLayerConvNet(nn.Module):
    """conv 5x5 (padding 2) - relu - conv 3x3 (padding 1) - relu - fully connected, for 32 x 32 images.

    Layers: ``conv1 = Conv2d(in_channel, channel_1, 5, padding=2)``, ``conv2 = Conv2d(channel_1,
    channel_2, 3, padding=1)``, ``fc = Linear(channel_2 * 32 * 32, num_classes)``; the three
    weights Kaiming-initialised (``nn.init.kaiming_normal_``), the three biases zero.

    forward: x (N, in_channel, 32, 32) -> scores (N, num_classes).
    """

    def __init__(self, in_channel: int, channel_1: int, channel_2: int, num_classes: int):
        super().__init__()
        ### BEGIN SOLUTION
        self.conv1 = nn.Conv2d(in_channel, channel_1, kernel_size=5, padding=2)
        self.conv2 = nn.Conv2d(channel_1, channel_2, kernel_size=3, padding=1)
        self.fc = nn.Linear(channel_2 * 32 * 32, num_classes)
        for layer in (self.conv1, self.conv2, self.fc):
            nn.init.kaiming_normal_(layer.weight)
            nn.init.zeros_(layer.bias)
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ### BEGIN SOLUTION
        x = F.relu(self.conv1(x))  # (N, channel_1, 32, 32)
        x = F.relu(self.conv2(x))  # (N, channel_2, 32, 32)
        scores = self.fc(flatten(x))  # (N, num_classes)
        ### END SOLUTION
        return scores


def make_convnet_and_optimizer(learning_rate: float = 3e-3) -> tuple[nn.Module, optim.Optimizer]:
    """``ThreeLayerConvNet(3, 32, 16, 10)`` and plain SGD over its parameters (lr ``learning_rate``, no momentum)."""
    ### BEGIN SOLUTION
    model = ThreeLayerConvNet(in_channel=3, channel_1=32, channel_2=16, num_classes=10)
    optimizer = optim.SGD(model.parameters(), lr=learning_rate)
    ### END SOLUTION
    return model, optimizer


def build_sequential_convnet() -> tuple[nn.Sequential, optim.Optimizer]:
    """The ConvNet of :class:`ThreeLayerConvNet` (channels 32, 16) as an ``nn.Sequential``, and its optimizer.

    Layers in order: ``Conv2d(3, 32, 5, padding=2)``, ``ReLU()``, ``Conv2d(32, 16, 3, padding=1)``,
    ``ReLU()``, ``Flatten()``, ``Linear(16 * 32 * 32, 10)``, with PyTorch's default initialisation;
    optimizer ``SGD(lr=1e-2, momentum=0.9, nesterov=True)``.
    """
    ### BEGIN SOLUTION
    model = nn.Sequential(
        nn.Conv2d(3, 32, kernel_size=5, padding=2),
        nn.ReLU(),
        nn.Conv2d(32, 16, kernel_size=3, padding=1),
        nn.ReLU(),
        Flatten(),
        nn.Linear(16 * 32 * 32, 10),
    )
    optimizer = optim.SGD(model.parameters(), lr=1e-2, momentum=0.9, nesterov=True)
    ### END SOLUTION
    return model, optimizer


def report_accuracy(loader, num_correct: int, num_samples: int) -> float:
    """Print ``Got k / n correct (xx.xx%)`` for the split of ``loader`` and return the accuracy k / n.

    The split is called val when the loader's dataset is the training set (the held-out part of
    it), test otherwise.
    """
    split = "val" if getattr(loader.dataset, "train", False) else "test"
    acc = num_correct / num_samples
    print(f"Checking accuracy on the {split} set: Got {num_correct} / {num_samples} correct ({100 * acc:.2f}%)")
    return acc


def check_accuracy_functional(loader, model_fn, params: list[torch.Tensor]) -> float:
    """The accuracy of ``model_fn(x, params)`` on every batch of ``loader``, without gradients.

    Images are moved to the device and dtype of ``params[0]``. Prints ``Got k / n correct (xx.xx%)``
    and returns the accuracy k / n.
    """
    device, dtype = params[0].device, params[0].dtype
    num_correct = num_samples = 0
    with torch.no_grad():
        for x, y in loader:
            scores = model_fn(x.to(device=device, dtype=dtype), params)
            num_correct += int((scores.argmax(dim=1).cpu() == y).sum())
            num_samples += y.shape[0]
    return report_accuracy(loader, num_correct, num_samples)


def check_accuracy(loader, model: nn.Module) -> float:
    """The accuracy of ``model`` on every batch of ``loader``, in eval mode and without gradients.

    Images are moved to the device of the model's parameters. Prints ``Got k / n correct (xx.xx%)``
    and returns the accuracy k / n; the model is left in eval mode.
    """
    device = next(model.parameters()).device
    model.eval()
    num_correct = num_samples = 0
    with torch.no_grad():
        for x, y in loader:
            scores = model(x.to(device))
            num_correct += int((scores.argmax(dim=1).cpu() == y).sum())
            num_samples += y.shape[0]
    return report_accuracy(loader, num_correct, num_samples)


def train_functional(model_fn, params: list[torch.Tensor], learning_rate: float, loader_train,
                     loader_val, print_every: int = 100, callback=None) -> list[float]:
    """Train a functional model for one epoch with hand-written SGD; returns the validation accuracies.

    Each iteration: ``loss = F.cross_entropy(model_fn(x, params), y)``, ``loss.backward()``, then
    without gradient tracking ``w -= learning_rate * w.grad`` and ``w.grad.zero_()`` for every
    parameter. Every ``print_every`` iterations (from iteration 0) it prints the loss and checks
    the accuracy on ``loader_val``. Batches are moved to the device and dtype of ``params[0]``.
    ``callback``: see the module docstring.
    """
    device, dtype = params[0].device, params[0].dtype
    val_accs = []
    correct = seen = 0  # over the training batches since the last check
    for t, (x, y) in enumerate(loader_train):
        x, y = x.to(device=device, dtype=dtype), y.to(device)
        scores = model_fn(x, params)
        loss = F.cross_entropy(scores, y)
        loss.backward()
        with torch.no_grad():
            for w in params:
                w -= learning_rate * w.grad
                w.grad.zero_()
        correct, seen = correct + int((scores.argmax(dim=1) == y).sum()), seen + y.shape[0]
        if callback is not None:
            callback(loss=loss.item())
        if t % print_every == 0:
            print(f"Iteration {t}, loss = {loss.item():.4f}")
            val_accs.append(check_accuracy_functional(loader_val, model_fn, params))
            if callback is not None:
                callback(train_acc=correct / seen, val_acc=val_accs[-1])
            correct = seen = 0
            print()
    return val_accs


def train_module(model: nn.Module, optimizer: optim.Optimizer, loader_train, loader_val,
                 epochs: int = 1, print_every: int = 100, callback=None,
                 device=None) -> list[float]:
    """Train an ``nn.Module`` with ``optimizer`` for ``epochs`` epochs; returns the val accuracy after each epoch.

    The model is moved to ``device`` (None: :func:`dl.utils.get_device`) before the optimizer's
    first step. Each iteration: ``model.train()``, ``F.cross_entropy`` of the scores,
    ``optimizer.zero_grad()``, ``loss.backward()``, ``optimizer.step()``. Every ``print_every``
    iterations of each epoch (from iteration 0), and at the end of each epoch, it prints the loss
    and checks the accuracy on ``loader_val`` (:func:`check_accuracy`, in eval mode). ``callback``:
    see the module docstring (it sees every check, the end-of-epoch ones included).
    """
    from dl.utils import get_device

    model.to(get_device() if device is None else device)
    device = next(model.parameters()).device
    epoch_accs = []
    correct = seen = 0  # over the training batches since the last check
    for epoch in range(epochs):
        for t, (x, y) in enumerate(loader_train):
            model.train()
            x, y = x.to(device), y.to(device)
            scores = model(x)
            loss = F.cross_entropy(scores, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            correct, seen = correct + int((scores.detach().argmax(dim=1) == y).sum()), seen + y.shape[0]
            if callback is not None:
                callback(loss=loss.item())
            if t % print_every == 0:
                print(f"Epoch {epoch + 1}, iteration {t}, loss = {loss.item():.4f}")
                acc = check_accuracy(loader_val, model)
                if callback is not None:
                    callback(train_acc=correct / seen, val_acc=acc)
                correct = seen = 0
                print()
        print(f"End of epoch {epoch + 1} / {epochs}")
        epoch_accs.append(check_accuracy(loader_val, model))
        if callback is not None:  # no training batch since the last check: nan, which a plot leaves out
            callback(train_acc=correct / seen if seen else float("nan"), val_acc=epoch_accs[-1])
        correct = seen = 0
    return epoch_accs


def build_challenge_model() -> nn.Module:
    """The CIFAR-10 challenge's model, built from scratch (untrained): ``(N, 3, 32, 32) -> (N, 10)``.

    The reference design: two blocks of [conv 3x3 (padding 1) - batch norm - ReLU - conv 3x3
    (padding 1) - batch norm - ReLU - max-pool 2x2], with 32 then 64 channels, then flatten and
    ``Linear(64 * 8 * 8, 10)``. Batch normalization: Sergey Ioffe and Christian Szegedy, *Batch
    Normalization: Accelerating Deep Network Training by Reducing Internal Covariate Shift*, 2015,
    arXiv:1502.03167.
    """
    ### BEGIN SOLUTION
    def block(in_channels: int, out_channels: int) -> list[nn.Module]:
        return [
            nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
            nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
            nn.MaxPool2d(2),
        ]

    model = nn.Sequential(*block(3, 32), *block(32, 64), Flatten(), nn.Linear(64 * 8 * 8, 10))
    ### END SOLUTION
    return model
