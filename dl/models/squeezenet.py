"""SqueezeNet 1.1, whose state dict has the keys and shapes of the published ImageNet weights.

SqueezeNet: "SqueezeNet: AlexNet-level accuracy with 50x fewer parameters and <0.5MB model size",
Iandola, Han, Moskewicz, Ashraf, Dally and Keutzer, 2016, arXiv:1602.07360. Its building block, the
Fire module, *squeezes* the channels with 1×1 convolutions, then *expands* them again with 1×1 and
3×3 convolutions side by side. Version 1.1 (published by the same authors after the paper) starts
with a 3×3 convolution of 64 filters and pools earlier, which needs about 2.4 times less
computation than version 1.0 at the same accuracy.

Layout (CURRICULUM §8): ``features`` and ``classifier`` are ``nn.Sequential`` whose indices are
the published ones, so ``squeezenet1_1-b8a52dc0.pth`` loads with ``strict=True``::

    features.0   Conv 3→64, 3×3, stride 2        features.7   Fire(256, 32, 128, 128)
    features.1   ReLU                            features.8   MaxPool
    features.2   MaxPool 3×3, stride 2, ceil     features.9   Fire(256, 48, 192, 192)
    features.3   Fire(64, 16, 64, 64)            features.10  Fire(384, 48, 192, 192)
    features.4   Fire(128, 16, 64, 64)           features.11  Fire(384, 64, 256, 256)
    features.5   MaxPool                         features.12  Fire(512, 64, 256, 256)
    features.6   Fire(128, 32, 128, 128)
    classifier.0 Dropout(0.5) → classifier.1 Conv 512→1000, 1×1 → classifier.2 ReLU
                 → classifier.3 global average pool → flatten to (N, 1000)

1,235,496 parameters. Inputs are RGB images scaled to [0, 1] and normalised per channel with
:data:`SQUEEZENET_MEAN` and :data:`SQUEEZENET_STD` (the ImageNet statistics the weights were
trained with).
"""
from __future__ import annotations

import os

import torch
from torch import nn

from dl.models.pretrained import load_weights

SQUEEZENET_MEAN = (0.485, 0.456, 0.406)  # per RGB channel, for images in [0, 1]
SQUEEZENET_STD = (0.229, 0.224, 0.225)
REGISTRY_NAME = "squeezenet1_1"  # the weights' entry in dl/data/download/registry.py


class Fire(nn.Module):
    """Fire module: ReLU(1×1 squeeze conv), then ReLU(1×1 expand) and ReLU(3×3 expand, padding 1)
    side by side, concatenated on channels.

    (N, in_channels, H, W) -> (N, expand1x1 + expand3x3, H, W).
    """

    def __init__(self, in_channels: int, squeeze: int, expand1x1: int, expand3x3: int):
        super().__init__()
        self.squeeze = nn.Conv2d(in_channels, squeeze, kernel_size=1)
        self.expand1x1 = nn.Conv2d(squeeze, expand1x1, kernel_size=1)
        self.expand3x3 = nn.Conv2d(squeeze, expand3x3, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = torch.relu(self.squeeze(x))  # (N, squeeze, H, W)
        return torch.cat([torch.relu(self.expand1x1(s)), torch.relu(self.expand3x3(s))], dim=1)


def _pool() -> nn.MaxPool2d:
    return nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True)


class SqueezeNet(nn.Module):
    """SqueezeNet 1.1 (layout in the module docstring); ``forward``: (N, 3, H, W) -> scores
    (N, num_classes), non-negative (a ReLU precedes the average pool). For 224×224 inputs the
    feature map is 13×13 before the pool. ``dropout`` is the drop probability of the classifier.
    Parameters use PyTorch's default initialisation.
    """

    def __init__(self, num_classes: int = 1000, dropout: float = 0.5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=3, stride=2),
            nn.ReLU(),
            _pool(),
            Fire(64, 16, 64, 64),
            Fire(128, 16, 64, 64),
            _pool(),
            Fire(128, 32, 128, 128),
            Fire(256, 32, 128, 128),
            _pool(),
            Fire(256, 48, 192, 192),
            Fire(384, 48, 192, 192),
            Fire(384, 64, 256, 256),
            Fire(512, 64, 256, 256),
        )
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout),
            nn.Conv2d(512, num_classes, kernel_size=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)  # (N, 512, H', W')
        return torch.flatten(self.classifier(x), 1)  # (N, num_classes, 1, 1) -> (N, num_classes)


def squeezenet1_1(weights: str | os.PathLike | None = None) -> SqueezeNet:
    """SqueezeNet 1.1 for the 1000 ImageNet classes, in training mode (call ``.eval()`` to use it).

    ``weights``: ``None`` keeps the random initialisation; a path loads that state-dict file;
    ``"default"`` loads the published weights (``squeezenet1_1-b8a52dc0.pth`` in the data folder,
    downloaded if missing; ``python -m dl.data.download squeezenet1_1`` fetches it ahead of time),
    or, in smoke mode (``DL_SMOKE=1``), random weights in the same layout. Files are read by
    :func:`dl.models.pretrained.load_published_state`.
    """
    return load_weights(SqueezeNet(), weights, REGISTRY_NAME)
