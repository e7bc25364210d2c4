"""Reference models of the course.

The numpy models are imported at once. The torch models are imported on first use of their names
(PEP 562), so that numpy-only code, such as the grading of the numpy notebooks, never imports torch.
"""
from importlib import import_module

from dl.models.cnn import ThreeLayerConvNet
from dl.models.fc_net import FullyConnectedNet

_TORCH_EXPORTS = {
    "SQUEEZENET_MEAN": "dl.models.squeezenet",
    "SQUEEZENET_STD": "dl.models.squeezenet",
    "SqueezeNet": "dl.models.squeezenet",
    "squeezenet1_1": "dl.models.squeezenet",
    "load_published_state": "dl.models.pretrained",
    "write_random_state": "dl.models.pretrained",
}

__all__ = ["FullyConnectedNet", "ThreeLayerConvNet", *_TORCH_EXPORTS]


def __getattr__(name: str):
    if name not in _TORCH_EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_TORCH_EXPORTS[name]), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_TORCH_EXPORTS))
