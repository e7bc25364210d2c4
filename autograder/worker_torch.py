"""The worker's torch operations: modules, forward passes and vector-Jacobian products, run by grader code.

:mod:`autograder.worker` serves the requests ``module``, ``forward``, ``vjp``, ``tensor_info``,
``structure``, ``optimizer_info`` and ``torch_seed`` with the functions below (see its docstring). A check never
asks a student's method for a gradient or a verdict: the gradient of a unit is computed here, by
``torch.autograd.grad`` on the graph the student's forward built, and what goes back to the
grader is plain tensors (outputs and gradients); all comparison happens in the grader.

**Bound at import.** Every torch function and attribute reader used here is looked up once, when
this module is imported, and the grader makes the worker import it before the first cell of a
program that uses torch (the request ``{"op": "torch"}``, sent by :mod:`autograder.runner`). A
student cell that later replaces ``torch.autograd.grad``, ``nn.Module.train`` or
``Tensor.requires_grad_`` therefore changes nothing here. Attributes of tensors are read through
the C base class's descriptors (``torch._C.TensorBase``), which a subclass cannot override; a
module's submodules, parameters and buffers through its own dicts (:func:`named_parameters`),
and its mode is set there too (:func:`set_mode`); what ``nn.Module.to`` and ``load_state_dict``
did is checked afterwards. In the in-process session of ``nbgrader autograde`` the module is
imported on first use.

**Threads.** Importing this module pins torch to one intra-op and one inter-op thread (the
sandbox also sets ``OMP_NUM_THREADS=1``, ``MKL_NUM_THREADS=1``), so ``dl-course grade --jobs N``
runs N single-threaded workers; every operation pins the intra-op count again, in case student
code changed it.

**Lying results.** The forward of a ``vjp`` must return a plain ``torch.Tensor`` of the upstream
gradient's shape and dtype that depends on the inputs; anything else (another object, a tensor
subclass, a tensor with a backward hook on it, on an input or on a parameter) raises
:class:`Refused` with a message for the student, never an error of the worker. Exceptions raised by
student code (the forward, a custom ``autograd.Function``'s backward, a module's ``train``) come
out of ``run``, the worker's wrapper that turns them into the student's errors.
"""
from __future__ import annotations

import torch

_Tensor = torch.Tensor
_TensorBase = torch._C.TensorBase
_Module = torch.nn.Module
_Optimizer = torch.optim.Optimizer
_dtype_type = torch.dtype
_grad = torch.autograd.grad
_enable_grad = torch.enable_grad
_no_grad = torch.no_grad
_set_num_threads = torch.set_num_threads
_manual_seed = torch.manual_seed
_get_num_threads = torch.get_num_threads
_no_subclass_functions = torch._C.DisableTorchFunctionSubclass
_zeros_like = torch.zeros_like
_module_to = _Module.to
_load_state_dict = _Module.load_state_dict
_equal = torch.equal
_object_getattribute = object.__getattribute__
_object_setattr = object.__setattr__
_detach = _Tensor.detach
_clone = _Tensor.clone
_requires_grad_ = _Tensor.requires_grad_
_is_floating_point = _Tensor.is_floating_point
_shape = _TensorBase.shape.__get__
_dtype = _TensorBase.dtype.__get__
_requires_grad = _TensorBase.requires_grad.__get__
_is_leaf = _TensorBase.is_leaf.__get__
_device = _TensorBase.device.__get__
_backward_hooks = _TensorBase._backward_hooks.__get__
_accumulate_hooks = _TensorBase._post_accumulate_grad_hooks.__get__

_set_num_threads(1)
try:
    torch.set_num_interop_threads(1)
except RuntimeError:  # torch ran parallel work before this import (the in-process session): leave it
    pass

WRT = ("inputs", "params")
PLAIN = (bool, int, float, str, type(None))


class Refused(Exception):
    """The student's code returned something a torch operation cannot use; the message says what and why."""


def threads() -> int:
    """The intra-op thread count torch runs with here."""
    return _get_num_threads()


def seed(value: int) -> None:
    """Seed torch's global RNG (``torch.manual_seed``), which dropout and the default initialisations
    draw from: a check seeds it before calling a module in training mode, so that a student's
    results, right or wrong, are the same on every run."""
    _manual_seed(int(value))


def _describe(value) -> str:
    kind = type(value)
    if isinstance(value, _Tensor):
        return f"a tensor of the subclass {kind.__qualname__}" if kind is not _Tensor else f"a tensor of shape {tuple(_shape(value))}"
    return f"{'an' if kind.__name__[:1].lower() in 'aeiou' else 'a'} {kind.__name__}"


def _plain(tensor):
    """A detached plain tensor holding ``tensor``'s data (a subclass's own methods are never called)."""
    with _no_subclass_functions():
        return _detach(tensor).as_subclass(_Tensor)


# A module's submodules, parameters and buffers are read from its own dicts (``_modules``,
# ``_parameters``, ``_buffers``), not through ``named_modules()`` and friends, whose recursion
# looks methods up on each submodule, where student code could have replaced them.


def _walk(module, prefix: str = "", unique: bool = True, seen: set | None = None, path: tuple = ()):
    """``(name, module)`` for ``module`` and its submodules, depth first in registration order.

    ``unique``: each module once, as ``nn.Module.named_modules`` gives them; else every path, as
    ``nn.Module.state_dict`` visits them. A module that contains itself is refused.
    """
    seen = set() if seen is None else seen
    if unique and id(module) in seen:
        return
    seen.add(id(module))
    yield prefix, module
    for name, child in _object_getattribute(module, "_modules").items():
        if child is None:
            continue
        if not isinstance(child, _Module) or id(child) in path:
            raise Refused(f"the submodule {prefix + '.' if prefix else ''}{name} is not a module, or contains itself")
        yield from _walk(child, f"{prefix}.{name}" if prefix else str(name), unique, seen, (*path, id(module)))


def named_parameters(module) -> list:
    """``(name, parameter)`` as ``nn.Module.named_parameters()`` gives them (a shared one once)."""
    found, seen = [], set()
    for prefix, sub in _walk(module):
        for name, p in _object_getattribute(sub, "_parameters").items():
            if p is not None and id(p) not in seen:
                seen.add(id(p))
                found.append((f"{prefix}.{name}" if prefix else name, p))
    return found


def named_buffers(module) -> list:
    """``(name, buffer)`` as ``nn.Module.named_buffers()`` gives them."""
    found, seen = [], set()
    for prefix, sub in _walk(module):
        for name, b in _object_getattribute(sub, "_buffers").items():
            if b is not None and id(b) not in seen:
                seen.add(id(b))
                found.append((f"{prefix}.{name}" if prefix else name, b))
    return found


def state_of(module) -> dict:
    """The names and values of the parameters and persistent buffers, as ``nn.Module.state_dict()`` has them."""
    found = {}
    for prefix, sub in _walk(module, unique=False):
        transient = _object_getattribute(sub, "_non_persistent_buffers_set")
        entries = [*_object_getattribute(sub, "_parameters").items(),
                   *((n, b) for n, b in _object_getattribute(sub, "_buffers").items() if n not in transient)]
        for name, value in entries:
            if value is not None:
                found[f"{prefix}.{name}" if prefix else name] = _plain(value)
    return found


def set_mode(module, train: bool) -> None:
    """Train (True) or eval (False) mode on the module and every submodule, as ``nn.Module.train`` sets it."""
    for _, sub in _walk(module):
        _object_setattr(sub, "training", bool(train))


def as_module(obj, what: str):
    """``obj`` if it is an ``nn.Module``, else :class:`Refused`."""
    if not isinstance(obj, _Module):
        raise Refused(f"{what} is {_describe(obj)}; expected a torch.nn.Module")
    return obj


def prepare_module(run, module, what: str, dtype=None, loaded=None, strict: bool = True, train: bool | None = None) -> dict:
    """Convert ``module`` to ``dtype``, load the state dict ``loaded`` into it, set train or eval mode; each only if asked.

    Conversion and loading are torch's own ``nn.Module.to`` and ``nn.Module.load_state_dict``
    (``strict``), whatever the student's class overrides, and their results are checked: every
    floating tensor of the module has ``dtype``, and holds the loaded values. The mode is set on
    every submodule (:func:`set_mode`). Returns ``{"missing": [...], "unexpected": [...]}`` for a
    non-strict load, else ``{}``.
    """
    _set_num_threads(1)
    as_module(module, what)
    if dtype is not None:
        if not isinstance(dtype, _dtype_type):
            raise Refused("a module's dtype must be a torch dtype")
        run(_module_to, module, dtype)
        wrong = [name for name, value in state_of(module).items() if _is_floating_point(value) and _dtype(value) != dtype]
        if wrong:
            raise Refused(f"{what} kept {wrong[:3]} in another dtype after .to({dtype}); keep every tensor a parameter or a buffer")
    found = {}
    if loaded is not None:
        if not isinstance(loaded, dict) or not all(isinstance(k, str) and type(v) is _Tensor for k, v in loaded.items()):
            raise Refused("a state dict to load must map names to tensors")
        result = run(_load_state_dict, module, loaded, strict=strict)
        if not strict:
            found = {"missing": list(result.missing_keys), "unexpected": list(result.unexpected_keys)}
        now = state_of(module)
        differ = [k for k, v in loaded.items() if k in now and not (_shape(now[k]) == _shape(v) and _equal(now[k], v.to(_dtype(now[k]))))]
        if differ:
            raise Refused(f"after loading the state dict, {what} does not hold its values for {differ[:3]}")
    if train is not None:
        set_mode(module, train)
    return found


def forward(run, fn, args: list, kwargs: dict, module=None, train: bool | None = None, grad: bool = False):
    """``fn(*args, **kwargs)`` (a module, a function or a method), in ``train`` or eval mode when ``module`` is given.

    Runs under ``torch.no_grad()`` unless ``grad``. The result goes back as it is; the protocol
    sends any tensor in it as its plain data.
    """
    _set_num_threads(1)
    if module is not None and train is not None:
        set_mode(module, train)
    if grad:
        with _enable_grad():
            return run(fn, *args, **kwargs)
    with _no_grad():
        return run(fn, *args, **kwargs)


def vjp(run, fn, args: list, kwargs: dict, upstream, what: str, wrt=("inputs",), inputs: list[int] | None = None,
        module=None, train: bool | None = None) -> dict:
    """Gradients of ``sum(fn(*args, **kwargs) * upstream)`` with respect to inputs and/or parameters.

    - inputs: the positions of the arguments to differentiate with respect to (each a floating
      tensor, or a list or tuple of them); default: every such argument. Each is replaced by a
      copy that requires grad, so the student's code cannot hold on to the grader's tensors.
    - module: the ``nn.Module`` that ``fn`` is or belongs to, for ``wrt`` ``"params"`` and ``train``.

    Returns ``{"output": the output, detached, "inputs": [one gradient (or list of gradients)
    per differentiated argument], "params": {name: gradient}}`` (``nn.Module.named_parameters``
    order); a tensor the output does not depend on gets a zero gradient. The product is
    ``torch.autograd.grad(output, targets, grad_outputs=upstream)``, the same numbers as
    ``(output * upstream).sum().backward()``, without touching any ``.grad`` of the student's.
    """
    _set_num_threads(1)
    wrt = tuple(wrt)
    if not wrt or any(w not in WRT for w in wrt):
        raise Refused(f"wrt must name some of {WRT}, got {wrt}")
    if type(upstream) is not _Tensor or not _is_floating_point(upstream):
        raise Refused("the upstream gradient must be a floating tensor")
    if "params" in wrt and module is None:
        raise Refused(f"{what} is not a torch.nn.Module, so it has no parameters to differentiate")
    args = list(args)
    positions = inputs if inputs is not None else [i for i, a in enumerate(args) if _differentiable(a)] if "inputs" in wrt else []
    leaves: list = []
    for i in positions:
        if not isinstance(i, int) or not 0 <= i < len(args) or not _differentiable(args[i]):
            raise Refused(f"argument {i} of {what} is not a floating tensor (or a list of them) to differentiate")
        args[i] = _leaf_copies(args[i], leaves)
    params = []
    if "params" in wrt:
        params = named_parameters(module)
        frozen = [name for name, p in params if not _requires_grad(p)]
        if frozen:
            raise Refused(f"the parameters {frozen[:5]} of {what} do not require grad; every parameter must be trainable")
    if module is not None and train is not None:
        set_mode(module, train)
    with _enable_grad():
        out = run(fn, *args, **kwargs)
    _check_output(out, upstream, what)
    hooked = [f"argument {i}" for i in positions if _has_hooks(args[i])] + [name for name, p in params if _has_hooks(p)]
    if hooked:
        raise Refused(f"{what} put a backward hook on {', '.join(hooked[:5])}; remove the hook (register_hook): the grader "
                      f"computes the gradient from the forward pass alone")
    targets = leaves + [p for _, p in params]
    grads = run(_grad, (out,), targets, grad_outputs=(upstream,), allow_unused=True)
    grads = [_plain(g) if g is not None else _zeros_like(_plain(t)) for g, t in zip(grads, targets)]
    found = iter(grads[: len(leaves)])
    input_grads = [[next(found) for _ in args[i]] if isinstance(args[i], (list, tuple)) else next(found) for i in positions]
    param_grads = {name: g for (name, _), g in zip(params, grads[len(leaves):])}
    return {"output": _plain(out), "inputs": input_grads, "params": param_grads}


def _differentiable(value) -> bool:
    """A floating tensor, or a non-empty list or tuple of them."""
    if isinstance(value, (list, tuple)):
        return bool(value) and all(_differentiable(v) for v in value if not isinstance(v, (list, tuple))) \
            and not any(isinstance(v, (list, tuple)) for v in value)
    return isinstance(value, _Tensor) and _is_floating_point(_plain(value))


def _leaf_copies(value, leaves: list):
    """A copy of ``value`` (a tensor or a list/tuple of tensors) whose tensors are fresh leaves requiring grad."""
    if isinstance(value, (list, tuple)):
        copies = [_leaf_copies(v, leaves) for v in value]
        return copies if isinstance(value, list) else tuple(copies)
    leaf = _requires_grad_(_clone(_plain(value)))
    leaves.append(leaf)
    return leaf


def _has_hooks(value) -> bool:
    if isinstance(value, (list, tuple)):
        return any(_has_hooks(v) for v in value)
    return bool(_backward_hooks(value)) or bool(_accumulate_hooks(value))


def _check_output(out, upstream, what: str) -> None:
    if type(out) is not _Tensor:
        hint = "; return a plain torch.Tensor (not a subclass)" if isinstance(out, _Tensor) else ""
        raise Refused(f"{what} returned {_describe(out)}; expected a tensor of shape {tuple(_shape(upstream))}{hint}")
    if tuple(_shape(out)) != tuple(_shape(upstream)):
        raise Refused(f"{what} returned a tensor of shape {tuple(_shape(out))}; expected {tuple(_shape(upstream))}")
    if _dtype(out) != _dtype(upstream):
        raise Refused(f"{what} returned {_dtype(out)} for {_dtype(upstream)} inputs; keep the dtype of the inputs")
    if not _requires_grad(out):
        raise Refused(f"{what} returned a tensor that does not depend on what it is differentiated with respect to "
                      f"(did it use .detach(), .data, numpy or torch.no_grad()?)")
    if _backward_hooks(out):
        raise Refused(f"{what} returned a tensor with a backward hook (register_hook); the grader computes the gradient "
                      f"from the forward pass alone")


def tensor_info(value, depth: int = 0):
    """What a stored value is, read through torch's own descriptors: for a tensor ``{"type", "dtype",
    "shape", "requires_grad", "is_leaf", "device"}``; for a module the same for each named parameter
    (``"kind": "parameter"``) and buffer (``"kind": "buffer"``, ``"persistent"``: in the state dict);
    lists, tuples and dicts item by item; anything else ``{"type": its class name}``."""
    if depth > 16:
        return {"type": "too deeply nested"}
    if isinstance(value, _Tensor):
        return {"type": type(value).__qualname__, "dtype": str(_dtype(value)).removeprefix("torch."), "shape": tuple(_shape(value)),
                "requires_grad": _requires_grad(value), "is_leaf": _is_leaf(value), "device": str(_device(value))}
    if isinstance(value, _Module):
        saved = state_of(value)
        found = {name: {**tensor_info(p), "kind": "parameter"} for name, p in named_parameters(value)}
        found.update({name: {**tensor_info(b), "kind": "buffer", "persistent": name in saved} for name, b in named_buffers(value)})
        return found
    if type(value) in (list, tuple):
        return type(value)(tensor_info(v, depth + 1) for v in value)
    if type(value) is dict:
        return {k: tensor_info(v, depth + 1) for k, v in value.items() if isinstance(k, (str, int))}
    return {"type": type(value).__qualname__}


def structure(module, what: str) -> list[dict]:
    """Every submodule of ``module`` in registration order: ``{"name", "type" (module.Class),
    "config" (its ``__constants__``: kernel_size, padding, ...), "parameters" (own name -> shape)}``."""
    as_module(module, what)
    layers = []
    for name, sub in _walk(module):
        kind = type(sub)
        constants = getattr(kind, "__constants__", ())
        config = {}
        for key in constants if isinstance(constants, (list, tuple)) else ():
            value = getattr(sub, key, None) if isinstance(key, str) else None
            if isinstance(value, PLAIN) or (isinstance(value, tuple) and all(isinstance(v, PLAIN) for v in value)):
                config[key] = value
        own = {key: tuple(_shape(p)) for key, p in _object_getattribute(sub, "_parameters").items() if p is not None}
        layers.append({"name": name, "type": f"{kind.__module__}.{kind.__qualname__}", "config": config, "parameters": own})
    return layers


def optimizer_info(optimizer, module=None) -> dict:
    """An optimizer's class, defaults and parameter groups, each group's hyper-parameters and the
    names of its parameters in ``module`` (``"?"`` for a tensor that is not one of them)."""
    kind = type(optimizer)
    groups = getattr(optimizer, "param_groups", None) if isinstance(optimizer, _Optimizer) else None
    if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
        raise Refused(f"the optimizer is {_describe(optimizer)}; expected a torch.optim.Optimizer")
    names = {id(p): name for name, p in named_parameters(module)} if isinstance(module, _Module) else {}
    found = []
    for group in groups:
        hyper = {k: v for k, v in group.items() if k != "params" and isinstance(k, str) and _plain_value(v)}
        params = group.get("params", [])
        found.append({**hyper, "params": [names.get(id(p), "?") for p in params] if isinstance(params, list) else []})
    defaults = getattr(optimizer, "defaults", {})
    return {"type": f"{kind.__module__}.{kind.__qualname__}", "groups": found,
            "defaults": {k: v for k, v in defaults.items() if isinstance(k, str) and _plain_value(v)} if isinstance(defaults, dict) else {}}


def _plain_value(value) -> bool:
    return isinstance(value, PLAIN) or (isinstance(value, tuple) and all(isinstance(v, PLAIN) for v in value))
