"""Hidden checks of the branches of ``FullyConnectedNet`` written in later notebooks.

- ``fc_net_normalization`` (BatchNormalization): for ``normalization='batchnorm'`` and
  ``'layernorm'``, the parameter names and shapes (``gamma{i}`` ones and ``beta{i}`` zeros of
  shape (H_i,), none after the last affine), then the student's model holding parameters chosen
  here against the reference holding the same: loss and every gradient (reg != 0), a second
  train-mode call, and the test-mode scores after those calls (batchnorm: the running statistics).
- ``fc_net_dropout`` (Dropout): with ``dropout_keep_ratio`` < 1 and a ``seed``, one and several
  hidden layers: loss and gradients against the reference with the same seed (both reseed numpy's
  global RNG in every dropout layer), then the test-mode scores, which have no dropout. Where the
  student's dropout_forward ignores the seed, no model can predict its masks: the train-mode
  comparison is skipped (that unit pays) and the message says so.

The student's model runs the student's own layer functions, as in the notebook; it passes where
it matches the reference model or the reference model run on those same functions
(:class:`autograder.checks.models.ReferenceModels`), so a layer's bug costs the layer's unit only.
A model that behaves differently at test time loses at least half of its unit (the strict
"test" parts). Messages describe the models by their sizes and options, never by reg, the keep
ratio or the seed.
"""
from __future__ import annotations

import numpy as np

from autograder.checks.compare import Tally, keep_global_rng
from autograder.checks.fc_net import FC_LAYERS, TOL, _describe
from autograder.checks.models import MODEL, ReferenceModels, build_student_model, compare_scores, compare_train_step, param_failures
from autograder.checks.registry import CheckContext, CheckResult, Part, register, same_answer
from autograder.student import Student, StudentError
from dl.models.fc_net import FullyConnectedNet

NORM_LAYERS = ("batchnorm_forward", "batchnorm_backward", "layernorm_forward", "layernorm_backward")  # BatchNormalization's
DROPOUT_LAYERS = ("dropout_forward", "dropout_backward")  # Dropout's

NORMALIZATION_PARTS = {
    "params": Part(1, "gamma{i} ones and beta{i} zeros of shape (H_i,) for every hidden layer, none after the last affine"),
    "train": Part(3, "train-mode loss and every gradient (reg > 0), and a second train-mode call, against the reference "
                     "holding the same parameters, for batchnorm and layernorm (one wrong gradient misleads training)", strict=True),
    "test": Part(4.5, "test-mode scores after train-mode calls: batchnorm normalises with the running statistics "
                      "(a model that behaves differently at test time loses over half)", strict=True),
}
DROPOUT_PARTS = {
    "train": Part(2, "train-mode loss and every gradient with the seeded dropout after every hidden ReLU, against the "
                     "reference with the same seed, at two depths (one wrong gradient misleads training)", strict=True),
    "test": Part(2.5, "test-mode scores have no dropout (a model that behaves differently at test time loses over half)",
                 strict=True),
}


def _sizes(rng: np.random.Generator, depth: int) -> tuple[list[int], tuple[int, ...], int, float, int]:
    """hidden dims, the shape of one input (two axes: the model flattens it), C, reg and N (N >= 4 for batchnorm)."""
    hidden = [int(h) for h in rng.integers(4, 10, size=depth)]
    input_shape = (int(rng.integers(2, 4)), int(rng.integers(2, 5)))
    return hidden, input_shape, int(rng.integers(3, 7)), float(rng.uniform(0.1, 1.0)), int(rng.integers(4, 9))


def _grader_params(reference: FullyConnectedNet, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Parameters for both models: weights of scale 1/sqrt(fan-in), gammas around 1, biases and betas around 0."""
    params = {}
    for name, value in reference.params.items():
        if name.startswith("W"):
            params[name] = rng.standard_normal(value.shape) / np.sqrt(value.shape[0])
        elif name.startswith("gamma"):
            params[name] = 1 + 0.3 * rng.standard_normal(value.shape)
        else:
            params[name] = 0.5 * rng.standard_normal(value.shape)
    reference.params = {name: value.copy() for name, value in params.items()}
    return params


def _build(student: Student, options: dict, params: dict[str, np.ndarray] | None = None) -> None:
    """The student's model under the handle ``model`` (holding ``params`` if given)."""
    build_student_model(student, "FullyConnectedNet", {**options, "dtype": np.float64}, params)


def _parameter_failures(params, reference: FullyConnectedNet, about: str) -> list[str | None]:
    """Names (no gamma/beta after the last affine), shapes, and gammas ones / betas zeros (3 sub-checks)."""
    expected = {name: value.shape for name, value in reference.params.items()}
    names, shapes, present = param_failures(params, expected, about)
    last = reference.num_layers
    if names and (f"gamma{last}" in params or f"beta{last}" in params):
        names += f" (there is no normalization after the last affine layer, layer {last})"
    initial = [name for name, value in present.items()
               if (name.startswith("gamma") and np.any(value != 1)) or (name.startswith("beta") and np.any(value != 0))]
    init = f"{about}: {initial} do not start as they should (every gamma all ones, every beta all zeros)" if initial else None
    return [names, shapes, init]


@register("fc_net_normalization", parts=NORMALIZATION_PARTS)
def fc_net_normalization(student: Student, rng: np.random.Generator, context: CheckContext) -> CheckResult:
    """Params of the norm layers; loss, gradients and a second train call; then test-mode scores, against the reference."""
    tally = Tally(NORMALIZATION_PARTS)
    for normalization in ("batchnorm", "layernorm"):
        hidden, input_shape, num_classes, reg, n = _sizes(rng, int(rng.integers(2, 4)))
        input_dim = int(np.prod(input_shape))
        options = {"hidden_dims": hidden, "input_dim": input_dim, "num_classes": num_classes, "normalization": normalization, "reg": reg}
        about = f"{_describe(hidden, input_dim, num_classes, normalization=normalization)} with reg > 0"
        with keep_global_rng():  # its initial weights are replaced or unused
            reference = FullyConnectedNet(**options, dtype=np.float64)
        with tally.case(3, about, "params"):
            _build(student, options)
            for failure in _parameter_failures(student.get_attr(MODEL, "params"), reference, about):
                tally.add(failure, "params")

        params = _grader_params(reference, rng)
        X1, X2, X3 = (rng.standard_normal((n, *input_shape)) for _ in range(3))
        y1, y2 = (rng.integers(0, num_classes, size=n) for _ in range(2))
        about = f"{about}, parameters set by the grader, X of shape {X1.shape}"
        models = ReferenceModels(reference, student, (*FC_LAYERS, *NORM_LAYERS))
        with tally.case(2 + len(params), about, "train"):
            _build(student, options, params)
            compare_train_step(tally, student, models, X1, y1, params, TOL, f"{about}, first call", part="train")
            compare_train_step(tally, student, models, X2, y2, params, TOL, f"{about}, second call on new data", gradients=False,
                               part="train")
        stats = " (batchnorm normalises with the running statistics there)" if normalization == "batchnorm" else ""
        with tally.case(1, f"{about}, test mode", "test"):
            tally.add(compare_scores(student, models, X3, TOL, "loss(X) (test-mode scores)",
                                     f"{about}, after two train-mode calls{stats}"), "test")
    return tally.result()


@register("fc_net_dropout", parts=DROPOUT_PARTS)
def fc_net_dropout(student: Student, rng: np.random.Generator, context: CheckContext) -> CheckResult:
    """Seeded dropout at two depths: loss and gradients against the reference, then test-mode scores.

    Without normalization: the Dropout notebook does not use BatchNormalization's functions
    (``fc_net_normalization`` covers the normalization branch).
    """
    tally = Tally(DROPOUT_PARTS)
    unverified = False
    for depth in (1, int(rng.integers(2, 4))):
        hidden, input_shape, num_classes, reg, n = _sizes(rng, depth)
        input_dim = int(np.prod(input_shape))
        options = {"hidden_dims": hidden, "input_dim": input_dim, "num_classes": num_classes, "reg": reg,
                   "dropout_keep_ratio": float(rng.uniform(0.4, 0.85)), "seed": int(rng.integers(0, 2**31 - 1))}
        with keep_global_rng():  # its initial weights are replaced
            reference = FullyConnectedNet(**options, dtype=np.float64)
        params = _grader_params(reference, rng)
        X = rng.standard_normal((n, *input_shape))
        y = rng.integers(0, num_classes, size=n)
        about = (f"{_describe(hidden, input_dim, num_classes)} with dropout_keep_ratio < 1, a seed and reg > 0, "
                 f"parameters set by the grader, X of shape {X.shape}")
        models = ReferenceModels(reference, student, (*FC_LAYERS, *DROPOUT_LAYERS))
        with tally.case(1 + len(params), about, "train"):
            _build(student, options, params)
            if _reproducible_dropout(student, rng, (n, hidden[0]), options):
                compare_train_step(tally, student, models, X, y, params, TOL,
                                   f"{about}; each hidden block is affine - relu - dropout", part="train")
            else:
                unverified = True
                for _ in range(1 + len(params)):
                    tally.add(None, "train")
        with tally.case(1, f"{about}, test mode", "test"):
            tally.add(compare_scores(student, models, X, TOL, "loss(X) (test-mode scores)", f"{about}; test mode has no dropout"),
                      "test")
    result = tally.result()
    if unverified:  # charged to dropout_forward's unit, whose seeded outputs differ from the reference's
        result = CheckResult(result.status, result.score, f"{result.message}; your dropout_forward draws different masks for the same "
                             f"seed, so your model's train-mode loss and gradients could not be compared (only its test mode was)")
    return result


def _reproducible_dropout(student: Student, rng: np.random.Generator, shape: tuple[int, int], options: dict) -> bool:
    """Whether the student's dropout_forward gives the same output twice for the model's seeded dropout_param.

    If not, no model can predict the masks of the student's model: its train-mode loss is not
    compared (the layer's own unit pays for the seed). A dropout_forward that raises counts as
    reproducible: the model's comparison then says what failed. The calls are not repeatable
    questions: the answer of a dropout_forward that ignores the seed may change.
    """
    x = 1 + rng.random(shape)
    param = {"mode": "train", "p": options["dropout_keep_ratio"], "seed": options["seed"]}
    try:
        first, second = (student.call("dropout_forward", x, dict(param), reply=0, repeatable=False) for _ in range(2))
    except StudentError:
        return True
    return same_answer(first, second)
