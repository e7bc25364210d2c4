"""What is graded: units and written questions, as plain data (read from the course manifest)."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Unit:
    """A graded unit: a function, class or method the student writes, or an artifact they save.

    - grade_id: e.g. ``"a1-fc-affine_forward"`` (letters, digits, ``_`` and ``-``).
    - points: maximum score.
    - checks: names of checks in the autograder's registry, run in order.
    - reference: ``"module:name"`` of the reference object in ``dl`` (code units): a function or
      class (``"dl.layers:affine_forward"``), or a method of a class
      (``"dl.models.rnn:CaptioningRNN.loss"``), which the student writes in the class's cell.
    - artifact: the name of the model the unit is graded from, saved under ``artifacts/``
      (:attr:`artifact_files`): an artifact unit's (no reference), e.g. ``"a1_best_fc"``, or a code
      unit's torch model that its reference, the builder, rebuilds (``"a2_cifar_challenge"``).
    - written_in: the grade id of another unit whose answer cell holds this unit's code, in a
      notebook this one uses (e.g. ``"a1-bn-fc_normalization"`` is the normalization branch the
      student writes in the cell of ``"a1-fc-FullyConnectedNet"``); None for the usual case.
    - time_limit_s: seconds the unit's checks may take in all, any one request to the student's
      code included; None: ``GradingOptions.unit_timeout`` and ``request_timeout``.
    - memory_mb: memory limit of the worker while the unit is graded; None: ``GradingOptions.memory_mb``.
    """

    grade_id: str
    points: float
    checks: tuple[str, ...] = field(default_factory=tuple)
    reference: str | None = None
    artifact: str | None = None
    written_in: str | None = None
    time_limit_s: float | None = None
    memory_mb: int | None = None

    @property
    def class_name(self) -> str | None:
        """The class of a method-level unit (``"CaptioningRNN"`` for ``"...:CaptioningRNN.loss"``), else None."""
        if self.reference is None or "." not in self.reference.split(":")[1]:
            return None
        return self.reference.split(":")[1].split(".")[0]

    @property
    def method_name(self) -> str | None:
        """The method of a method-level unit (``"loss"`` for ``"...:CaptioningRNN.loss"``), else None."""
        return self.reference.split(":")[1].split(".")[1] if self.class_name else None

    @property
    def artifact_files(self) -> tuple[str, ...]:
        """The files of the unit's saved model under ``artifacts/``, as :mod:`dl.artifacts` writes them:
        ``<artifact>.npz`` and ``.json`` for an artifact unit (``save``), ``<artifact>.safetensors``
        and ``.json`` for a code unit's torch model (``save_torch_model``); () without an artifact."""
        if self.artifact is None:
            return ()
        return (f"{self.artifact}{'.safetensors' if self.names else '.npz'}", f"{self.artifact}.json")

    @property
    def names(self) -> tuple[str, ...]:
        """Names the unit's notebook cell defines: the reference's top-level name (a method's class), if any."""
        if self.reference is None:
            return ()
        return (self.reference.split(":")[1].split(".")[0],)


@dataclass(frozen=True)
class Question:
    """A written answer, graded by hand."""

    grade_id: str
    points: float
