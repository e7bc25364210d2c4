"""``ThreeLayerConvNet``: a small convolutional classifier built from :mod:`dl.layers` and sandwiches.

The class is inlined into a notebook cell by the build, where the layer functions it calls are the
student's own (or provided); it therefore uses no other module-level name of this file.
"""
from __future__ import annotations

import numpy as np

from dl.layers import affine_backward, affine_forward, softmax_loss
from dl.layer_utils import (
    affine_relu_backward,
    affine_relu_forward,
    conv_relu_pool_backward,
    conv_relu_pool_forward,
)


class ThreeLayerConvNet:
    """Convolutional network ``conv - relu - 2x2 max pool - affine - relu - affine - softmax``.

    The convolution has stride 1 and zero padding ``(filter_size - 1) // 2``, so for an odd
    filter size it keeps the H x W size; the pool (2 x 2, stride 2) halves it.

    Args:
    - input_dim: (C, H, W) of one input image; H and W even. Default (3, 32, 32).
    - num_filters: F, the number of convolution filters. Default 32.
    - filter_size: width and height of each (square, odd-sized) filter. Default 7.
    - hidden_dim: size of the hidden affine layer. Default 100.
    - num_classes: number of classes. Default 10.
    - weight_scale: standard deviation of the normal initialisation of the weights.
    - reg: L2 strength; settable after construction (``model.reg = 0.5``).
    - dtype: dtype of every parameter and of the inputs inside ``loss``; float64 for gradient
      checks.

    Attributes:
    - params: ``W1`` (F, C, filter_size, filter_size) and ``b1`` (F,) of the convolution;
      ``W2`` (F * H / 2 * W / 2, hidden_dim) and ``b2`` (hidden_dim,) of the hidden affine layer;
      ``W3`` (hidden_dim, num_classes) and ``b3`` (num_classes,) of the output layer.
    - reg, dtype: as given.

    Initialisation (reproducible with ``np.random.seed``): ``weight_scale * randn(...)`` for W1,
    W2 and W3, drawn in this order from numpy's global RNG; the biases are zeros; then every
    parameter is cast to dtype. The constructor does not reseed.
    """

    def __init__(
        self,
        input_dim: tuple[int, int, int] = (3, 32, 32),
        num_filters: int = 32,
        filter_size: int = 7,
        hidden_dim: int = 100,
        num_classes: int = 10,
        weight_scale: float = 1e-3,
        reg: float = 0.0,
        dtype=np.float32,
    ):
        self.params: dict[str, np.ndarray] = {}
        self.reg = reg
        self.dtype = dtype

        ### BEGIN SOLUTION
        C, H, W = input_dim
        pooled_size = num_filters * (H // 2) * (W // 2)  # values per image after the 2x2 pool
        self.params["W1"] = weight_scale * np.random.randn(num_filters, C, filter_size, filter_size)
        self.params["b1"] = np.zeros(num_filters)
        self.params["W2"] = weight_scale * np.random.randn(pooled_size, hidden_dim)
        self.params["b2"] = np.zeros(hidden_dim)
        self.params["W3"] = weight_scale * np.random.randn(hidden_dim, num_classes)
        self.params["b3"] = np.zeros(num_classes)
        ### END SOLUTION

        for name, value in self.params.items():
            self.params[name] = value.astype(dtype)

    def loss(self, X: np.ndarray, y: np.ndarray | None = None):
        """Class scores, or the loss and its gradients.

        Inputs:
        - X: images, shape (N, C, H, W).
        - y: labels, shape (N,), or ``None``.

        Returns:
        - if y is None: scores, shape (N, num_classes).
        - otherwise: ``(loss, grads)``, loss a float (softmax loss plus
          ``0.5 * reg * (||W1||^2 + ||W2||^2 + ||W3||^2)``), grads a dict keyed like ``params``
          with arrays of the same shapes.
        """
        X = X.astype(self.dtype)
        W1, b1 = self.params["W1"], self.params["b1"]
        W2, b2 = self.params["W2"], self.params["b2"]
        W3, b3 = self.params["W3"], self.params["b3"]

        filter_size = W1.shape[2]
        conv_param = {"stride": 1, "pad": (filter_size - 1) // 2}
        pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}

        scores = None
        ### BEGIN SOLUTION
        pooled, conv_cache = conv_relu_pool_forward(X, W1, b1, conv_param, pool_param)  # (N, F, H/2, W/2)
        hidden, hidden_cache = affine_relu_forward(pooled, W2, b2)  # (N, hidden_dim)
        scores, scores_cache = affine_forward(hidden, W3, b3)  # (N, num_classes)
        ### END SOLUTION

        if y is None:
            return scores

        loss, grads = 0, {}
        ### BEGIN SOLUTION
        loss, dscores = softmax_loss(scores, y)
        loss += 0.5 * self.reg * sum(float(np.sum(w * w)) for w in (W1, W2, W3))
        dhidden, grads["W3"], grads["b3"] = affine_backward(dscores, scores_cache)
        dpooled, grads["W2"], grads["b2"] = affine_relu_backward(dhidden, hidden_cache)
        _, grads["W1"], grads["b1"] = conv_relu_pool_backward(dpooled, conv_cache)
        grads["W1"] += self.reg * W1
        grads["W2"] += self.reg * W2
        grads["W3"] += self.reg * W3
        ### END SOLUTION
        return loss, grads
