"""Pickle-free artifact files: the one saved-model format of the course.

numpy models (a1): an artifact called ``name`` is two files in a folder (``artifacts/`` by default):

- ``<name>.npz``: the named numpy arrays, written with ``np.savez`` and read back with
  ``np.load(allow_pickle=False)``, so loading never executes code;
- ``<name>.json``: ``{"meta": <your JSON-serialisable dict>, "arrays": [sorted array names]}``.

torch models (a2 on; :func:`save_torch_model`, :func:`load_torch_model`):

- ``<name>.safetensors``: the model's state dict in the safetensors format (an 8-byte header
  length, a JSON header giving each tensor's dtype, shape and byte range, then the raw bytes),
  written and read with the ``safetensors`` package: no pickle at all;
- ``<name>.json``: ``{"format": "dl-course torch model", "version": 1, "constructor": {...},
  "log": {...}, "tensors": [sorted names]}``: the keyword arguments that rebuild the
  architecture, and the training log (one entry per epoch in each of its lists).

A weights file may instead be a ``.pt``/``.pth`` written by ``torch.save`` (its zip format),
read with ``torch.load(weights_only=True)``; published pretrained weights come that way. Every
reader takes ``max_bytes`` and checks it from the file's header, before loading anything
(:func:`torch_state_bytes`, :func:`array_bytes`).

Files are written to temporary files first and renamed into place, so an interrupted save never
leaves a half-written artifact behind. They get the permissions of any new file (``0o666`` less
the process's umask), so a course staff member or a grader running as another user can read
them where the umask allows. The grader reads trained weights from these files.
"""
from __future__ import annotations

import io
import json
import math
import os
import secrets
import struct
import zipfile
from pathlib import Path
from typing import Mapping

import numpy as np

DEFAULT_DIR = Path("artifacts")
TORCH_FORMAT = "dl-course torch model"
TORCH_FORMAT_VERSION = 1
TORCH_WEIGHT_SUFFIXES = (".safetensors", ".pt", ".pth")  # looked for in this order
SAFETENSORS_DTYPES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}
MAX_HEADER_BYTES = 16 * 2**20  # a safetensors header of a state dict with ~100,000 tensors


def _atomic_write(path: Path, write) -> None:
    """Call ``write(fileobj)`` on a temporary file beside ``path`` and rename it onto ``path``.

    The temporary file is created with mode ``0o666``, which the kernel narrows by the umask as
    for any new file (``tempfile.mkstemp`` would make it ``0o600``, private to its owner).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(8)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def save(name: str, directory: str | os.PathLike = DEFAULT_DIR, meta: dict | None = None, **arrays) -> Path:
    """Save numpy arrays (keyword arguments) and a JSON ``meta`` dict as artifact ``name``.

    Returns the path of the ``.npz`` file. Raises ``TypeError`` for a value that is not an array
    of numbers or for meta that JSON cannot encode, before anything is written.
    """
    clean = {}
    for key, value in arrays.items():
        array = np.asarray(value)
        if array.dtype == object:
            raise TypeError(f"artifact {name!r}: array {key!r} has dtype object; only numeric arrays can be saved")
        clean[key] = array
    meta_text = json.dumps({"meta": meta or {}, "arrays": sorted(clean)}, indent=2, sort_keys=True)
    directory = Path(directory)
    npz_path = directory / f"{name}.npz"
    _atomic_write(npz_path, lambda f: np.savez(f, **clean))
    _atomic_write(directory / f"{name}.json", lambda f: f.write(meta_text.encode()))
    return npz_path


def array_bytes(npz_path: str | os.PathLike) -> int:
    """The memory the arrays of an ``.npz`` file take once loaded, read from its headers alone.

    Counts both what each member's numpy header claims (``np.load`` allocates that) and the
    member's declared uncompressed size (a compressed member of zeros is tiny on disk and huge
    in memory). Raises ``ValueError`` for a file that is not an ``.npz`` of plain ``.npy`` arrays.
    """
    try:
        with zipfile.ZipFile(npz_path) as archive:
            total = 0
            for info in archive.infolist():
                with archive.open(info) as member:
                    version = np.lib.format.read_magic(member)
                    if version not in ((1, 0), (2, 0)):
                        raise ValueError(f"{info.filename} has .npy format version {version}")
                    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                    shape, _, dtype = read_header(member)
                total += max(int(np.prod(shape, dtype=object)) * dtype.itemsize, info.file_size)
            return total
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ValueError(f"{Path(npz_path).name} is not an .npz archive of arrays ({exc})") from exc


def load(name: str, directory: str | os.PathLike = DEFAULT_DIR, *, max_bytes: int | None = None) -> tuple[dict[str, np.ndarray], dict]:
    """Load artifact ``name``; returns ``(arrays, meta)``.

    ``max_bytes`` bounds the memory the arrays may take (:func:`array_bytes`), checked before any
    array is read: a grader loading files it did not write sets it. Raises ``FileNotFoundError``
    naming the missing file, and ``ValueError`` when the two files disagree, the ``.json`` is not
    the dict :func:`save` writes, the ``.npz`` is over ``max_bytes`` or cannot be read without
    pickles.
    """
    directory = Path(directory)
    npz_path, json_path = directory / f"{name}.npz", directory / f"{name}.json"
    for path in (npz_path, json_path):
        if not path.is_file():
            raise FileNotFoundError(f"artifact file {path} is missing; run the cell that saves {name!r} first")
    try:
        info = json.loads(json_path.read_text())
        size = array_bytes(npz_path)
        if max_bytes is not None and size > max_bytes:
            raise ValueError(f"its arrays take {size / 2**20:,.0f} MiB in memory, over the {max_bytes / 2**20:,.0f} MiB limit")
        with np.load(npz_path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (ValueError, OSError, RecursionError) as exc:  # RecursionError: absurdly nested JSON
        raise ValueError(f"artifact {name!r} in {directory} cannot be read: {exc}") from exc
    if not isinstance(info, dict) or not isinstance(info.get("meta"), dict):
        raise ValueError(f"artifact {name!r}: {json_path.name} is not a saved artifact's description (a dict with 'meta'); save it again")
    if sorted(arrays) != info.get("arrays"):
        raise ValueError(f"artifact {name!r}: {npz_path.name} holds {sorted(arrays)} but {json_path.name} lists {info.get('arrays')}")
    return arrays, info["meta"]


# --------------------------------------------------------------------------------------------
# torch models: safetensors weights and a JSON description


def save_torch_model(model, name: str, constructor: dict | None = None, log: dict | None = None,
                     directory: str | os.PathLike = DEFAULT_DIR) -> Path:
    """Save a torch model as ``<name>.safetensors`` (its state dict) and ``<name>.json`` in ``directory``.

    - model: an ``nn.Module`` (its ``state_dict()``: parameters and persistent buffers) or a
      state dict (``str -> Tensor``). Tensors are saved from the CPU, as plain tensors; weights
      shared by several names (tied layers) are saved once per name.
    - constructor: the keyword arguments that rebuild the architecture (``builder(**constructor)``),
      JSON-serialisable; None for a builder without arguments.
    - log: the training log, each value a list with one entry per epoch, e.g. ``{"val_acc":
      [0.58, 0.66, ...], "train_loss": [...]}`` (:func:`logged_epochs` counts them).

    Returns the path of the ``.safetensors`` file. Raises ``TypeError`` for a state dict that is
    not names -> tensors or a description JSON cannot encode, and ``ValueError`` for a log whose
    lists differ in length, before anything is written.
    """
    import torch
    from safetensors.torch import save as safetensors_bytes

    state = model.state_dict() if isinstance(model, torch.nn.Module) else model
    if not isinstance(state, Mapping):
        raise TypeError(f"torch model {name!r}: expected an nn.Module or a state dict, got {type(model).__name__}")
    tensors = {}
    for key, value in state.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise TypeError(f"torch model {name!r}: the state dict maps {key!r} to a {type(value).__name__}; "
                            f"only names -> tensors can be saved")
        # a copy of its own (safetensors refuses tensors sharing memory), plain, on the CPU
        tensors[key] = value.detach().to("cpu").clone().contiguous().as_subclass(torch.Tensor)
    if log is not None:
        logged_epochs(log)  # refuse a malformed log now, not when it is graded
    description = {"format": TORCH_FORMAT, "version": TORCH_FORMAT_VERSION, "constructor": constructor or {},
                   "log": log or {}, "tensors": sorted(tensors)}
    text = json.dumps(description, indent=2, sort_keys=True)
    data = safetensors_bytes(tensors, metadata={"format": "pt"})
    directory = Path(directory)
    path = directory / f"{name}.safetensors"
    _atomic_write(path, lambda f: f.write(data))
    _atomic_write(directory / f"{name}.json", lambda f: f.write(text.encode()))
    return path


def logged_epochs(log: Mapping) -> int:
    """The number of epochs a training log shows: the common length of its lists.

    Raises ``ValueError`` for a log that is not a dict of lists of one length (0 for an empty log).
    """
    if not isinstance(log, Mapping) or not all(isinstance(v, list) for v in log.values()):
        raise ValueError("a training log must be a dict of lists, one entry per epoch, e.g. {'val_acc': [0.58, 0.66]}")
    lengths = {key: len(value) for key, value in log.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"the lists of a training log must have one entry per epoch each; their lengths are {lengths}")
    return next(iter(lengths.values()), 0)


def torch_weights_path(name: str, directory: str | os.PathLike = DEFAULT_DIR) -> Path:
    """The weights file of torch model ``name``: ``<name>.safetensors``, else ``.pt``, else ``.pth``.

    Raises ``FileNotFoundError`` naming the expected file when there is none.
    """
    directory = Path(directory)
    for suffix in TORCH_WEIGHT_SUFFIXES:
        if (directory / f"{name}{suffix}").is_file():
            return directory / f"{name}{suffix}"
    raise FileNotFoundError(f"artifact file {directory / name}.safetensors is missing; run the cell that saves {name!r} first")


def torch_state_bytes(path: str | os.PathLike) -> int:
    """The memory the tensors of a weights file take once loaded, read from its header alone.

    ``.safetensors``: the byte ranges its header gives, checked against the dtypes, shapes and the
    file's size. ``.pt``/``.pth``: the sizes of the members of ``torch.save``'s zip format (its
    storages are members; the legacy format, a bare pickle whose storages declare their own
    sizes, is refused). Raises ``ValueError`` for anything else.
    """
    path = Path(path)
    with open(path, "rb") as f:
        return _state_bytes(f, path.stat().st_size, path.suffix, path.name)


def load_torch_state(path: str | os.PathLike, max_bytes: int | None = None) -> dict:
    """The state dict (``str -> torch.Tensor``, plain CPU tensors) of a weights file, loaded safely.

    ``.safetensors`` files are read with the ``safetensors`` package; ``.pt``/``.pth`` files (the
    zip format of ``torch.save``) with ``torch.load(weights_only=True)``, and must hold a dict of
    names -> tensors. ``max_bytes`` bounds the tensors' memory (:func:`torch_state_bytes`) and the
    file's size, checked from the header before the file is read; the file is then read once and
    its bytes checked again, so what is checked is what is loaded. Raises ``ValueError`` naming
    the file for anything else (a pickle, a truncated or inconsistent header, a file over the limit).
    """
    import torch

    path = Path(path)
    limit = math.inf if max_bytes is None else max_bytes
    size = max(torch_state_bytes(path), path.stat().st_size - MAX_HEADER_BYTES)
    if size > limit:
        raise ValueError(f"{path.name}: its tensors take {size / 2**20:,.1f} MiB in memory, over the {limit / 2**20:,.1f} MiB limit")
    data = path.read_bytes()
    if _state_bytes(io.BytesIO(data), len(data), path.suffix, path.name) > limit:
        raise ValueError(f"{path.name} grew over the limit while it was read")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load as safetensors_load

        try:
            state = safetensors_load(data)
        except (SafetensorError, ValueError, RuntimeError) as exc:
            raise ValueError(f"{path.name} is not a readable safetensors file: {exc}") from None
    else:
        try:
            state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        except Exception as exc:  # the weights-only unpickler refuses anything but tensors and plain containers
            raise ValueError(f"{path.name} cannot be loaded with torch.load(weights_only=True): {exc}") from None
    if not isinstance(state, Mapping):
        raise ValueError(f"{path.name} holds a {type(state).__name__}; a weights file must hold a state dict (names -> tensors)")
    plain = {}
    for key, value in state.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise ValueError(f"{path.name} maps {key!r} to a {type(value).__name__}; a state dict maps names to tensors")
        plain[key] = value.detach().as_subclass(torch.Tensor)  # an nn.Parameter becomes its plain data
    return plain


def load_torch_model(name: str, directory: str | os.PathLike = DEFAULT_DIR, *, max_bytes: int | None = None) -> tuple[dict, dict]:
    """Load torch model ``name`` saved by :func:`save_torch_model`; returns ``(state_dict, description)``.

    ``description`` is the JSON's dict: ``constructor`` (keyword arguments of the builder), ``log``
    (the training log), ``version``. The weights file is found by :func:`torch_weights_path` and
    read by :func:`load_torch_state` (``max_bytes``). Raises ``FileNotFoundError`` naming a missing
    file, and ``ValueError`` when the JSON is not a description this module writes, the two files
    disagree, or the weights cannot be read safely.
    """
    directory = Path(directory)
    weights, json_path = torch_weights_path(name, directory), directory / f"{name}.json"
    if not json_path.is_file():
        raise FileNotFoundError(f"artifact file {json_path} is missing; run the cell that saves {name!r} first")
    try:
        description = json.loads(json_path.read_text())
    except (ValueError, OSError, RecursionError) as exc:
        raise ValueError(f"artifact {name!r}: {json_path.name} cannot be read: {exc}") from None
    if not (isinstance(description, dict) and description.get("format") == TORCH_FORMAT
            and isinstance(description.get("constructor"), dict) and isinstance(description.get("log"), dict)):
        raise ValueError(f"artifact {name!r}: {json_path.name} is not a saved torch model's description; "
                         f"save the model with dl.artifacts.save_torch_model")
    if description.get("version") != TORCH_FORMAT_VERSION:
        raise ValueError(f"artifact {name!r}: {json_path.name} has format version {description.get('version')!r}; "
                         f"this course reads version {TORCH_FORMAT_VERSION}: save the model again")
    state = load_torch_state(weights, max_bytes)
    listed = description.get("tensors")
    if listed is not None and listed != sorted(state):
        raise ValueError(f"artifact {name!r}: {weights.name} holds {len(state)} tensors that {json_path.name} does not list; "
                         f"save the model again")
    return state, description


def _state_bytes(file, file_size: int, suffix: str, shown: str) -> int:
    """:func:`torch_state_bytes` of an open weights file (or its bytes) of ``file_size`` bytes."""
    if suffix == ".safetensors":
        head = file.read(8)
        length = _safetensors_header_length(head, file_size, shown)
        return _safetensors_entries(head + file.read(length), file_size, shown)[1]
    if suffix in (".pt", ".pth"):
        return _torch_zip_bytes(file, shown)
    raise ValueError(f"{shown}: a weights file must end in .safetensors, .pt or .pth")


def _safetensors_header_length(head: bytes, file_size: int, shown: str) -> int:
    if len(head) < 8:
        raise ValueError(f"{shown} is not a safetensors file: shorter than its 8-byte header length")
    (length,) = struct.unpack("<Q", head[:8])
    if length > MAX_HEADER_BYTES or 8 + length > file_size:
        raise ValueError(f"{shown} is not a safetensors file: its header length {length} does not fit the file "
                         f"({file_size} bytes; a pickle or another format?)")
    return length


def _safetensors_entries(data: bytes, file_size: int, shown: str) -> tuple[dict, int]:
    """The header of a safetensors file (``data`` holds at least the header) and its tensors' total bytes.

    Every entry must have a known dtype, a shape of non-negative ints and a byte range of exactly
    its size; the ranges must tile the data that follows the header, as the format requires.
    """
    length = _safetensors_header_length(data, file_size, shown)
    try:
        header = json.loads(data[8 : 8 + length].decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ValueError(f"{shown} is not a safetensors file: its header is not JSON ({exc})") from None
    if not isinstance(header, dict):
        raise ValueError(f"{shown} is not a safetensors file: its header is not a JSON object")
    entries, ranges = {}, []
    for key, entry in header.items():
        if key == "__metadata__":
            continue
        if not (isinstance(entry, dict) and set(entry) == {"dtype", "shape", "data_offsets"}
                and entry["dtype"] in SAFETENSORS_DTYPES and isinstance(entry["shape"], list)
                and all(type(n) is int and n >= 0 for n in entry["shape"]) and isinstance(entry["data_offsets"], list)
                and len(entry["data_offsets"]) == 2 and all(type(n) is int for n in entry["data_offsets"])):
            raise ValueError(f"{shown}: the header entry of {key!r} is not a tensor description (dtype, shape, data_offsets) "
                             f"of a supported dtype")
        begin, end = entry["data_offsets"]
        if end - begin != math.prod(entry["shape"]) * SAFETENSORS_DTYPES[entry["dtype"]] or begin < 0:
            raise ValueError(f"{shown}: tensor {key!r} of shape {tuple(entry['shape'])} does not fill its byte range")
        entries[key] = entry
        ranges.append((begin, end))
    data_bytes = file_size - 8 - length
    position = 0
    for begin, end in sorted(ranges):
        if begin != position:
            raise ValueError(f"{shown}: the tensors' byte ranges overlap or leave gaps")
        position = end
    if position != data_bytes:
        raise ValueError(f"{shown}: the header describes {position} bytes of tensors, the file holds {data_bytes}")
    return entries, data_bytes


def _torch_zip_bytes(file, shown: str) -> int:
    """The total size of the members of a ``torch.save`` zip file (its storages are members)."""
    try:
        with zipfile.ZipFile(file) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ValueError(f"{shown} is not a torch.save file in its zip format (a bare pickle, or the legacy format, "
                         f"is refused: {exc}); save it again with torch.save, or with save_torch_model") from None
    if not any(info.filename.endswith("/data.pkl") or info.filename == "data.pkl" for info in members):
        raise ValueError(f"{shown} is a zip archive but not one written by torch.save (it has no data.pkl)")
    return sum(info.file_size for info in members)
