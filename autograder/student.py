"""The student's program as the checks see it: calls that send inputs and get outputs back.

A check never touches student objects. It asks :class:`Student` to call a function (or a
stored object's method) with inputs it chose, and gets back plain values: numpy arrays, plain CPU
torch tensors, numbers, strings, None and lists/tuples/dicts of these. For torch units it may
also ask the worker's own torch code (:mod:`autograder.worker_torch`) to prepare a stored module,
run its forward pass, or compute a vector-Jacobian product (:meth:`Student.vjp`). Objects that must stay with the student code (a
forward pass's cache, a model) are kept under a :class:`~autograder.protocol.Handle` and passed
back by name. The same requests go to a sandboxed worker process (:mod:`autograder.runner`) or,
for ``nbgrader autograde``, to an in-process session (:mod:`autograder.nbgrader_bridge`).
"""
from __future__ import annotations

import copy
from typing import Callable

import numpy as np

from autograder.protocol import Handle

ALL = "all"
NOTHING = "none"


class StudentError(Exception):
    """The student's code raised, or returned something a check cannot use; fails a sub-check."""


class WorkerFailure(Exception):
    """No usable reply: a timeout, a crash, or a malformed or oversized reply; fails the unit."""


class Student:
    """Requests about the student's program, sent through ``transport(request) -> reply``."""

    def __init__(self, transport: Callable[[dict], dict]):
        self._transport = transport
        self.recorded: list[tuple[dict, object]] | None = None  # (request, value) of repeatable calls, while recording

    def record_calls(self) -> None:
        """From now on, keep every repeatable call and its answer (see :meth:`call`) in :attr:`recorded`."""
        self.recorded = []

    def stop_recording(self) -> list[tuple[dict, object]]:
        """The calls kept since :meth:`record_calls`, in order; recording stops."""
        recorded, self.recorded = self.recorded or [], None
        return recorded

    def ask_again(self, request: dict):
        """Send a recorded call's request again; its value (raises StudentError as :meth:`call` does)."""
        return self._send(request, request["target"]["name"])

    def call(self, name: str, *args, kwargs: dict | None = None, store: dict | None = None, reply=ALL, banned: list[str] | None = None,
             repeatable: bool = True):
        """Call the student's ``name(*args, **kwargs)``.

        - store: ``{handle_name: pick}`` keeps parts of the result in the worker (pick: ``"all"``
          or an index/key of the returned tuple/dict), e.g. ``{"cache": 1}``.
        - reply: the part of the result to send back: ``"all"``, ``"none"``, an index or key, or
          a list of those.
        - banned: module names the call may not use (e.g. ``["dl.fast_layers"]``); using one
          fails the call with a StudentError saying so.
        - repeatable: the same call must give the same answer (a deterministic function of plain
          inputs). While recording, such a call is kept, unless it stores or passes a handle, so
          that the grader can ask it again (:func:`autograder.checks.registry.run_checks`).
          False for calls whose answer may change (an unseeded random mask).
        """
        request = self._request({"name": name}, None, args, kwargs, store, reply, banned)
        value = self._send(request, name)
        if self.recorded is not None and repeatable and not store and not _holds_handle((args, kwargs)):
            self.recorded.append(copy.deepcopy((request, value)))  # the check may change its arrays afterwards
        return value

    def call_method(self, handle: Handle, method: str, *args, kwargs: dict | None = None, store: dict | None = None, reply=ALL):
        """Call ``method`` of the object stored under ``handle``; see :meth:`call`."""
        return self._call({"handle": handle.name}, method, args, kwargs, store, reply)

    def map(self, name: str, args: tuple, over: int | str, values: np.ndarray, kwargs: dict | None = None, reply=ALL,
            banned: list[str] | None = None) -> list:
        """Call ``name`` once per row of ``values`` (put in place of argument ``over``), in one request."""
        return self._send(
            {"op": "map", "target": {"name": name}, "args": list(args), "kwargs": kwargs or {}, "over": over,
             "values": np.asarray(values), "reply": reply, "banned": list(banned or [])},
            name,
        )

    def get_attr(self, handle: Handle, attr: str, reply=ALL):
        """The attribute ``attr`` of the stored object (e.g. a model's ``params`` dict)."""
        return self._send({"op": "getattr", "target": {"handle": handle.name}, "name": attr, "reply": reply}, attr)

    def set_item(self, handle: Handle, attr: str | None, key, value) -> None:
        """``getattr(obj, attr)[key] = value`` on the stored object (``obj[key]`` if attr is None)."""
        self._send({"op": "setitem", "target": {"handle": handle.name}, "attr": attr, "key": key, "value": value}, f"{attr}[{key!r}]")

    def put(self, name: str, value) -> Handle:
        """Store a plain value (e.g. a parameter dict the student's code updates in place) under a handle."""
        self._send({"op": "put", "name": name, "value": value}, name)
        return Handle(name)

    def get(self, handle: Handle, reply=ALL):
        """The object stored under ``handle`` (or the picked part of it)."""
        return self._send({"op": "get", "target": {"handle": handle.name}, "reply": reply}, handle.name)

    def seed_numpy(self, seed: int) -> None:
        """``np.random.seed(seed)`` in the student's program, through its own ``np``.

        That is numpy's global RNG, which documented initialisations draw from (``W1 =
        weight_scale * np.random.randn(...)``): after it, the student's constructor must draw the
        reference's numbers. Raises StudentError when the program has no ``np``.
        """
        self._send({"op": "getattr", "target": {"name": "np"}, "name": "random", "store": {"np.random": ALL}, "reply": NOTHING},
                   "np.random")
        self.call_method(Handle("np.random"), "seed", seed, reply=NOTHING)

    def forget_all(self) -> None:
        """Drop every stored object."""
        self._send({"op": "forget"}, "forget")

    # -- torch units (autograder.worker_torch; the helpers of autograder.checks.torch_modules wrap these)

    def seed_torch(self, seed: int) -> None:
        """``torch.manual_seed(seed)`` in the worker, by grader code: a module in training mode (dropout)
        then gives the same results on every run of the check."""
        self._send({"op": "torch_seed", "seed": int(seed)}, "torch")

    def prepare_module(self, handle: Handle, dtype=None, state: dict | None = None, strict: bool = True,
                       train: bool | None = None) -> dict:
        """Convert the stored ``nn.Module`` to ``dtype``, load ``state`` (``strict``), set train/eval mode.

        Returns ``{"missing": [...], "unexpected": [...]}`` for a non-strict load, else ``{}``.
        """
        request = {"op": "module", "target": {"handle": handle.name}, "strict": strict}
        for key, value in (("dtype", dtype), ("state", state), ("train", train)):
            if value is not None:
                request[key] = value
        return self._send(request, handle.name)

    def module_state(self, handle: Handle) -> dict:
        """The names and values (plain tensors) of a stored module's parameters and persistent buffers."""
        return self._send({"op": "state", "target": {"handle": handle.name}}, handle.name)

    def forward(self, target: str | Handle, *args, kwargs: dict | None = None, train: bool | None = None, grad: bool = False,
                method: str | None = None, reply=ALL, label: str | None = None):
        """Call a stored module (or a function by name) in ``train`` or eval mode, under ``torch.no_grad()`` unless ``grad``.

        ``label`` names the call in messages (``"ThreeLayerConvNet(3, 8, 4, 10)"``); default: the handle or function name.
        """
        request = {**self._request(_target(target), method, args, kwargs, None, reply, None), "op": "forward", "grad": grad}
        for key, value in (("train", train), ("label", label)):
            if value is not None:
                request[key] = value
        return self._send(request, label or _what(target, method))

    def vjp(self, target: str | Handle, args, upstream, wrt=("inputs",), inputs: list[int] | None = None,
            kwargs: dict | None = None, train: bool | None = None, method: str | None = None, label: str | None = None) -> dict:
        """The output of ``target(*args, **kwargs)`` and the gradients of ``sum(output * upstream)``.

        ``target``: a function's name or a stored module's handle. ``wrt``: ``"inputs"`` (the
        arguments at positions ``inputs``, default every floating tensor or list of them) and/or
        ``"params"`` (the module's parameters). Computed by grader code in the worker
        (:func:`autograder.worker_torch.vjp`); returns ``{"output": Tensor, "inputs": [gradient per
        argument], "params": {name: gradient}}``. A lying output raises StudentError saying why.
        ``label`` as for :meth:`forward`.
        """
        request = {**self._request(_target(target), method, args, kwargs, None, ALL, None), "op": "vjp",
                   "upstream": upstream, "wrt": list(wrt)}
        for key, value in (("inputs", None if inputs is None else list(inputs)), ("train", train), ("label", label)):
            if value is not None:
                request[key] = value
        return self._send(request, label or _what(target, method))

    def tensor_info(self, handle: Handle, reply=ALL):
        """Type, dtype, shape, ``requires_grad``, ``is_leaf`` and device of the tensors in a stored value
        (for a module: of each parameter and buffer, by name)."""
        return self._send({"op": "tensor_info", "target": {"handle": handle.name}, "reply": reply}, handle.name)

    def structure(self, handle: Handle) -> list[dict]:
        """The submodules of a stored module in order: name, type (``torch.nn.modules.conv.Conv2d``), config, own parameters."""
        return self._send({"op": "structure", "target": {"handle": handle.name}}, handle.name)

    def optimizer_info(self, handle: Handle, module: Handle | None = None) -> dict:
        """A stored optimizer's type, defaults and parameter groups (parameters named after the stored ``module``)."""
        request = {"op": "optimizer_info", "target": {"handle": handle.name}}
        if module is not None:
            request["module"] = {"handle": module.name}
        return self._send(request, handle.name)

    def _call(self, target: dict, method, args, kwargs, store, reply, banned=None):
        what = (target.get("name") or target.get("handle")) + (f".{method}" if method else "")
        return self._send(self._request(target, method, args, kwargs, store, reply, banned), what)

    @staticmethod
    def _request(target: dict, method, args, kwargs, store, reply, banned) -> dict:
        return {"op": "call", "target": target, "method": method, "args": list(args), "kwargs": kwargs or {},
                "store": store or {}, "reply": reply, "banned": list(banned or [])}

    def _send(self, request: dict, what: str):
        reply = self._transport(request)
        if reply.get("ok") is True:
            return reply.get("value")
        error = reply.get("error")
        if not isinstance(error, dict):
            raise WorkerFailure(f"malformed reply to a request about {what}")
        if error.get("kind") == "raised":
            message = error.get("message")
            raise StudentError(f"{what} raised {error.get('type')}" + (f": {message}" if message else ""))
        raise StudentError(str(error.get("message")))


def _target(target: str | Handle) -> dict:
    return {"handle": target.name} if isinstance(target, Handle) else {"name": target}


def _what(target: str | Handle, method: str | None) -> str:
    return (target.name if isinstance(target, Handle) else target) + (f".{method}" if method else "")


def _holds_handle(value) -> bool:
    """Whether a handle occurs anywhere in ``value`` (nested tuples, lists and dicts)."""
    if isinstance(value, Handle):
        return True
    if isinstance(value, (tuple, list)):
        return any(_holds_handle(v) for v in value)
    if isinstance(value, dict):
        return any(_holds_handle(v) for v in value.values())
    return False
