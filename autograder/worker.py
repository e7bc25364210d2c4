"""The worker: runs a student's program and answers the grader's requests about it.

Started by the grader as ``python -m autograder.worker [limits]`` in a private temporary folder,
with stdin and stdout as pipes. Before any student code runs, the worker moves those two pipes
to private file descriptors (the protocol channel, :mod:`autograder.protocol`) and points fd 0
and fd 1 at ``/dev/null``; ``sys.stdout`` and ``sys.stderr`` become a sink that drops what the
student prints. A print flood, ``os.write(1, ...)`` or fake results printed by student code can
therefore never reach the grader.

Requests (dicts; every reply is ``{"ok": True, ...}`` or ``{"ok": False, "error": {"kind",
"type", "message"}}`` with kind ``raised`` (the student's code raised), ``result`` (it returned
no tuple or dict to pick items from), ``unsupported`` (it returned something the protocol cannot
carry) or ``bad_request``):

- ``{"op": "exec", "label", "source"}``: run one program cell in the shared namespace.
- ``{"op": "defined", "names": [...]}``: which of these names the namespace defines.
- ``{"op": "call", "target": {"name": n} | {"handle": h}, "method": m?, "args": [...],
  "kwargs": {...}, "store": {handle: pick}, "reply": pick}``: call a function, a stored object
  or its method; keep parts of the result under handles; reply with the picked part.
- ``{"op": "map", ... same as call ..., "over": i | name, "values": array}``: call once per row
  of ``values``, substituted for positional argument ``i`` (or keyword ``name``); reply with
  the list of picked results. Numerical gradients send all perturbed inputs this way at once.
- ``{"op": "getattr", "target", "name", "store", "reply"}`` and
  ``{"op": "setitem", "target", "attr", "key", "value"}`` (``getattr(obj, attr)[key] = value``).
- ``{"op": "put", "name": h, "value": v}``: store a plain value under a handle (e.g. a
  ``bn_param`` dict that the student's function must update in place), and
  ``{"op": "get", "target": {"handle": h}, "reply": pick}``: reply with a stored object.
- ``{"op": "forget"}``: drop every stored handle.

torch units (:mod:`autograder.worker_torch`, grader code bound before student code runs):

- ``{"op": "torch"}``: import the torch operations now and pin torch to one thread; the runner
  sends it before the first cell of a program that uses torch. Replies with the thread count.
- ``{"op": "torch_seed", "seed"}``: seed torch's global RNG (dropout, default initialisations).
- ``{"op": "module", "target", "dtype"?, "state"?, "strict"?, "train"?}``: convert a stored
  ``nn.Module`` to a torch dtype, load a state dict (``nn.Module.load_state_dict``), set train or
  eval mode (``nn.Module.train``); torch's methods, whatever the student's class overrides.
- ``{"op": "state", "target"}``: the names and values of a stored module's parameters and
  persistent buffers (its ``state_dict()``).
- ``{"op": "forward", ... as call ..., "train"?, "grad"?}``: call a stored module (or a function),
  in train or eval mode, under ``torch.no_grad()`` unless ``grad``.
- ``{"op": "vjp", ... as call ..., "upstream", "wrt": ["inputs", "params"], "inputs"?, "train"?}``:
  the output and the gradients of ``sum(output * upstream)`` with respect to the arguments at
  positions ``inputs`` and/or the module's parameters, computed by ``torch.autograd.grad``. A
  result that is not a plain tensor of the upstream's shape and dtype (another object, a tensor
  subclass, a tensor with a backward hook) fails the request with kind ``result``.
- ``{"op": "tensor_info", "target", "reply"?}``: dtype, shape, ``requires_grad``, ``is_leaf`` of the
  tensors in a stored value (a module: of its parameters and buffers).
- ``{"op": "structure", "target"}``: a stored module's submodules in order: type, configuration,
  own parameters' shapes.
- ``{"op": "optimizer_info", "target", "module"?}``: a stored optimizer's class, defaults and
  parameter groups (hyper-parameters, and its parameters named after the stored ``module``).

``call`` and ``map`` may carry ``"banned": ["module", ...]``: while the student's code runs, a
profile hook watches for calls into those modules (found by their source files, however the
student imported them); a call into one fails the request with kind ``banned``. The naive
convolution checks use it so that a "naive" layer cannot hand its work to the fast one.

A pick is ``"all"``, ``"none"``, an index or key of a returned tuple/list/dict, or a list of
those. The in-process path of :mod:`autograder.nbgrader_bridge` uses the same :class:`Session`.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback

from autograder import protocol

MESSAGE_CHARS = 500
CELL_FILE_PREFIX = "<cell "


def _truncate(text: str, limit: int = MESSAGE_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 15] + " ... (truncated)"


def _safe_str(obj) -> str:
    try:
        return _truncate(str(obj))
    except BaseException:  # a student's __str__ may raise anything
        return "<unprintable>"


def describe_exception(exc: BaseException) -> tuple[str, str]:
    """``(type name, message)`` of a student's exception; the message names the line of their cell."""
    where = ""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename.startswith(CELL_FILE_PREFIX):
            where = f" (line {frame.lineno} of {frame.filename[len(CELL_FILE_PREFIX):-1]})"
            break
    if isinstance(exc, SyntaxError) and exc.filename and exc.filename.startswith(CELL_FILE_PREFIX):
        where = f" (line {exc.lineno} of {exc.filename[len(CELL_FILE_PREFIX):-1]})"
    return _truncate(type(exc).__name__, 100), _safe_str(exc) + where


class StudentRaised(Exception):
    """Wraps an exception raised by student code."""

    def __init__(self, exc: BaseException):
        super().__init__()
        self.type_name, self.message = describe_exception(exc)


class BadResult(Exception):
    """Student code returned something other than the tuple or dict a request picks items from."""


class BannedCall(Exception):
    """Student code called into a module the request banned (e.g. the fast layers from a naive one)."""


class BadRequest(Exception):
    """A request the worker cannot serve (unknown name, missing handle, impossible pick)."""


def _run_student(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # SystemExit and anything else the student raises is their error
        raise StudentRaised(exc) from None


def _with_id(reply: dict, request: dict | None) -> dict:
    """The reply carrying the request's ``id``: the grader pairs replies with requests by it."""
    if isinstance(request, dict) and "id" in request:
        return {**reply, "id": request["id"]}
    return reply


def _error(kind: str, type_name: str, message: str) -> dict:
    return {"ok": False, "error": {"kind": kind, "type": type_name, "message": _truncate(message)}}


class Session:
    """A namespace holding the student's program and the objects stored under handles."""

    def __init__(self, namespace: dict | None = None):
        self.namespace = namespace if namespace is not None else {"__name__": "student_program"}
        self.handles: dict[str, object] = {}

    def respond(self, frame: bytes, limits: protocol.Limits = protocol.Limits(max_bytes=2**31)) -> bytes:
        """Decode a request frame, serve it and encode the reply frame (never raises for student code)."""
        request = None
        try:
            request = protocol.unpack(frame, limits, handles=self.handles, allow_dtypes=True)
            reply = self.handle(request)
        except protocol.ProtocolError as exc:
            reply = _error("bad_request", "ProtocolError", str(exc))
        try:
            return protocol.pack(_with_id(reply, request))
        except protocol.UnsupportedValue as exc:
            what = _describe_target(request)
            reply = _error("unsupported", "UnsupportedValue", f"{what} returned a value the grader cannot receive: {exc}")
            return protocol.pack(_with_id(reply, request))

    def handle(self, request: dict) -> dict:
        op = request.get("op")
        handler = getattr(self, f"_op_{op}", None) if isinstance(op, str) else None
        if handler is None:
            return _error("bad_request", "BadRequest", f"unknown operation {op!r}")
        try:
            return handler(request)
        except StudentRaised as exc:
            return _error("raised", exc.type_name, exc.message)
        except BannedCall as exc:
            return _error("banned", "BannedCall", str(exc))
        except BadResult as exc:
            return _error("result", "BadResult", str(exc))
        except (BadRequest, KeyError, IndexError, TypeError) as exc:  # a malformed request, not student code
            return _error("bad_request", type(exc).__name__, str(exc))

    # -- operations ---------------------------------------------------------------------------

    def _op_exec(self, request: dict) -> dict:
        label, source = request["label"], request["source"]
        try:
            code = compile(source, f"{CELL_FILE_PREFIX}{label}>", "exec")
        except SyntaxError as exc:
            type_name, message = describe_exception(exc)
            return _error("raised", type_name, message)
        _run_student(exec, code, self.namespace)
        return {"ok": True}

    def _op_defined(self, request: dict) -> dict:
        return {"ok": True, "value": [name for name in request["names"] if name in self.namespace]}

    def _op_call(self, request: dict) -> dict:
        fn = self._callable(request)
        with _watch_banned(request.get("banned", [])):
            result = _run_student(fn, *request.get("args", []), **request.get("kwargs", {}))
        return self._finish(request, result)

    def _op_map(self, request: dict) -> dict:
        fn = self._callable(request)
        over, values = request["over"], request["values"]
        results = []
        with _watch_banned(request.get("banned", [])):
            results = self._map_rows(fn, request, over, values)
        return {"ok": True, "value": results}

    def _map_rows(self, fn, request: dict, over, values) -> list:
        results = []
        for row in values:
            args, kwargs = list(request.get("args", [])), dict(request.get("kwargs", {}))
            if isinstance(over, int):
                args[over] = row.copy()
            else:
                kwargs[over] = row.copy()
            results.append(_pick(_run_student(fn, *args, **kwargs), request.get("reply", "all"), _describe_target(request)))
        return results

    def _op_getattr(self, request: dict) -> dict:
        obj = self._target(request["target"])
        result = _run_student(getattr, obj, request["name"])
        return self._finish(request, result)

    def _op_setitem(self, request: dict) -> dict:
        obj = self._target(request["target"])
        if request.get("attr") is not None:
            obj = _run_student(getattr, obj, request["attr"])
        _run_student(_setitem, obj, request["key"], request["value"])
        return {"ok": True}

    def _op_put(self, request: dict) -> dict:
        name = request["name"]
        if not isinstance(name, str):
            raise BadRequest("a handle name must be a string")
        self.handles[name] = request["value"]
        return {"ok": True}

    def _op_get(self, request: dict) -> dict:
        return {"ok": True, "value": _pick(self._target(request["target"]), request.get("reply", "all"), _describe_target(request))}

    def _op_forget(self, request: dict) -> dict:
        self.handles.clear()
        return {"ok": True}

    # -- torch operations (autograder.worker_torch) ------------------------------------------

    def _op_torch(self, request: dict) -> dict:
        return {"ok": True, "value": _torch_ops().threads()}

    def _op_torch_seed(self, request: dict) -> dict:
        _torch_ops().seed(request["seed"])
        return {"ok": True}

    def _op_module(self, request: dict) -> dict:
        ops = _torch_ops()
        module = self._target(request["target"])
        with _refusals(ops):
            found = ops.prepare_module(_run_student, module, _describe_target(request), dtype=request.get("dtype"),
                                       loaded=request.get("state"), strict=bool(request.get("strict", True)),
                                       train=request.get("train"))
        return {"ok": True, "value": found}

    def _op_state(self, request: dict) -> dict:
        ops = _torch_ops()
        with _refusals(ops):
            return {"ok": True, "value": ops.state_of(ops.as_module(self._target(request["target"]), _describe_target(request)))}

    def _op_forward(self, request: dict) -> dict:
        ops = _torch_ops()
        owner, fn = self._owner_and_callable(request)
        with _refusals(ops):
            result = ops.forward(_run_student, fn, list(request.get("args", [])), dict(request.get("kwargs", {})),
                                 module=owner if isinstance(owner, ops._Module) else None, train=request.get("train"),
                                 grad=bool(request.get("grad", False)))
        return self._finish(request, result)

    def _op_vjp(self, request: dict) -> dict:
        ops = _torch_ops()
        owner, fn = self._owner_and_callable(request)
        with _refusals(ops):
            value = ops.vjp(_run_student, fn, list(request.get("args", [])), dict(request.get("kwargs", {})), request["upstream"],
                            _describe_target(request), wrt=request.get("wrt", ["inputs"]), inputs=request.get("inputs"),
                            module=owner if isinstance(owner, ops._Module) else None, train=request.get("train"))
        return {"ok": True, "value": value}

    def _op_tensor_info(self, request: dict) -> dict:
        ops = _torch_ops()
        value = _pick(self._target(request["target"]), request.get("reply", "all"), _describe_target(request))
        return {"ok": True, "value": ops.tensor_info(value)}

    def _op_structure(self, request: dict) -> dict:
        ops = _torch_ops()
        with _refusals(ops):
            return {"ok": True, "value": ops.structure(self._target(request["target"]), _describe_target(request))}

    def _op_optimizer_info(self, request: dict) -> dict:
        ops = _torch_ops()
        module = self._target(request["module"]) if request.get("module") else None
        with _refusals(ops):
            return {"ok": True, "value": ops.optimizer_info(self._target(request["target"]), module)}

    # -- helpers ------------------------------------------------------------------------------

    def _target(self, target: dict):
        if "handle" in target:
            if target["handle"] not in self.handles:
                raise BadRequest(f"nothing is stored under {target['handle']!r} (an earlier step failed)")
            return self.handles[target["handle"]]
        name = target.get("name")
        if name not in self.namespace:
            raise StudentRaised(NameError(f"name {name!r} is not defined"))
        return self.namespace[name]

    def _callable(self, request: dict):
        return self._owner_and_callable(request)[1]

    def _owner_and_callable(self, request: dict):
        """The request's target object and what to call: the object, or its ``method``."""
        obj = self._target(request["target"])
        if request.get("method") is not None:
            return obj, _run_student(getattr, obj, request["method"])
        return obj, obj

    def _finish(self, request: dict, result) -> dict:
        what = _describe_target(request)
        for name, pick in request.get("store", {}).items():
            self.handles[name] = _pick(result, pick, what)
        return {"ok": True, "value": _pick(result, request.get("reply", "all"), what)}


def _torch_ops():
    """:mod:`autograder.worker_torch`, imported on first use (numpy assignments never import torch)."""
    return importlib.import_module("autograder.worker_torch")


class _refusals:
    """Context manager: a :class:`autograder.worker_torch.Refused`, or any other error of the grader's
    torch code on the student's objects, becomes a :class:`BadResult` (kind ``result``), never a
    crash of the worker; the student's own exceptions pass through."""

    def __init__(self, ops):
        self.refused = ops.Refused

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None or issubclass(exc_type, (StudentRaised, BadResult, BannedCall, BadRequest)) \
                or not issubclass(exc_type, Exception):
            return False
        if issubclass(exc_type, self.refused):
            raise BadResult(str(exc)) from None
        # torch refused an object the student's code made (a tensor it cannot clone, a broken module)
        raise BadResult(f"the grader could not use what your code returned: {type(exc).__name__}: {_safe_str(exc)}") from None


class _watch_banned:
    """Context manager: fail with BannedCall if code running inside calls into a banned module.

    A function belongs to the module named by its globals' ``__name__`` (``dl.fast_layers``,
    ``scipy.signal._signaltools``), so the hook sees it however the student imported it, and
    whichever copy of the package (reference or student edition) was loaded.
    """

    def __init__(self, modules):
        if not all(isinstance(m, str) for m in modules):
            raise BadRequest("banned modules must be given by name")
        self.modules = tuple(modules)
        self.hit: str | None = None

    def _is_banned(self, module) -> bool:
        return isinstance(module, str) and any(module == m or module.startswith(m + ".") for m in self.modules)

    def _profile(self, frame, event, arg):
        if self.hit is not None:
            return
        if event == "call":
            module = frame.f_globals.get("__name__")
            if self._is_banned(module):
                self.hit = f"{module}.{frame.f_code.co_name}"
        elif event == "c_call":  # compiled functions (torch.conv2d) and methods (Tensor.numpy)
            owner = getattr(arg, "__self__", None)
            for module in (getattr(arg, "__module__", None), type(owner).__module__ if owner is not None else None):
                if self._is_banned(module):
                    self.hit = f"{module}.{getattr(arg, '__name__', '?')}"
                    return

    def __enter__(self):
        if self.modules:
            self._previous = sys.getprofile()
            sys.setprofile(self._profile)
        return self

    def __exit__(self, exc_type, exc, tb):
        if self.modules:
            sys.setprofile(self._previous)
        if self.hit is not None:
            raise BannedCall(f"your code called {self.hit}, which this function may not use "
                             f"(not allowed here: {', '.join(self.modules)})")
        return False


def _setitem(obj, key, value) -> None:
    obj[key] = value


def _describe_target(request) -> str:
    """How messages name what a request called: its ``label`` (a check's words, e.g.
    ``"ThreeLayerConvNet(3, 8, 4, 10)"``), else the function, handle or method name."""
    if not isinstance(request, dict):
        return "the call"
    if isinstance(request.get("label"), str):
        return _truncate(request["label"], 100)
    target = request.get("target") or {}
    name = target.get("name") or target.get("handle") or "the object"
    if request.get("method"):
        return f"{name}.{request['method']}"
    if request.get("op") == "getattr":
        return f"{name}.{request.get('name')}"
    return str(name)


def _pick(result, pick, what: str):
    """The part of ``result`` a request asked for (see the module docstring)."""
    if pick == "all":
        return result
    if pick == "none":
        return None
    if isinstance(pick, list):
        return [_pick(result, p, what) for p in pick]
    if isinstance(pick, int) and isinstance(result, (tuple, list)):
        if -len(result) <= pick < len(result):
            return result[pick]
        raise BadResult(f"{what} returned {len(result)} items; expected at least {pick + 1}")
    if isinstance(pick, str) and isinstance(result, dict):
        if pick in result:
            return result[pick]
        raise BadResult(f"{what} returned a dict without the key {pick!r}")
    expected = "a tuple" if isinstance(pick, int) else "a dict"
    raise BadResult(f"{what} returned a {type(result).__name__}; expected {expected}")


class _Sink:
    """Stands in for sys.stdout and sys.stderr of student code: counts and drops what it gets."""

    encoding = "utf-8"
    errors = "replace"

    def __init__(self):
        self.dropped = 0

    def write(self, text) -> int:
        n = len(text) if isinstance(text, str) else 0
        self.dropped += n
        return n

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        raise OSError("output is discarded while grading")


def _take_channel() -> tuple[int, int]:
    """Move the stdin/stdout pipes to private fds and point fds 0 and 1 at /dev/null."""
    channel_in, channel_out = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.close(devnull)
    sys.stdin = open(os.devnull)  # noqa: SIM115 - lives as long as the process
    sys.stdout = sys.stderr = _Sink()
    return channel_in, channel_out


def _apply_limits(memory_mb: int, cpu_seconds: int, file_mb: int) -> list[str]:
    """Set rlimits on this process where the platform has them; returns the ones not set."""
    try:
        import resource
    except ImportError:  # not on this platform
        return ["all (no resource module)"]
    missing = []
    wanted = {"RLIMIT_CORE": 0}  # no core dumps of student processes
    for name, value in (("RLIMIT_AS", memory_mb * 2**20), ("RLIMIT_CPU", cpu_seconds), ("RLIMIT_FSIZE", file_mb * 2**20)):
        if value > 0:  # 0: left unset on purpose
            wanted[name] = value
    for name, value in wanted.items():
        limit = getattr(resource, name, None)
        if limit is None:
            missing.append(name)
            continue
        try:
            _, hard = resource.getrlimit(limit)
            value = value if hard == resource.RLIM_INFINITY else min(value, hard)
            resource.setrlimit(limit, (value, hard))
        except (ValueError, OSError):
            missing.append(name)
    return missing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.worker", description="Serve grading requests (started by the grader).")
    parser.add_argument("--memory-mb", type=int, default=0)
    parser.add_argument("--cpu-seconds", type=int, default=0)
    parser.add_argument("--file-mb", type=int, default=0)
    args = parser.parse_args(argv)
    channel_in, channel_out = _take_channel()
    try:
        import signal

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an oversized write fails instead of killing us
    except (ImportError, AttributeError, ValueError):
        pass
    missing = _apply_limits(args.memory_mb, args.cpu_seconds, args.file_mb)
    session = Session()
    protocol.write_frame(channel_out, protocol.pack({"ok": True, "ready": True, "pid": os.getpid(), "limits_not_set": missing}))
    while True:
        try:
            frame = protocol.read_frame(channel_in, max_bytes=2**31)
        except protocol.ChannelClosed:
            return 0
        protocol.write_frame(channel_out, session.respond(frame))


if __name__ == "__main__":
    try:
        status = main()
    except BaseException:  # the worker itself failed: leave the traceback for the grader's log
        os.write(2, traceback.format_exc().encode(errors="replace"))
        os._exit(70)
    sys.exit(status)
