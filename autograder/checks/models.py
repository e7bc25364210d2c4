"""What the checks of the model units share (``FullyConnectedNet``, its later branches, ``ThreeLayerConvNet``).

- a student's model built in the worker under the handle ``model`` (:func:`build_student_model`);
- its ``params`` against the reference's: names, shapes, the weights' spread (:func:`param_failures`,
  :func:`weight_statistics`);
- its ``loss`` against the reference model holding the same parameters (:func:`compare_train_step`,
  :func:`compare_scores`), and against the same reference model computed with the student's own
  layer functions (:class:`ReferenceModels`): a model that matches either is right, so a bug in
  a layer is charged to that layer's unit only;
- a saved model: its files (:func:`saved_model_problem`) and its held-out accuracy
  (:func:`accuracy_result`; the checks read the data with ``context.dataset("cifar10")``).
"""
from __future__ import annotations

import copy
import re
import sys
import types
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from autograder.checks.compare import Tally, as_float_array, describe_value, keep_global_rng, mismatch
from autograder.checks.registry import CheckResult
from autograder.protocol import Handle
from autograder.student import Student, StudentError
from autograder.submitted import refusal
from dl import layer_utils
from dl.notebook_import import rebind

MODEL = Handle("model")
WHERE = re.compile(r" \(line \d+ of [^()]+\)$")  # the worker's note of where an exception was raised
MAX_ARTIFACT_MB = 400  # a saved model's .npz, on disk and once loaded (a compressed .npz can be far larger in memory)
MAX_PARAMETERS = 50_000_000


def build_student_model(student: Student, constructor: str, kwargs: dict, params: dict[str, np.ndarray] | None = None) -> None:
    """The student's ``constructor(**kwargs)`` under the handle ``model``, holding ``params`` if given."""
    student.call(constructor, kwargs=kwargs, store={"model": "all"}, reply="none")
    for name, value in (params or {}).items():
        student.set_item(MODEL, "params", name, value)


def param_failures(params, expected: dict[str, tuple[int, ...]], about: str) -> tuple[str | None, str | None, dict[str, np.ndarray]]:
    """The student's ``params`` against the expected shapes: (names failure, shapes failure, present arrays).

    Raises StudentError when ``params`` is not a dict.
    """
    if not isinstance(params, dict):
        raise StudentError(f"model.params is {describe_value(params)}; expected a dict")
    missing, extra = sorted(set(expected) - set(params)), sorted(set(params) - set(expected), key=str)
    names = None if not missing and not extra else f"{about}: params lacks {missing} and has unexpected {extra}"
    present = {name: as_float_array(params[name], f"params[{name!r}]") for name in expected if name in params}
    wrong = [f"{name} is {value.shape}, expected {expected[name]}" for name, value in present.items() if value.shape != expected[name]]
    shapes = f"{about}: " + "; ".join(wrong) if wrong else None
    return names, shapes, present


def weight_statistics(params: dict[str, np.ndarray], weight_scale: float, about: str) -> str | None:
    """Pooled weights: standard deviation within sampling error of weight_scale, mean near zero.

    The message gives the spread as a multiple of weight_scale, never weight_scale itself (a
    hidden input).
    """
    weights = np.concatenate([value.ravel() for name, value in params.items() if name.startswith("W")] or [np.zeros(0)])
    if weights.size < 2:
        return f"{about}: no weights to check"
    std, mean = float(weights.std()), float(weights.mean())
    tolerance = max(0.1, 5 / np.sqrt(2 * weights.size))  # 5 standard errors of a sample std, at least 10%
    if abs(std / weight_scale - 1) > tolerance:
        return f"{about}: the weights have a standard deviation {std / weight_scale:.3g} times weight_scale; expected about weight_scale"
    if abs(mean) > 5 * weight_scale / np.sqrt(weights.size):
        return f"{about}: the weights have a mean {mean / weight_scale:.3g} times weight_scale; expected about 0"
    return None


class ReferenceModels:
    """The reference model, and a twin computed with the student's own layer functions.

    A model unit grades how the student's model puts layers together, not the layers: those have
    units of their own. So the student's model is right when it matches the reference model, or
    the reference model run on the student's layer functions (``layers``: the names of the
    functions the student wrote, e.g. ``("affine_forward", "relu_forward", ...)``). The twin is a
    deep copy of ``reference`` whose class and sandwich layers (:mod:`dl.layer_utils`) look these
    names up in a namespace where each one calls the student's function in the worker
    (:func:`student_layer`); the two models see the same calls, so state such as running
    statistics evolves in both. When a student's layer raises or returns something unusable the
    twin is dropped and only the reference counts; its failure is kept (:meth:`excuses`): the
    student's model failing the same way is the layer's fault, charged to the layer's unit.
    """

    def __init__(self, reference, student: Student, layers: Sequence[str] = ()):
        self.reference = reference
        self.twin = None
        self.twin_failure: str | None = None  # "<exception type>: <message>" of the twin's failure
        if layers:
            namespace = {**vars(layer_utils), **vars(sys.modules[type(reference).__module__])}
            namespace.update({name: student_layer(student, name) for name in layers})
            for name, value in vars(layer_utils).items():
                if isinstance(value, types.FunctionType) and value.__module__ == layer_utils.__name__:
                    namespace[name] = rebind(value, namespace)
            self.twin = copy.deepcopy(reference)
            self.twin.__class__ = rebind(type(reference), namespace)

    def loss(self, *args) -> list:
        """``loss(*args)`` of the reference and (while it works) of the twin: one or two expected values."""
        with keep_global_rng():  # a seeded dropout reseeds numpy's global RNG
            expected = [self.reference.loss(*args)]
            if self.twin is not None:
                try:
                    expected.append(self.twin.loss(*args))
                except (StudentError, TypeError, ValueError, IndexError, KeyError) as exc:
                    self.twin = None  # the student's layers cannot stand in; their own units say why
                    self.twin_failure = _failure(exc)
        return expected

    def excuses(self, error: StudentError) -> bool:
        """Whether the student's model raising ``error`` is what the twin did: the same exception, with the same message.

        The reference model run on the student's own layers failed that way, so the layers are at
        fault (a forward whose cache its own backward cannot use): their units pay, the model's
        does not (a deleted layer's NameError too: that layer's unit pays). Never for
        NotImplementedError, which an unwritten model raises as well.
        """
        return (self.twin_failure is not None and not self.twin_failure.startswith("NotImplementedError")
                and _failure(error) == self.twin_failure)


def _failure(error: Exception) -> str:
    """``"TypeError: <message>"`` of an exception raised here or, for a StudentError, in the student's code.

    The worker's note of where in the notebook it was raised (``" (line 3 of cell 7 of your
    notebook)"``) is left out: the twin's failure may come from the same code run here.
    """
    if isinstance(error, StudentError) and " raised " in str(error):
        return WHERE.sub("", str(error).partition(" raised ")[2])
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def student_layer(student: Student, name: str):
    """A function that calls the student's ``name`` in the worker, as the reference model calls a layer.

    Dict arguments (``bn_param``, ``dropout_param``) are sent as stored objects and copied back
    after the call, so that running statistics the student's function writes reach the caller.
    The calls are not asked again by the model's check (``repeatable=False``): a layer that
    answers differently the second time costs its own unit, whose check asks it again.
    """
    def call(*args):
        sent = [student.put(f"{name}_argument_{i}", value) if isinstance(value, dict) else value for i, value in enumerate(args)]
        result = student.call(name, *sent, repeatable=False)
        for value, handle in zip(args, sent):
            if isinstance(value, dict):
                updated = student.get(handle)
                if not isinstance(updated, dict):
                    raise StudentError(f"{name} replaced its dict argument by {describe_value(updated)}")
                value.clear()
                value.update(updated)
        return result
    return call


def compare_train_step(tally: Tally, student: Student, reference: ReferenceModels, X, y, names, tol: float, about: str,
                       gradients: bool = True, part: str | None = None, bugs: Callable | None = None) -> None:
    """``loss(X, y)`` of the student's model and of ``reference``: the loss and, if ``gradients``,
    ``grads[name]`` for each of ``names`` (1 + len(names) sub-checks, or 1, of ``part``).

    ``bugs(loss, grads) -> {"loss" or a name: {description: what that bug gives}}``: the known
    bugs to name (:func:`mismatch`'s ``bugs``), given an expected loss and grads. A student's model
    that raises as the reference model on the student's layers did passes
    (:meth:`ReferenceModels.excuses`); any other error propagates (a StudentError fails the case).
    """
    expected = reference.loss(X, y)
    try:
        got = student.call_method(MODEL, "loss", X, y)
    except StudentError as exc:
        if not reference.excuses(exc):
            raise
        for _ in range(1 + len(names) if gradients else 1):
            tally.add(None, part)
        return
    if not isinstance(got, (tuple, list)) or len(got) != 2 or not isinstance(got[1], dict):
        raise StudentError(f"loss(X, y) returned {describe_value(got)}; expected a tuple (loss, grads dict)")

    def failures(loss, grads) -> list[str | None]:
        known = bugs(loss, grads) if bugs else {}
        found = [mismatch("the loss of loss(X, y)", got[0], loss, tol, about, bugs=known.get("loss"))]
        for name in names if gradients else ():
            found.append(f"grads has no {name!r} ({about})" if name not in got[1]
                         else mismatch(f"grads[{name!r}]", got[1][name], grads[name], tol, about, bugs=known.get(name)))
        return found

    for failure in _best(failures(*values) for values in expected):
        tally.add(failure, part)


def compare_scores(student: Student, reference: ReferenceModels, X, tol: float, what: str, about: str) -> str | None:
    """``loss(X)`` (the scores, test mode) of the student's model against ``reference``: a failure or None.

    Excused failures as in :func:`compare_train_step`.
    """
    expected = reference.loss(X)
    try:
        got = student.call_method(MODEL, "loss", X)
    except StudentError as exc:
        if reference.excuses(exc):
            return None
        raise
    return _best([mismatch(what, got, values, tol, about)] for values in expected)[0]


def _best(candidates) -> list[str | None]:
    """The first list of failures that is all None (the student matches that model), else the first list."""
    candidates = list(candidates)
    return next((found for found in candidates if not any(found)), candidates[0])


def saved_model_problem(directory: Path, name: str, how_to_save: str) -> CheckResult | None:
    """A failed result when ``<directory>/<name>.npz`` or ``.json`` cannot be read (missing, a link,
    over :data:`MAX_ARTIFACT_MB`: :func:`autograder.submitted.refusal`), else None."""
    for suffix in (".npz", ".json"):
        refused = refusal(directory.parent, f"{directory.name}/{name}{suffix}", MAX_ARTIFACT_MB)
        if refused:
            return CheckResult("failed", 0.0, f"{refused}; {how_to_save}")
    return None


def accuracy(model, X: np.ndarray, y: np.ndarray, batch: int) -> float:
    """The fraction of ``X`` that ``model`` (test-mode ``loss(X)`` gives scores) classifies as ``y``, ``batch`` at a time."""
    predictions = [np.argmax(model.loss(X[i : i + batch]), axis=1) for i in range(0, len(X), batch)]
    return float(np.mean(np.concatenate(predictions) == y))


def accuracy_result(model, data: dict, full_credit: float, zero_credit: float, batch: int) -> CheckResult:
    """The score of a saved model: validation accuracy, full credit from ``full_credit``, linear from ``zero_credit``.

    The message also gives the test accuracy when ``data`` has a test split.
    """
    X_val, y_val = data["X_val"], data["y_val"]
    val = accuracy(model, X_val, y_val, batch)
    message = (f"validation accuracy {val:.3f} on {len(y_val)} held-out images "
               f"(full credit from {full_credit:.2f}, partial credit from {zero_credit:.2f})")
    if data.get("X_test") is not None and len(data["X_test"]):
        message += f"; test accuracy {accuracy(model, data['X_test'], data['y_test'], batch):.3f}"
    return CheckResult.from_score((val - zero_credit) / (full_credit - zero_credit), message)
