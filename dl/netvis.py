"""Looking inside a trained image classifier through gradients with respect to its input image.

Three techniques (CURRICULUM §4.2), each a few lines of autograd on a frozen network:

- **Saliency maps** (Karen Simonyan, Andrea Vedaldi and Andrew Zisserman, "Deep Inside
  Convolutional Networks: Visualising Image Classification Models and Saliency Maps", 2013,
  arXiv:1312.6034): how much each pixel changes the correct class's score.
- **Fooling images** (Christian Szegedy, Wojciech Zaremba, Ilya Sutskever, Joan Bruna, Dumitru
  Erhan, Ian Goodfellow and Rob Fergus, "Intriguing properties of neural networks", 2013,
  arXiv:1312.6199): an imperceptible change that makes the network predict any class we choose.
- **Class visualisation** (Simonyan et al. above; the jitter, clamping and blur regularisers of
  Jason Yosinski, Jeff Clune, Anh Nguyen, Thomas Fuchs and Hod Lipson, "Understanding Neural
  Networks Through Deep Visualization", 2015, arXiv:1506.06579): an image that the network scores
  highly for one class, found by gradient ascent on the image.

Images are normalised tensors (N, 3, H, W) as :func:`preprocess` makes them: RGB in [0, 1] less
:data:`~dl.models.squeezenet.SQUEEZENET_MEAN`, divided by ``SQUEEZENET_STD``. Every function takes
any ``model`` mapping (N, 3, H, W) to class scores (N, C), and calls ``model.eval()`` first
(SqueezeNet's classifier contains dropout).

Graded units: :func:`compute_saliency_maps`, :func:`make_fooling_image`,
:func:`class_visualization_update_step`. The rest is provided; :class:`SmallConvNet` is the tiny
random network of the notebook's checks and of the grader's (its name must be in the notebook's
namespace: the setup cell imports it).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dl.data.transforms import Compose, Normalize, Resize, ToTensor
from dl.models.squeezenet import SQUEEZENET_MEAN, SQUEEZENET_STD

BLUR_TRUNCATE = 4.0  # the Gaussian kernel of blur_image reaches this many sigmas from its centre


# ------------------------------------------------------------------------------------------------
# Graded units


def compute_saliency_maps(X: torch.Tensor, y: torch.Tensor, model: nn.Module) -> torch.Tensor:
    """Saliency of each pixel: the largest absolute gradient, over the colour channels, of the
    correct class's *unnormalised* score with respect to that pixel.

    Args:
    - X: images, float tensor (N, 3, H, W) (not modified).
    - y: labels, int64 tensor (N,): the correct class of each image.
    - model: a network mapping (N, 3, H, W) to scores (N, C).

    Returns: saliency, tensor (N, H, W) of X's dtype.
    """
    ### BEGIN SOLUTION
    model.eval()
    X = X.detach().clone().requires_grad_(True)
    scores = model(X)  # (N, C)
    correct = scores.gather(1, y.view(-1, 1)).squeeze(1)  # (N,)
    correct.sum().backward()  # image i's score depends on image i only
    saliency = X.grad.abs().max(dim=1).values  # (N, H, W)
    ### END SOLUTION
    return saliency


def make_fooling_image(X: torch.Tensor, target_y: int, model: nn.Module,
                       max_iterations: int = 100) -> torch.Tensor:
    """An image close to ``X`` that ``model`` classifies as ``target_y``.

    Starting from a copy of ``X``, repeat at most ``max_iterations`` times: compute the scores;
    stop as soon as the predicted class is ``target_y``; otherwise take one normalised gradient
    ascent step on the target class's (unnormalised) score, ``X += lr * g / ||g||_2`` with
    ``lr = 1`` (``g`` its gradient with respect to the image, ``||g||_2`` the L2 norm of all of
    ``g``), and zero the gradient. Where ``g`` is zero (the target's score is flat there, as
    behind a ReLU that is off everywhere: SqueezeNet's scores are ReLUs), no step can raise the
    score: stop and return the image as it is (dividing by ``||g||_2 = 0`` would fill it with nan).

    Args:
    - X: one image, tensor (1, 3, H, W) (not modified).
    - target_y: the class to fool the model into predicting, an int in [0, C).
    - model: a network mapping (N, 3, H, W) to scores (N, C).
    - max_iterations: the most steps taken (smoke mode takes fewer).

    Returns: the fooling image, a tensor (1, 3, H, W) without gradient (``requires_grad`` False).
    """
    X_fooling = X.detach().clone().requires_grad_(True)
    learning_rate = 1
    ### BEGIN SOLUTION
    model.eval()
    for _ in range(max_iterations):
        scores = model(X_fooling)  # (1, C)
        if scores.argmax(dim=1).item() == target_y:
            break
        scores[0, target_y].backward()
        with torch.no_grad():
            g = X_fooling.grad
            norm = g.norm()
            if norm == 0:  # a flat score: no direction raises it
                break
            X_fooling += learning_rate * g / norm
        X_fooling.grad.zero_()
    ### END SOLUTION
    return X_fooling.detach()


def class_visualization_update_step(img: torch.Tensor, model: nn.Module, target_y: int,
                                    l2_reg: float, learning_rate: float) -> None:
    """One step of gradient ascent on ``img`` for the objective ``s_y(img) - l2_reg * ||img||_2^2``,
    where ``s_y`` is the *unnormalised* score of class ``target_y`` (not a log-probability) and
    ``||img||_2^2`` the sum of the squares of all of img's values.

    Updates ``img`` in place with a normalised step, ``img.data += learning_rate * g / ||g||_2``
    (``g`` the objective's gradient with respect to ``img``), then zeroes ``img.grad``.

    Args:
    - img: the image, a leaf tensor (1, 3, H, W) with ``requires_grad=True``.
    - model: a network mapping (N, 3, H, W) to scores (N, C).
    - target_y: the class to visualise, an int in [0, C).
    - l2_reg: strength of the L2 penalty on the image.
    - learning_rate: length of the step.

    Returns: nothing (``img`` is updated in place).
    """
    ### BEGIN SOLUTION
    model.eval()
    objective = model(img)[0, target_y] - l2_reg * img.pow(2).sum()
    objective.backward()
    g = img.grad
    img.data += learning_rate * g / g.norm()
    img.grad.zero_()
    ### END SOLUTION


# ------------------------------------------------------------------------------------------------
# Provided helpers


def preprocess(image, size: int = 224) -> torch.Tensor:
    """A PIL image or uint8 array (H, W, 3) as the network's input: the shorter side resized to
    ``size``, scaled to [0, 1] and normalised per channel; float32 (1, 3, H', W')."""
    transform = Compose([Resize(size), ToTensor(), Normalize(SQUEEZENET_MEAN, SQUEEZENET_STD)])
    return transform(image).unsqueeze(0)


def rescale(x: torch.Tensor) -> torch.Tensor:
    """``x`` min-max scaled to [0, 1] (a constant ``x`` becomes zeros)."""
    low, high = x.min(), x.max()
    return (x - low) / (high - low) if high > low else torch.zeros_like(x)


def deprocess(img: torch.Tensor, should_rescale: bool = True):
    """The first image of a normalised batch (N, 3, H, W) as a PIL image: the normalisation undone,
    min-max rescaled when ``should_rescale`` (to see a faint image, such as a difference), clamped
    to [0, 1]."""
    from PIL import Image

    x = img[0].detach().cpu().float()
    mean = torch.tensor(SQUEEZENET_MEAN).view(3, 1, 1)
    std = torch.tensor(SQUEEZENET_STD).view(3, 1, 1)
    x = x * std + mean
    if should_rescale:
        x = rescale(x)
    pixels = (x.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    return Image.fromarray(np.ascontiguousarray(pixels))


def jitter(X: torch.Tensor, ox: int, oy: int) -> torch.Tensor:
    """``X`` (N, C, H, W) shifted circularly by ``ox`` pixels along W and ``oy`` along H (a new
    tensor; ``jitter(jitter(X, ox, oy), -ox, -oy)`` is ``X``)."""
    return torch.roll(X, shifts=(int(oy), int(ox)), dims=(2, 3))


def gaussian_kernel1d(sigma: float, truncate: float = BLUR_TRUNCATE) -> torch.Tensor:
    """The normalised 1-D Gaussian of standard deviation ``sigma``, radius ``int(truncate * sigma +
    0.5)``: float64 (2 * radius + 1,)."""
    if sigma <= 0:
        raise ValueError(f"sigma must be positive; got {sigma}")
    radius = int(truncate * sigma + 0.5)
    t = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kernel = torch.exp(-0.5 * (t / sigma) ** 2)
    return kernel / kernel.sum()


def blur_image(X: torch.Tensor, sigma: float = 1) -> torch.Tensor:
    """Blur ``X`` (N, C, H, W) **in place** with a Gaussian of standard deviation ``sigma``: one 1-D
    pass along H, one along W, the kernel truncated at 4 sigma, borders mirrored (reflect padding,
    the edge pixel not repeated; needs H and W larger than the radius). Returns ``X``."""
    kernel = gaussian_kernel1d(sigma).to(X.device, X.dtype)
    radius = len(kernel) // 2
    if radius == 0:
        return X
    N, C, H, W = X.shape
    if min(H, W) <= radius:
        raise ValueError(f"blur_image with sigma={sigma} needs images larger than {radius} pixels; got {H}x{W}")
    with torch.no_grad():
        out = X.reshape(N * C, 1, H, W)
        out = F.conv2d(F.pad(out, (0, 0, radius, radius), mode="reflect"), kernel.view(1, 1, -1, 1))  # along H
        out = F.conv2d(F.pad(out, (radius, radius, 0, 0), mode="reflect"), kernel.view(1, 1, 1, -1))  # along W
        X.copy_(out.view(N, C, H, W))
    return X


def create_class_visualization(
    target_y: int, model: nn.Module, device, dtype=torch.float32, l2_reg: float = 1e-3,
    learning_rate: float = 25, num_iterations: int = 100, blur_every: int = 10, max_jitter: int = 16,
    show_every: int = 25, generator: torch.Generator | None = None,
    callback=None, class_name: str | None = None, size: int = 224,
):
    """An image that ``model`` scores highly for class ``target_y``, by regularised gradient ascent.

    Starts from ``randn(1, 3, size, size)`` (drawn from ``generator``, or torch's global generator).
    Each iteration t = 0, 1, ...: draw ``ox, oy`` in [0, ``max_jitter``], jitter the image by them,
    take one :func:`class_visualization_update_step` (in the notebook, the student's: this function
    is a provided cell there), jitter back, clamp each channel to the values of [0, 1] pixels after
    normalisation, and blur with sigma 0.5 when ``t % blur_every == 0``.

    Shows the image at t = 0, every ``show_every`` iterations and at the end: ``callback(img, t)``
    with ``img`` the current image (1, 3, size, size) and ``t`` the iterations done (1, 2, ...);
    without a callback, a matplotlib figure titled ``'<class_name>\\nIteration t / N'``.

    Returns: the final image, deprocessed (a PIL image).
    """
    model.to(device=device, dtype=dtype).eval()
    img = torch.randn(1, 3, size, size, generator=generator).to(device=device, dtype=dtype).requires_grad_(True)
    low = [-m / s for m, s in zip(SQUEEZENET_MEAN, SQUEEZENET_STD)]
    high = [(1 - m) / s for m, s in zip(SQUEEZENET_MEAN, SQUEEZENET_STD)]
    title = class_name or f"class {target_y}"

    def show_figure(image: torch.Tensor, t: int) -> None:
        import matplotlib.pyplot as plt

        plt.figure(figsize=(4, 4))
        plt.imshow(deprocess(image.cpu()))
        plt.title(f"{title}\nIteration {t} / {num_iterations}")
        plt.axis("off")
        plt.show()

    show = callback or show_figure
    for t in range(num_iterations):
        ox, oy = (int(v) for v in torch.randint(0, max_jitter + 1, (2,), generator=generator))
        img.data.copy_(jitter(img.data, ox, oy))
        class_visualization_update_step(img, model, target_y, l2_reg, learning_rate)
        img.data.copy_(jitter(img.data, -ox, -oy))
        for c in range(3):
            img.data[:, c].clamp_(min=low[c], max=high[c])
        if t % blur_every == 0:
            blur_image(img.data, sigma=0.5)
        if t == 0 or (t + 1) % show_every == 0 or t == num_iterations - 1:
            show(img.data, t + 1)
    return deprocess(img.data.cpu())


# ------------------------------------------------------------------------------------------------
# The tiny random network of the checks


class SmallConvNet(nn.Module):
    """A tiny classifier with SqueezeNet's traps: batch normalisation and dropout behave
    differently in training mode, so code that forgets ``model.eval()`` computes other scores.

    conv 3x3 (3 -> ``channels``, padding 1) -> batch norm -> ReLU -> conv 3x3 (padding 1) -> ReLU
    -> dropout -> average pool to 4x4 -> flatten -> linear (``16 * channels`` -> ``num_classes``).
    ``forward``: (N, 3, H, W) -> scores (N, ``num_classes``), any H, W >= 4.
    """

    def __init__(self, channels: int = 8, num_classes: int = 10, dropout: float = 0.5):
        super().__init__()
        self.conv1 = nn.Conv2d(3, channels, 3, padding=1)
        self.bn = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(16 * channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn(self.conv1(x)))
        x = self.dropout(torch.relu(self.conv2(x)))
        return self.fc(F.adaptive_avg_pool2d(x, 4).flatten(1))


def random_small_conv_net(seed: int, score_scale: float = 1.0, dtype=torch.float32, **kwargs) -> SmallConvNet:
    """A :class:`SmallConvNet` (``kwargs`` its constructor's) in eval mode with every parameter and
    batch-norm statistic drawn from a generator seeded with ``seed`` (independent of the global
    RNG). ``score_scale`` multiplies the last layer, so that score gradients are far from unit
    length (a step that forgets to normalise then goes far too far or too short)."""
    model = SmallConvNet(**kwargs)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if name.endswith("num_batches_tracked"):
                continue
            values = torch.randn(tensor.shape, generator=generator, dtype=torch.float64)
            if name == "bn.running_var" or name == "bn.weight":
                values = 0.5 + values.abs()
            elif name.endswith("weight") and tensor.ndim > 1:  # conv and linear: unit gain per layer
                values = values / (tensor[0].numel() ** 0.5) * (score_scale if name.startswith("fc") else 1.0)
            elif name.endswith("bias"):
                values = 0.1 * values
            tensor.copy_(values.to(tensor.dtype))
    return model.to(dtype).eval()


def top_classes(scores: torch.Tensor, class_names: Sequence[str], k: int = 5) -> list[tuple[str, float]]:
    """The ``k`` best classes of one image's scores (C,) as (name, softmax probability) pairs."""
    probabilities = torch.softmax(scores.detach().double(), dim=0)
    values, indices = probabilities.topk(k)
    return [(class_names[i], float(p)) for p, i in zip(values, indices)]
