"""First-order update rules for training numpy networks.

Every rule has the same interface::

    next_w, config = rule(w, dw, config=None)

- w: the current weights, an array of any shape.
- dw: the gradient of the loss with respect to w, same shape as w.
- config: a dict of hyperparameters (``learning_rate``, ...) and of state that lasts between
  steps (velocity, moving averages). ``None`` means all defaults. Missing keys are filled in
  with ``setdefault``, so the dict passed in is updated in place and also returned, holding the
  new state for the next step.

``next_w`` is a new array; w itself is not modified.
"""
from __future__ import annotations

import numpy as np


def sgd(w: np.ndarray, dw: np.ndarray, config: dict | None = None):
    """Vanilla stochastic gradient descent: ``next_w = w - learning_rate * dw``.

    config keys:
    - learning_rate: scalar, default 1e-2.
    """
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    next_w = w - config["learning_rate"] * dw
    return next_w, config


def sgd_momentum(w: np.ndarray, dw: np.ndarray, config: dict | None = None):
    """Stochastic gradient descent with momentum.

    ``v = momentum * v - learning_rate * dw``; ``next_w = w + v``.

    config keys:
    - learning_rate: scalar, default 1e-2.
    - momentum: scalar in [0, 1), default 0.9; 0 gives plain SGD.
    - velocity: array shaped like w, default zeros; the updated velocity is stored back.
    """
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    config.setdefault("velocity", np.zeros_like(w))
    ### BEGIN SOLUTION
    v = config["momentum"] * config["velocity"] - config["learning_rate"] * dw
    next_w = w + v
    config["velocity"] = v
    ### END SOLUTION
    return next_w, config


def rmsprop(w: np.ndarray, dw: np.ndarray, config: dict | None = None):
    """RMSProp: divide each step by a moving average of squared gradients.

    ``cache = decay_rate * cache + (1 - decay_rate) * dw**2``;
    ``next_w = w - learning_rate * dw / (sqrt(cache) + epsilon)``.

    config keys:
    - learning_rate: scalar, default 1e-2.
    - decay_rate: scalar in [0, 1), default 0.99.
    - epsilon: small scalar that avoids division by zero, default 1e-8.
    - cache: array shaped like w, default zeros; the updated average is stored back.
    """
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("decay_rate", 0.99)
    config.setdefault("epsilon", 1e-8)
    config.setdefault("cache", np.zeros_like(w))
    ### BEGIN SOLUTION
    rho = config["decay_rate"]
    cache = rho * config["cache"] + (1 - rho) * dw**2
    next_w = w - config["learning_rate"] * dw / (np.sqrt(cache) + config["epsilon"])
    config["cache"] = cache
    ### END SOLUTION
    return next_w, config


def adam(w: np.ndarray, dw: np.ndarray, config: dict | None = None):
    """Adam: moving averages of the gradient and its square, with bias correction.

    The step counter is incremented first, so the first update uses t = 1:
    ``t += 1``; ``m = beta1 * m + (1 - beta1) * dw``; ``v = beta2 * v + (1 - beta2) * dw**2``;
    ``m_hat = m / (1 - beta1**t)``; ``v_hat = v / (1 - beta2**t)``;
    ``next_w = w - learning_rate * m_hat / (sqrt(v_hat) + epsilon)``.

    config keys:
    - learning_rate: scalar, default 1e-3.
    - beta1: decay of the first moment, default 0.9.
    - beta2: decay of the second moment, default 0.999.
    - epsilon: small scalar that avoids division by zero, default 1e-8.
    - m, v: arrays shaped like w, default zeros; updated values are stored back.
    - t: number of steps taken so far, default 0; stored back incremented by one.
    """
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-3)
    config.setdefault("beta1", 0.9)
    config.setdefault("beta2", 0.999)
    config.setdefault("epsilon", 1e-8)
    config.setdefault("m", np.zeros_like(w))
    config.setdefault("v", np.zeros_like(w))
    config.setdefault("t", 0)
    ### BEGIN SOLUTION
    beta1, beta2 = config["beta1"], config["beta2"]
    t = config["t"] + 1
    m = beta1 * config["m"] + (1 - beta1) * dw
    v = beta2 * config["v"] + (1 - beta2) * dw**2
    m_hat = m / (1 - beta1**t)
    v_hat = v / (1 - beta2**t)
    next_w = w - config["learning_rate"] * m_hat / (np.sqrt(v_hat) + config["epsilon"])
    config["t"], config["m"], config["v"] = t, m, v
    ### END SOLUTION
    return next_w, config
