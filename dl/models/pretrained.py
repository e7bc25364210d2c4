"""Published pretrained weights: the one loader for plain state-dict files, and their stand-ins.

Every network of ``dl/models`` that has published weights (SqueezeNet 1.1, ResNet-50, RegNetX-400MF;
CURRICULUM §8) names its submodules so that the published state dict loads into it unchanged. Such a
file is a plain state dict: a dict from key to tensor written by ``torch.save``. It is read with
``torch.load(weights_only=True)``, which rebuilds tensors and plain containers only and refuses any
pickle that would run code; its size is checked before reading and its keys and shapes are checked
against the architecture, naming the first key that differs.

A model's constructor takes ``weights``: ``None`` (its own random initialisation), a path, or
``"default"``: the registry file (:mod:`dl.data.download.registry`), downloaded into the data folder
if missing. In smoke mode (``DL_SMOKE=1``) ``"default"`` means a file of random weights in the same
layout, generated once into a folder marked as a fixture, and read by the same loader.
"""
from __future__ import annotations

import json
import os
import pickle
import re
import tempfile
from collections.abc import Collection, Mapping
from pathlib import Path

import torch
from torch import nn

from dl.data.download import DownloadError, data_dir, download
from dl.data.integrity import FIXTURE_MARKER, checksums_waived
from dl.utils import smoke_mode

DEFAULT = "default"
FIXTURE_FOLDER = "weights"  # under data_dir()/fixtures
_SIZE_MARGIN = 1 << 20  # bytes a weights file may hold besides twice its tensors' data


def load_published_state(path: str | os.PathLike, model: nn.Module, drop_keys: Collection[str] = ()) -> nn.Module:
    """Load the state dict in the file ``path`` into ``model`` with ``strict=True``; return ``model``.

    ``drop_keys`` names entries to discard first: a key is dropped when it equals a name in
    ``drop_keys`` or ends with ``"." + name`` (``drop_keys=("total_ops", "total_params")`` drops the
    counters a profiling tool added to every module of a checkpoint).

    Checks, in order, each failure a ValueError naming the file: the file is at most twice the size
    of the model's tensors plus 1 MiB (checked before reading it); it loads with
    ``torch.load(weights_only=True)`` (a pickle that would import or call anything is refused); it
    holds a mapping from str to plain tensors; its keys are exactly the model's, with the same
    shapes and the same kind (floating point or not). The first key that is missing, has another
    shape or kind, or is not in the model is named with both shapes.
    """
    path = Path(path)
    expected = model.state_dict()
    name = type(model).__name__
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    limit = 2 * sum(t.numel() * t.element_size() for t in expected.values()) + _SIZE_MARGIN
    size = path.stat().st_size
    if size > limit:
        raise ValueError(
            f"{path}: {size:,} bytes, more than the {limit:,} that the weights of {name} can take; "
            f"this is not a weights file for {name}"
        )
    state = _read_state(path)
    state = {k: v for k, v in state.items() if not any(k == d or k.endswith("." + d) for d in drop_keys)}
    problem = _first_mismatch(state, expected)
    if problem:
        raise ValueError(f"{path} does not fit {name}: {problem}")
    model.load_state_dict(state, strict=True)
    return model


def _read_state(path: Path) -> dict[str, torch.Tensor]:
    """The plain state dict in ``path``, read with ``weights_only=True`` and checked to be one."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch's message also suggests weights_only=False, which is exactly what must not be done,
        # so only the name of the refused global (or the unpickler's complaint) is passed on
        forbidden = re.search(r"\bGLOBAL (\S+)", str(exc))
        if forbidden:
            raise ValueError(
                f"{path}: refused, the file is not plain tensors: loading it would call or rebuild "
                f"{forbidden.group(1)}. A weights file must hold only tensors in plain containers."
            ) from exc
        detail = str(exc).partition("WeightsUnpickler error:")[2].strip().split("\n")[0] or "UnpicklingError"
        raise ValueError(f"{path}: not a readable torch weights file ({detail})") from exc
    except Exception as exc:  # a damaged zip or pickle fails in many ways; all mean "unreadable"
        raise ValueError(f"{path}: not a readable torch weights file ({type(exc).__name__}: {exc})") from exc
    if not isinstance(state, Mapping):
        raise ValueError(f"{path}: expected a state dict (a dict of tensors); found {type(state).__name__}")
    for key, value in state.items():
        if not isinstance(key, str):
            raise ValueError(f"{path}: state dict keys must be strings; found {key!r}")
        if type(value) not in (torch.Tensor, nn.Parameter):
            raise ValueError(f"{path}: {key!r} must be a plain tensor; found {type(value).__name__}")
    return dict(state)


def _first_mismatch(state: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor]) -> str | None:
    """A sentence naming the first key (in the model's order) where ``state`` differs, or None."""
    for key, want in expected.items():
        if key not in state:
            return f"key {key!r} (shape {tuple(want.shape)}) is missing from the file"
        got = state[key]
        if got.shape != want.shape:
            return f"key {key!r} has shape {tuple(got.shape)} in the file but {tuple(want.shape)} in the model"
        if got.is_floating_point() != want.is_floating_point():
            return f"key {key!r} is {got.dtype} in the file but {want.dtype} in the model"
    extra = [key for key in state if key not in expected]
    if extra:
        return f"key {extra[0]!r} (shape {tuple(state[extra[0]].shape)}) is not in the model"
    return None


def random_state(model: nn.Module, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random values for every entry of ``model.state_dict()``: same keys, shapes and dtypes.

    Drawn from ``torch.Generator`` seeded with ``seed`` (the global RNG is untouched), entry by
    entry in the model's order: entries of two or more dimensions ~ N(0, 2 / fan_in) (He et al.,
    "Delving Deep into Rectifiers", 2015, arXiv:1502.01852), where fan_in is the number of elements
    per output unit (``entry[0]``); 1-D ``weight`` entries (normalisation scales) 1 + N(0, 0.1²);
    ``running_var`` uniform in [0.5, 1.5]; every other floating entry (biases, ``running_mean``)
    N(0, 0.1²); integer entries (``num_batches_tracked``) zero.
    """
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, ref in model.state_dict().items():
        shape, dtype = ref.shape, ref.dtype
        if not ref.is_floating_point():
            value = torch.zeros(shape, dtype=dtype)
        elif key.endswith("running_var"):
            value = 0.5 + torch.rand(shape, generator=generator)
        elif ref.dim() >= 2:
            fan_in = ref[0].numel()
            value = torch.randn(shape, generator=generator) * (2.0 / fan_in) ** 0.5
        elif key.endswith("weight"):
            value = 1.0 + 0.1 * torch.randn(shape, generator=generator)
        else:
            value = 0.1 * torch.randn(shape, generator=generator)
        state[key] = value.to(dtype)
    return state


def write_random_state(model: nn.Module, path: str | os.PathLike, seed: int = 0) -> Path:
    """Write :func:`random_state` of ``model`` to ``path`` as a published file is written: a plain
    dict of tensors saved with ``torch.save``, loadable with ``weights_only=True``. The file appears
    atomically (written beside it, then renamed). Returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        torch.save(random_state(model, seed), tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the published file should not be
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def ensure_random_weights(name: str, model: nn.Module, root: str | os.PathLike | None = None) -> Path:
    """The random stand-in for registry entry ``name``: ``<root>/<name>-random.pth``, written on
    first use by :func:`write_random_state` (seed 0) in the layout of ``model``.

    ``root`` defaults to ``data_dir()/fixtures/weights``; the folder carries the fixture marker, so
    loaders accept its files only in smoke mode or under pytest.
    """
    root = Path(root) if root is not None else data_dir() / "fixtures" / FIXTURE_FOLDER
    root.mkdir(parents=True, exist_ok=True)
    marker = root / FIXTURE_MARKER
    if not marker.exists():
        note = {
            "generated": True,
            "by": "dl.models.pretrained.write_random_state",
            "format": "plain state dicts (torch.save), the key layout of the published weights",
            "values": "random (seed 0); these are not pretrained weights",
        }
        fd, tmp = tempfile.mkstemp(prefix=f".{FIXTURE_MARKER}.", dir=root)
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(note, indent=2) + "\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, marker)
    path = root / f"{name}-random.pth"
    if not path.exists():
        write_random_state(model, path)
    return path


def load_weights(
    model: nn.Module, weights: str | os.PathLike | None, name: str, drop_keys: Collection[str] = ()
) -> nn.Module:
    """Apply a constructor's ``weights`` argument to ``model`` (returned) for registry entry ``name``.

    - ``None``: keep the model's own initialisation.
    - ``"default"``: in smoke mode the random stand-in (:func:`ensure_random_weights`); otherwise the
      registry file in the data folder, verified, and downloaded first if missing
      (:func:`dl.data.download.download`). Offline, the DownloadError names the file, where to put
      it and the command that fetches it.
    - a path: that file. A generated file (in a folder with the fixture marker) is accepted only in
      smoke mode or under pytest.

    Every file is read by :func:`load_published_state` with ``drop_keys``.
    """
    if weights is None:
        return model
    if weights == DEFAULT:
        path = ensure_random_weights(name, model) if smoke_mode() else _published_file(name)
    else:
        path = Path(weights)
        checksums_waived(path.parent)  # raises for a generated file outside smoke mode and the tests
    return load_published_state(path, model, drop_keys)


def _published_file(name: str) -> Path:
    try:
        return download(name)
    except DownloadError as exc:
        raise type(exc)(
            f"the pretrained weights {name!r} are not available: {exc}\n"
            f"(Smoke mode, DL_SMOKE=1, uses random weights in the same layout instead.)"
        ) from exc
