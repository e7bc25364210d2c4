"""``ThreeLayerConvNet``: a small convolutional classifier built from :mod:`dl.layers` and sandwiches.

The class is inlined into a notebook cell by the build, where the layer functions it calls are the
student's own (or provided); it therefore uses no other module-level name of this file.
:func:`save_conv_net` and :func:`load_conv_net` store a trained net as a pickle-free artifact (the
graded one-epoch model).
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from dl import artifacts
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


# ---------------------------------------------------------------------------------------------
# Saving and loading a trained net (pickle-free artifacts)

MAX_SIZE = 1 << 16  # bound on every size in a saved architecture (channels, pixels, filters, units)
MAX_FILTER_SIZE = 31
MAX_PARAMETERS = 1 << 27  # default bound on the total number of parameters of a loaded net
_PARAM_NAMES = ("W1", "b1", "W2", "b2", "W3", "b3")


def _architecture_problem(meta: dict, max_parameters: int) -> str | None:
    """Why ``meta`` is not a ThreeLayerConvNet architecture this module can build, or None."""
    def size(value) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_SIZE

    if not isinstance(meta, dict) or meta.get("model") != "ThreeLayerConvNet":
        return "it does not describe a ThreeLayerConvNet"
    input_dim = meta.get("input_dim")
    sizes = [meta.get(key) for key in ("num_filters", "filter_size", "hidden_dim", "num_classes")]
    if not (isinstance(input_dim, list) and len(input_dim) == 3 and all(map(size, input_dim)) and all(map(size, sizes))):
        return (f"malformed architecture: input_dim {input_dim!r}, num_filters, filter_size, hidden_dim, num_classes {sizes!r} "
                f"(expected positive ints up to {MAX_SIZE}, input_dim a list [C, H, W])")
    C, H, W = input_dim
    F, fs, hidden, classes = sizes
    if H % 2 or W % 2:
        return f"input_dim {input_dim} has an odd height or width; the 2x2 pool needs even ones"
    if fs % 2 == 0 or fs > MAX_FILTER_SIZE:
        return f"filter_size {fs} is not an odd number up to {MAX_FILTER_SIZE}"
    count = F * C * fs * fs + F + F * (H // 2) * (W // 2) * hidden + hidden + hidden * classes + classes
    if count > max_parameters:
        return f"the architecture has {count} parameters, more than the limit of {max_parameters}"
    if meta.get("dtype") not in ("float32", "float64"):
        return f"dtype {meta.get('dtype')!r} is not float32 or float64"
    return None


def _expected_shapes(meta: dict) -> dict[str, tuple[int, ...]]:
    C, H, W = meta["input_dim"]
    F, fs, hidden, classes = (meta[key] for key in ("num_filters", "filter_size", "hidden_dim", "num_classes"))
    return {"W1": (F, C, fs, fs), "b1": (F,), "W2": (F * (H // 2) * (W // 2), hidden), "b2": (hidden,),
            "W3": (hidden, classes), "b3": (classes,)}


def _arrays_problem(arrays: dict, shapes: dict) -> str | None:
    """Why ``arrays`` are not the parameters of shapes ``shapes``, or None."""
    missing, unexpected = sorted(set(shapes) - set(arrays)), sorted(set(arrays) - set(shapes))
    if missing or unexpected:
        return f"missing arrays {missing}, unexpected arrays {unexpected}"
    for key, shape in shapes.items():
        array = arrays[key]
        if array.dtype.kind not in "fiu":
            return f"{key} has dtype {array.dtype}; expected real numbers"
        if array.shape != shape:
            return f"{key} has shape {array.shape}, expected {shape}"
    return None


def save_conv_net(name: str, model, directory: str | os.PathLike = artifacts.DEFAULT_DIR, *,
                  input_dim: tuple[int, int, int] | None = None) -> Path:
    """Save a trained :class:`ThreeLayerConvNet` (or one with the same attributes) as artifact ``name``.

    The ``.npz`` holds the six parameters; the JSON holds the architecture (input_dim,
    num_filters, filter_size, hidden_dim, num_classes, dtype). The model does not record the
    image size: give ``input_dim`` (C, H, W), or leave it None for square images, whose size
    W2's shape then gives. Returns the ``.npz`` path.

    Raises ``ValueError`` (before writing anything) when the parameters do not fit one
    architecture, e.g. W2's rows are not ``num_filters * H/2 * W/2``.
    """
    params = {key: np.asarray(value) for key, value in model.params.items()}
    W1, W2, W3 = (params.get(key) for key in ("W1", "W2", "W3"))
    if W1 is None or W2 is None or W3 is None or W1.ndim != 4 or W2.ndim != 2 or W3.ndim != 2:
        raise ValueError(f"cannot save {name!r}: model.params needs W1 (F, C, fs, fs), W2 (rows, hidden) and W3 (hidden, classes)")
    F, C, fs = (int(d) for d in W1.shape[:3])
    if input_dim is None:
        side = math.isqrt(W2.shape[0] // F) if F else 0
        if F == 0 or F * side * side != W2.shape[0]:
            raise ValueError(f"cannot save {name!r}: the image size does not follow from W1 {W1.shape} and W2 {W2.shape}; "
                             f"pass input_dim=(C, H, W)")
        input_dim = (C, 2 * side, 2 * side)
    meta = {
        "model": "ThreeLayerConvNet",
        "input_dim": [int(d) for d in input_dim],
        "num_filters": F,
        "filter_size": fs,
        "hidden_dim": int(W2.shape[1]),
        "num_classes": int(W3.shape[1]),
        "dtype": np.dtype(model.dtype).name,
    }
    problem = _architecture_problem(meta, MAX_PARAMETERS) or _arrays_problem(params, _expected_shapes(meta))
    if problem:
        raise ValueError(f"cannot save {name!r}: {problem}")
    return artifacts.save(name, directory=directory, meta=meta, **params)


def load_conv_net(name: str, directory: str | os.PathLike = artifacts.DEFAULT_DIR, *,
                  max_parameters: int = MAX_PARAMETERS, max_bytes: int | None = None) -> ThreeLayerConvNet:
    """Rebuild a reference :class:`ThreeLayerConvNet` from artifact ``name`` (never runs saved code).

    ``max_bytes`` bounds the memory of the saved arrays (:func:`dl.artifacts.load`). The
    architecture is validated (sizes bounded, at most ``max_parameters`` parameters, odd
    filter size, even image size, dtype float32 or float64) before anything is built. Numpy's
    global random state is left as it was. Raises ``FileNotFoundError`` naming a missing file
    and ``ValueError`` naming the artifact when it is malformed or a saved array is missing,
    unexpected, not real-valued or of the wrong shape.
    """
    arrays, meta = artifacts.load(name, directory=directory, max_bytes=max_bytes)

    def fail(problem: str):
        raise ValueError(f"artifact {name!r} in {directory}: {problem}; save the model again with save_conv_net")

    problem = _architecture_problem(meta, max_parameters)
    if problem:
        fail(problem)
    shapes = _expected_shapes(meta)
    problem = _arrays_problem(arrays, shapes)
    if problem:
        fail(problem)
    state = np.random.get_state()
    try:
        model = ThreeLayerConvNet(input_dim=tuple(meta["input_dim"]), num_filters=meta["num_filters"], filter_size=meta["filter_size"],
                                  hidden_dim=meta["hidden_dim"], num_classes=meta["num_classes"], dtype=np.dtype(meta["dtype"]).type)
    finally:
        np.random.set_state(state)
    for key in _PARAM_NAMES:
        model.params[key] = arrays[key].astype(model.dtype)
    return model
