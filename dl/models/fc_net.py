"""``FullyConnectedNet``: a fully connected classifier of any depth, built from :mod:`dl.layers`.

The class is inlined into a notebook cell by the build, where the layer functions it calls are the
student's own; it therefore uses no other module-level name of this file. :func:`save_fc_net` and
:func:`load_fc_net` store a trained net as a pickle-free artifact (the graded best model).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from dl import artifacts
from dl.layers import affine_backward, affine_forward, dropout_backward, dropout_forward, softmax_loss
from dl.layer_utils import (
    affine_norm_relu_backward,
    affine_norm_relu_forward,
    affine_relu_backward,
    affine_relu_forward,
)


class FullyConnectedNet:
    """Fully connected network ``{affine - [norm] - relu - [dropout]} x (L - 1) - affine - softmax``.

    L = ``len(hidden_dims) + 1`` affine layers. The optional normalization and dropout layers sit
    in every hidden block, never after the last affine.

    Args:
    - hidden_dims: sizes H_1, ..., H_{L-1} of the hidden layers (may be empty: softmax regression).
    - input_dim: D, the size of one flattened input. Default 3 * 32 * 32.
    - num_classes: C. Default 10.
    - dropout_keep_ratio: probability of keeping a unit in dropout; 1 means no dropout.
    - normalization: ``None``, ``'batchnorm'`` or ``'layernorm'``.
    - reg: L2 strength; the loss adds ``0.5 * reg * sum_i ||W_i||^2`` (weights only).
    - weight_scale: standard deviation of the normal initialisation of the weights.
    - dtype: dtype of every parameter and of the inputs inside ``loss``; float64 for gradient
      checks, float32 for fast training.
    - seed: if given, every dropout layer calls ``np.random.seed(seed)`` before drawing its
      mask, so the masks are reproducible; this also resets numpy's global RNG at every
      ``loss`` call (see :func:`dl.layers.dropout_forward`).

    Attributes:
    - params: dict with ``W1..WL`` (W_i of shape (in_i, out_i), in_1 = D, out_L = C) and
      ``b1..bL`` (b_i of shape (out_i,)); with normalization also ``gamma1..gamma{L-1}`` and
      ``beta1..beta{L-1}`` of shape (H_i,).
    - dropout_param: ``{'mode': 'train', 'p': dropout_keep_ratio}`` (plus ``'seed'``), only
      present when dropout is used; one dict shared by every dropout layer.
    - bn_params: one dict per hidden layer (``{'mode': 'train'}`` for batchnorm, ``{}`` for
      layernorm), empty list without normalization.

    Initialisation (reproducible with ``np.random.seed``): ``W_i = weight_scale * randn(in_i,
    out_i)`` drawn in the order W1, W2, ..., WL from numpy's global RNG; biases and betas are
    zeros and gammas ones (they draw no random numbers); then every parameter is cast to dtype.
    The constructor does not reseed.
    """

    def __init__(
        self,
        hidden_dims: list[int],
        input_dim: int = 3 * 32 * 32,
        num_classes: int = 10,
        dropout_keep_ratio: float = 1,
        normalization: str | None = None,
        reg: float = 0.0,
        weight_scale: float = 1e-2,
        dtype=np.float32,
        seed: int | None = None,
    ):
        if normalization not in (None, "batchnorm", "layernorm"):
            raise ValueError(f"normalization must be None, 'batchnorm' or 'layernorm', got {normalization!r}")
        if not 0 < dropout_keep_ratio <= 1:
            raise ValueError(f"dropout_keep_ratio must be in (0, 1], got {dropout_keep_ratio}")
        self.normalization = normalization
        self.use_dropout = dropout_keep_ratio != 1
        self.reg = reg
        self.num_layers = 1 + len(hidden_dims)
        self.dtype = dtype
        self.params: dict[str, np.ndarray] = {}

        ### BEGIN SOLUTION
        dims = [input_dim, *hidden_dims, num_classes]
        for i in range(1, self.num_layers + 1):
            self.params[f"W{i}"] = weight_scale * np.random.randn(dims[i - 1], dims[i])
            self.params[f"b{i}"] = np.zeros(dims[i])
        ### END SOLUTION
        if self.normalization is not None:  # complete in BatchNormalization
            ### BEGIN SOLUTION
            for i, dim in enumerate(hidden_dims, start=1):
                self.params[f"gamma{i}"] = np.ones(dim)
                self.params[f"beta{i}"] = np.zeros(dim)
            ### END SOLUTION

        self.dropout_param: dict = {}
        if self.use_dropout:
            self.dropout_param = {"mode": "train", "p": dropout_keep_ratio}
            if seed is not None:
                self.dropout_param["seed"] = seed
        self.bn_params: list[dict] = []
        if normalization == "batchnorm":
            self.bn_params = [{"mode": "train"} for _ in range(self.num_layers - 1)]
        elif normalization == "layernorm":
            self.bn_params = [{} for _ in range(self.num_layers - 1)]

        for name, value in self.params.items():
            self.params[name] = value.astype(dtype)

    def loss(self, X: np.ndarray, y: np.ndarray | None = None):
        """Class scores, or the loss and its gradients.

        Inputs:
        - X: data, shape (N, d_1, ..., d_k) with d_1 * ... * d_k = input_dim.
        - y: labels, shape (N,), or ``None``.

        Sets the mode (``'test'`` when y is None, else ``'train'``) of ``dropout_param`` and of
        every batchnorm dict in ``bn_params``; batchnorm in train mode writes its running
        statistics into those dicts.

        Returns:
        - if y is None (test mode): scores, shape (N, C).
        - otherwise (train mode): ``(loss, grads)``, loss a float (softmax loss plus L2 penalty),
          grads a dict keyed like ``params`` with arrays of the same shapes.
        """
        X = X.astype(self.dtype)
        mode = "test" if y is None else "train"
        if self.use_dropout:
            self.dropout_param["mode"] = mode
        if self.normalization == "batchnorm":
            for bn_param in self.bn_params:
                bn_param["mode"] = mode

        L = self.num_layers
        caches = {}
        h = X
        for i in range(1, L):
            if self.normalization is None:
                ### BEGIN SOLUTION
                h, caches[f"hidden{i}"] = affine_relu_forward(h, self.params[f"W{i}"], self.params[f"b{i}"])
                ### END SOLUTION
            else:  # complete in BatchNormalization
                ### BEGIN SOLUTION
                h, caches[f"hidden{i}"] = affine_norm_relu_forward(
                    h, self.params[f"W{i}"], self.params[f"b{i}"], self.params[f"gamma{i}"],
                    self.params[f"beta{i}"], self.bn_params[i - 1], self.normalization,
                )
                ### END SOLUTION
            if self.use_dropout:  # complete in Dropout
                ### BEGIN SOLUTION
                h, caches[f"dropout{i}"] = dropout_forward(h, self.dropout_param)
                ### END SOLUTION
        ### BEGIN SOLUTION
        scores, caches[f"affine{L}"] = affine_forward(h, self.params[f"W{L}"], self.params[f"b{L}"])
        ### END SOLUTION

        if mode == "test":
            return scores

        grads: dict[str, np.ndarray] = {}
        ### BEGIN SOLUTION
        loss, dscores = softmax_loss(scores, y)
        weights = [self.params[f"W{i}"] for i in range(1, L + 1)]
        loss += 0.5 * self.reg * sum(float(np.sum(w * w)) for w in weights)
        dh, grads[f"W{L}"], grads[f"b{L}"] = affine_backward(dscores, caches[f"affine{L}"])
        ### END SOLUTION
        for i in range(L - 1, 0, -1):
            if self.use_dropout:  # complete in Dropout
                ### BEGIN SOLUTION
                dh = dropout_backward(dh, caches[f"dropout{i}"])
                ### END SOLUTION
            if self.normalization is None:
                ### BEGIN SOLUTION
                dh, grads[f"W{i}"], grads[f"b{i}"] = affine_relu_backward(dh, caches[f"hidden{i}"])
                ### END SOLUTION
            else:  # complete in BatchNormalization
                ### BEGIN SOLUTION
                dh, grads[f"W{i}"], grads[f"b{i}"], grads[f"gamma{i}"], grads[f"beta{i}"] = affine_norm_relu_backward(
                    dh, caches[f"hidden{i}"]
                )
                ### END SOLUTION
        ### BEGIN SOLUTION
        for i in range(1, L + 1):
            grads[f"W{i}"] += self.reg * self.params[f"W{i}"]
        ### END SOLUTION
        return loss, grads


MAX_LAYER_SIZE = 1 << 16


def save_fc_net(name: str, model, directory: str | os.PathLike = artifacts.DEFAULT_DIR) -> Path:
    """Save a trained :class:`FullyConnectedNet` (or one with the same attributes) as artifact ``name``.

    The ``.npz`` holds every parameter and, for batchnorm, each layer's running statistics as
    ``bn<i>_running_mean`` / ``bn<i>_running_var``; the JSON holds the architecture (input_dim,
    hidden_dims, num_classes, normalization, dropout_keep_ratio, dtype). Returns the ``.npz`` path.
    """
    L = model.num_layers
    weights = [np.asarray(model.params[f"W{i}"]) for i in range(1, L + 1)]
    meta = {
        "model": "FullyConnectedNet",
        "input_dim": int(weights[0].shape[0]),
        "hidden_dims": [int(w.shape[1]) for w in weights[:-1]],
        "num_classes": int(weights[-1].shape[1]),
        "normalization": model.normalization,
        "dropout_keep_ratio": float(model.dropout_param["p"]) if model.use_dropout else 1.0,
        "dtype": np.dtype(model.dtype).name,
    }
    arrays = {key: np.asarray(value) for key, value in model.params.items()}
    for i, bn_param in enumerate(model.bn_params, start=1):
        for stat in ("running_mean", "running_var"):
            if stat in bn_param:
                arrays[f"bn{i}_{stat}"] = np.asarray(bn_param[stat])
    return artifacts.save(name, directory=directory, meta=meta, **arrays)


def load_fc_net(name: str, directory: str | os.PathLike = artifacts.DEFAULT_DIR, *, max_bytes: int | None = None) -> FullyConnectedNet:
    """Rebuild a reference :class:`FullyConnectedNet` from artifact ``name`` (never runs saved code).

    ``max_bytes`` bounds the memory of the saved arrays (:func:`dl.artifacts.load`). Raises
    ``ValueError`` naming the artifact when the architecture is malformed or a saved array is
    missing, unexpected or of the wrong shape.
    """
    arrays, meta = artifacts.load(name, directory=directory, max_bytes=max_bytes)

    def fail(problem: str):
        raise ValueError(f"artifact {name!r} in {directory}: {problem}; save the model again with save_fc_net")

    dims = [meta.get("input_dim"), *meta.get("hidden_dims", [None]), meta.get("num_classes")]
    if meta.get("model") != "FullyConnectedNet" or not all(isinstance(d, int) and 0 < d <= MAX_LAYER_SIZE for d in dims):
        fail(f"malformed architecture {dims}")
    dtype = meta.get("dtype")
    if dtype not in ("float32", "float64"):
        fail(f"dtype {dtype!r} is not float32 or float64")
    model = FullyConnectedNet(
        dims[1:-1], input_dim=dims[0], num_classes=dims[-1], dropout_keep_ratio=meta.get("dropout_keep_ratio", 1.0),
        normalization=meta.get("normalization"), dtype=np.dtype(dtype).type,
    )
    expected = {key: value.shape for key, value in model.params.items()}
    stats = {key: value for key, value in arrays.items() if key.startswith("bn")}
    missing = sorted(set(expected) - set(arrays))
    unexpected = sorted(set(arrays) - set(expected) - set(stats))
    if missing or unexpected:
        fail(f"missing arrays {missing}, unexpected arrays {unexpected}")
    for key, shape in expected.items():
        if arrays[key].shape != shape:
            fail(f"{key} has shape {arrays[key].shape}, expected {shape}")
        model.params[key] = arrays[key].astype(model.dtype)
    for key, value in stats.items():
        layer, _, stat = key[2:].partition("_")
        if not layer.isdigit() or not 1 <= int(layer) <= len(model.bn_params):
            fail(f"unexpected array {key}")
        model.bn_params[int(layer) - 1][stat] = value
    return model
