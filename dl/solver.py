"""``Solver``: trains a numpy classification model with minibatch gradient descent.

The model contract (CURRICULUM §2.7):

- ``model.params``: dict mapping a parameter name to a numpy array;
- ``model.loss(X, y=None)``: with ``y=None`` return class scores of shape (N, C) (test mode);
  otherwise return ``(loss, grads)`` with ``grads`` keyed like ``params``.

Example::

    solver = Solver(model, data, update_rule="sgd_momentum",
                    optim_config={"learning_rate": 1e-3}, lr_decay=0.95,
                    num_epochs=10, batch_size=100, print_every=100)
    solver.train()
    solver.best_val_acc, solver.loss_history

``data`` is a dict with ``X_train`` (N_train, ...), ``y_train`` (N_train,), ``X_val`` and ``y_val``.
After ``train()`` the model holds the parameters of the epoch with the best validation accuracy.
"""
from __future__ import annotations

import copy
from typing import Callable, Iterable

import numpy as np

from dl import artifacts, optim

UpdateRule = Callable[[np.ndarray, np.ndarray, dict], tuple]

_DEFAULTS = dict(
    update_rule="sgd",
    optim_config=None,
    lr_decay=1.0,
    batch_size=100,
    num_epochs=10,
    num_train_samples=1000,
    num_val_samples=None,
    checkpoint_name=None,
    print_every=10,
    verbose=True,
    callbacks=(),
)


class Solver:
    """Minibatch training loop with accuracy tracking, learning-rate decay and checkpoints.

    Args:
    - model: an object with ``params`` and ``loss(X, y=None)`` as described in the module doc.
    - data: dict with ``X_train``, ``y_train``, ``X_val``, ``y_val``.

    Keyword args (any other keyword raises ``ValueError``):
    - update_rule: name of a rule in :mod:`dl.optim` (``'sgd'``, ``'sgd_momentum'``,
      ``'rmsprop'``, ``'adam'``) or a callable with the same ``(w, dw, config)`` interface, so a
      notebook can pass its own implementation. Default ``'sgd'``.
    - optim_config: dict of hyperparameters for the rule; every parameter gets its own deep
      copy, which then also holds that parameter's optimizer state.
    - lr_decay: after each epoch every ``learning_rate`` is multiplied by this. Default 1.0.
    - batch_size: minibatch size; minibatches are drawn with replacement. Default 100.
    - num_epochs: number of epochs. Default 10.
    - num_train_samples: training accuracy is measured on this many examples drawn (with
      replacement) from the training set. Default 1000.
    - num_val_samples: likewise for validation; ``None`` (default) uses the whole set.
    - checkpoint_name: if given, after each accuracy check the parameters and the solver state
      are saved pickle-free as artifact ``<checkpoint_name>_epoch_<e>`` (see :mod:`dl.artifacts`).
    - print_every: print the loss every this many iterations (when verbose). Default 10.
    - verbose: print progress lines. Default True.
    - callbacks: callables invoked as ``callback(solver)`` after every iteration, once that
      iteration's accuracy check (if any) is recorded; live plots use this. They must not
      change the model.

    Attributes after ``train()``: ``loss_history`` (one loss per iteration),
    ``train_acc_history`` and ``val_acc_history`` (one per accuracy check), ``best_val_acc``,
    ``best_epoch``, ``epoch``.

    Randomness: minibatches and accuracy subsamples are drawn from numpy's global RNG, so
    ``np.random.seed`` before ``train()`` makes a run reproducible.
    """

    def __init__(self, model, data: dict, **kwargs):
        unknown = sorted(set(kwargs) - set(_DEFAULTS))
        if unknown:
            raise ValueError(f"Solver got unrecognized arguments {unknown}; known: {sorted(_DEFAULTS)}")
        missing = [k for k in ("X_train", "y_train", "X_val", "y_val") if k not in data]
        if missing:
            raise ValueError(f"Solver data is missing {missing}; it needs X_train, y_train, X_val, y_val")
        options = {**_DEFAULTS, **kwargs}

        self.model = model
        self.X_train, self.y_train = data["X_train"], data["y_train"]
        self.X_val, self.y_val = data["X_val"], data["y_val"]
        self.update_rule_name, self.update_rule = self._resolve_rule(options["update_rule"])
        self.optim_config = dict(options["optim_config"] or {})
        self.lr_decay = options["lr_decay"]
        self.batch_size = options["batch_size"]
        self.num_epochs = options["num_epochs"]
        self.num_train_samples = options["num_train_samples"]
        self.num_val_samples = options["num_val_samples"]
        self.checkpoint_name = options["checkpoint_name"]
        self.print_every = options["print_every"]
        self.verbose = options["verbose"]
        self.callbacks = tuple(options["callbacks"])
        self._reset()

    @staticmethod
    def _resolve_rule(rule) -> tuple[str, UpdateRule]:
        if callable(rule):
            return getattr(rule, "__name__", repr(rule)), rule
        fn = getattr(optim, rule, None) if isinstance(rule, str) else None
        if fn is None or not callable(fn) or rule.startswith("_"):
            raise ValueError(f'invalid update_rule "{rule}": give the name of a rule in dl.optim or a callable')
        return rule, fn

    def _reset(self) -> None:
        """Clear the histories and give every parameter its own copy of the optimizer config."""
        self.epoch = 0
        self.best_val_acc = 0.0
        self.best_epoch = 0
        self.best_params: dict[str, np.ndarray] = {}
        self.loss_history: list[float] = []
        self.train_acc_history: list[float] = []
        self.val_acc_history: list[float] = []
        self.optim_configs = {p: copy.deepcopy(self.optim_config) for p in self.model.params}

    def _step(self) -> None:
        """One gradient update on a minibatch drawn with replacement."""
        num_train = self.X_train.shape[0]
        batch_mask = np.random.choice(num_train, self.batch_size)
        loss, grads = self.model.loss(self.X_train[batch_mask], self.y_train[batch_mask])
        self.loss_history.append(float(loss))
        for name, w in self.model.params.items():
            next_w, next_config = self.update_rule(w, grads[name], self.optim_configs[name])
            self.model.params[name] = next_w
            self.optim_configs[name] = next_config

    def _notify(self) -> None:
        for callback in self.callbacks:
            callback(self)

    def _save_checkpoint(self) -> None:
        if self.checkpoint_name is None:
            return
        state = {
            "update_rule": self.update_rule_name,
            "lr_decay": self.lr_decay,
            "batch_size": self.batch_size,
            "num_train_samples": self.num_train_samples,
            "num_val_samples": self.num_val_samples,
            "epoch": self.epoch,
            "loss_history": self.loss_history,
            "train_acc_history": self.train_acc_history,
            "val_acc_history": self.val_acc_history,
        }
        artifacts.save(f"{self.checkpoint_name}_epoch_{self.epoch}", directory=".", meta=state, **self.model.params)

    def check_accuracy(self, X: np.ndarray, y: np.ndarray, num_samples: int | None = None, batch_size: int = 100) -> float:
        """Fraction of examples whose highest score is the right class (model in test mode).

        Inputs:
        - X: data, shape (N, d_1, ..., d_k); y: labels, shape (N,).
        - num_samples: if given and smaller than N, measure on that many examples drawn with
          replacement (numpy's global RNG).
        - batch_size: examples per ``model.loss`` call.
        """
        n = X.shape[0]
        if num_samples is not None and n > num_samples:
            mask = np.random.choice(n, num_samples)
            n, X, y = num_samples, X[mask], y[mask]
        predictions = [
            np.argmax(self.model.loss(X[start : start + batch_size]), axis=1) for start in range(0, n, batch_size)
        ]
        return float(np.mean(np.concatenate(predictions) == y))

    def train(self) -> None:
        """Run the optimization, then restore the parameters of the best validation epoch."""
        num_train = self.X_train.shape[0]
        iterations_per_epoch = max(num_train // self.batch_size, 1)
        num_iterations = self.num_epochs * iterations_per_epoch

        for t in range(num_iterations):
            self._step()
            if self.verbose and t % self.print_every == 0:
                print(f"(Iteration {t + 1} / {num_iterations}) loss: {self.loss_history[-1]:f}")

            epoch_end = (t + 1) % iterations_per_epoch == 0
            if epoch_end:
                self.epoch += 1
                for config in self.optim_configs.values():
                    if "learning_rate" in config:
                        config["learning_rate"] *= self.lr_decay

            if t == 0 or t == num_iterations - 1 or epoch_end:
                train_acc = self.check_accuracy(self.X_train, self.y_train, num_samples=self.num_train_samples)
                val_acc = self.check_accuracy(self.X_val, self.y_val, num_samples=self.num_val_samples)
                self.train_acc_history.append(train_acc)
                self.val_acc_history.append(val_acc)
                self._save_checkpoint()
                if self.verbose:
                    print(f"(Epoch {self.epoch} / {self.num_epochs}) train acc: {train_acc:f}; val_acc: {val_acc:f}")
                if val_acc > self.best_val_acc:
                    self.best_val_acc, self.best_epoch = val_acc, self.epoch
                    self.best_params = {k: v.copy() for k, v in self.model.params.items()}
            self._notify()

        if self.best_params:
            self.model.params = self.best_params
            if self.verbose:
                print(f"Restored the parameters of epoch {self.best_epoch} (best val_acc {self.best_val_acc:f}).")
