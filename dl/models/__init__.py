"""Reference models of the course."""
from dl.models.cnn import ThreeLayerConvNet
from dl.models.fc_net import FullyConnectedNet

__all__ = ["FullyConnectedNet", "ThreeLayerConvNet"]
