"""Messages between the grader (the parent process) and the worker that runs student code.

A message is one length-prefixed frame::

    b"DLAG" | json_length (u32, big-endian) | blob_length (u64) | JSON header | blob

The JSON header is ``{"v": <value>, "arrays": [n_bytes, ...]}``; ``blob`` is the concatenation
of the ``.npy`` files of those arrays, written by numpy's format writer and read back with
``allow_pickle=False``, so decoding never runs code. A value is a tree:

- ``None``, ``bool``, ``int``, ``float`` (NaN and infinities allowed) and ``str`` as plain JSON;
- ``{"list": [...]}``, ``{"tuple": [...]}``, ``{"dict": [[key, value], ...]}`` (keys are
  ``str`` or ``int``);
- ``{"array": i}``: the i-th array of the blob; only numeric and boolean dtypes;
- ``{"tensor": [i, "float32"]}``: a torch tensor, the i-th array of the blob holding its data
  (``bfloat16`` travels as ``int16`` bits); dense, strided and on the CPU once decoded, without
  ``requires_grad`` or autograd history; a subclass (``nn.Parameter`` or anything else) is sent as
  its plain data, so the receiver only ever builds a plain ``torch.Tensor``; a state dict is a
  dict of these;
- ``{"handle": name}``: an object stored in the worker (requests only, see :class:`Handle`);
- ``{"dtype": "float64"}``: a numpy scalar type such as ``np.float64``, and
  ``{"torch_dtype": "float32"}`` a torch dtype such as ``torch.float32`` (requests only).

torch is imported only to encode or decode a tensor or torch dtype (grading a numpy assignment
never imports it).

Every JSON object is a tagged node, so no plain value can be mistaken for one. Decoding checks
the frame size, the nesting depth, the number of nodes, string lengths and array dtypes before
anything reaches a check; whatever fails raises :class:`ProtocolError`.
"""
from __future__ import annotations

import io
import json
import os
import select
import struct
import sys
import time
from dataclasses import dataclass

import numpy as np

MAGIC = b"DLAG"
FRAME_HEADER = struct.Struct(">4sIQ")
ARRAY_KINDS = "biufc"  # bool, signed, unsigned, float, complex
DTYPES = ("float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool")
TENSOR_DTYPES = (*DTYPES, "bfloat16")

# Bound once at import, before any student code runs in the worker: a student cell that
# monkeypatches numpy's or json's functions cannot change how messages are written or read.
_write_array = np.lib.format.write_array
_read_array = np.lib.format.read_array
_json_dumps = json.dumps
_json_loads = json.loads


class ProtocolError(Exception):
    """A frame or value that breaks the protocol: malformed, oversized, or of a forbidden type."""


class ChannelClosed(ProtocolError):
    """The other end closed the channel (the worker exited or was killed)."""


class ChannelTimeout(ProtocolError):
    """No complete message arrived before the deadline."""


class UnsupportedValue(TypeError):
    """A value that the protocol cannot carry (e.g. a custom object or an object array)."""


@dataclass(frozen=True)
class Handle:
    """Names an object kept inside the worker (a forward's cache, a model); it never leaves it."""

    name: str


@dataclass(frozen=True)
class Limits:
    """Bounds that a decoded message must respect."""

    max_bytes: int = 64 * 2**20
    max_depth: int = 32
    max_nodes: int = 200_000
    max_str: int = 2**20


# --------------------------------------------------------------------------------------------
# Values <-> frames


def pack(message: dict) -> bytes:
    """One frame holding ``message`` (a dict); raises :class:`UnsupportedValue` for what cannot be sent."""
    arrays: list[bytes] = []
    tree = _encode(message, arrays, depth=0)
    header = _json_dumps({"v": tree, "arrays": [len(a) for a in arrays]}, allow_nan=True, separators=(",", ":")).encode()
    blob = b"".join(arrays)
    return FRAME_HEADER.pack(MAGIC, len(header), len(blob)) + header + blob


def _encode(value, arrays: list[bytes], depth: int, where: str = "value"):
    if depth > Limits.max_depth:
        raise UnsupportedValue(f"{where} is nested more than {Limits.max_depth} levels deep")
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)):
        return int(value) if isinstance(value, int) else float(value)  # plain types, not subclasses
    if isinstance(value, Handle):
        return {"handle": value.name}
    torch = sys.modules.get("torch")  # a tensor exists only where torch was imported
    if torch is not None and isinstance(value, torch.Tensor):
        return _encode_tensor(torch, value, arrays, where)
    if torch is not None and isinstance(value, torch.dtype):
        name = str(value).removeprefix("torch.")
        if name not in TENSOR_DTYPES:
            raise UnsupportedValue(f"{where} is the dtype {value}, which cannot be sent")
        return {"torch_dtype": name}
    if isinstance(value, type) and issubclass(value, np.generic):
        name = np.dtype(value).name
        if name not in DTYPES:
            raise UnsupportedValue(f"{where} is the dtype {name}, which cannot be sent")
        return {"dtype": name}
    if isinstance(value, np.generic) and np.dtype(value.dtype).kind in "biuf":
        return value.item()
    if isinstance(value, (np.ndarray, np.generic)):
        array = np.asarray(value)
        if array.dtype.kind not in ARRAY_KINDS:
            raise UnsupportedValue(f"{where} is an array of dtype {array.dtype}; only numeric and boolean arrays can be sent")
        buffer = io.BytesIO()
        _write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
        arrays.append(buffer.getvalue())
        return {"array": len(arrays) - 1}
    if isinstance(value, (list, tuple)):
        items = [_encode(v, arrays, depth + 1, f"{where}[{i}]") for i, v in enumerate(value)]
        return {"tuple" if isinstance(value, tuple) else "list": items}
    if isinstance(value, dict):
        pairs = []
        for key, item in value.items():
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                raise UnsupportedValue(f"{where} has a key of type {type(key).__name__}; only str and int keys can be sent")
            pairs.append([str(key) if isinstance(key, str) else int(key), _encode(item, arrays, depth + 1, f"{where}[{key!r}]")])
        return {"dict": pairs}
    raise UnsupportedValue(f"{where} is a {type(value).__name__}, which cannot be sent; use numpy arrays, numbers, "
                           f"strings, None, and lists, tuples or dicts of these")


def _encode_tensor(torch, value, arrays: list[bytes], where: str):
    """A tensor's node; its data (detached, on the CPU, contiguous) is appended to ``arrays`` as ``.npy``.

    A subclass's ``__torch_function__`` is switched off while its data are read, so a subclass
    cannot change how it is encoded; only its plain values travel.
    """
    with torch._C.DisableTorchFunctionSubclass():
        if value.layout != torch.strided or value.is_quantized or value.is_meta or value.is_complex():
            raise UnsupportedValue(f"{where} is a {value.layout} tensor of dtype {value.dtype}; only dense real tensors can be sent")
        name = str(value.dtype).removeprefix("torch.")
        if name not in TENSOR_DTYPES:
            raise UnsupportedValue(f"{where} is a tensor of dtype {value.dtype}, which cannot be sent")
        plain = torch.Tensor.contiguous(torch.Tensor.cpu(torch.Tensor.detach(value)))
        if name == "bfloat16":
            plain = plain.view(torch.int16)  # numpy has no bfloat16: its bits travel as int16
        array = np.array(plain.numpy(), copy=True)
    buffer = io.BytesIO()
    _write_array(buffer, array, allow_pickle=False)
    arrays.append(buffer.getvalue())
    return {"tensor": [len(arrays) - 1, name]}


def unpack(frame: bytes, limits: Limits = Limits(), handles: dict | None = None, allow_dtypes: bool = False) -> dict:
    """Decode one frame into a dict; ``handles`` resolves handle nodes (None: they are refused).

    Raises :class:`ProtocolError` for anything malformed, oversized or of a forbidden type.
    """
    if len(frame) < FRAME_HEADER.size:
        raise ProtocolError(f"frame of {len(frame)} bytes is shorter than its header")
    magic, json_length, blob_length = FRAME_HEADER.unpack_from(frame)
    if magic != MAGIC:
        raise ProtocolError("frame does not start with the protocol's magic bytes")
    if FRAME_HEADER.size + json_length + blob_length != len(frame):
        raise ProtocolError("frame length does not match its header")
    if len(frame) > limits.max_bytes:
        raise ProtocolError(f"message of {len(frame)} bytes is over the {limits.max_bytes}-byte limit")
    start = FRAME_HEADER.size
    try:
        header = _json_loads(frame[start : start + json_length].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError(f"message header is not valid JSON: {exc}") from None
    if not isinstance(header, dict) or not isinstance(header.get("arrays"), list):
        raise ProtocolError("message header lacks its array table")
    sizes = header["arrays"]
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in sizes) or sum(sizes) != blob_length:
        raise ProtocolError("message array table does not match its blob")
    offsets = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)]).tolist() if sizes else [0]
    blob = memoryview(frame)[start + json_length :]
    decoder = _Decoder(blob, offsets, limits, handles, allow_dtypes)
    value = decoder.decode(header.get("v"), depth=0)
    if not isinstance(value, dict):
        raise ProtocolError("a message must be a dict")
    return value


class _Decoder:
    def __init__(self, blob: memoryview, offsets: list[int], limits: Limits, handles: dict | None, allow_dtypes: bool):
        self.blob, self.offsets, self.limits = blob, offsets, limits
        self.handles, self.allow_dtypes = handles, allow_dtypes
        self.nodes = 0
        self.used: set[int] = set()

    def decode(self, node, depth: int):
        self.nodes += 1
        if self.nodes > self.limits.max_nodes:
            raise ProtocolError(f"message has more than {self.limits.max_nodes} values")
        if depth > self.limits.max_depth:
            raise ProtocolError(f"message is nested more than {self.limits.max_depth} levels deep")
        if node is None or isinstance(node, (bool, int, float)):
            return node
        if isinstance(node, str):
            if len(node) > self.limits.max_str:
                raise ProtocolError(f"string of {len(node)} characters is over the {self.limits.max_str} limit")
            return node
        if not isinstance(node, dict) or len(node) != 1:
            raise ProtocolError(f"malformed value node {str(node)[:80]!r}")
        (tag, body), = node.items()
        if tag in ("list", "tuple") and isinstance(body, list):
            items = [self.decode(item, depth + 1) for item in body]
            return items if tag == "list" else tuple(items)
        if tag == "dict" and isinstance(body, list):
            result = {}
            for pair in body:
                if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], (str, int)) and not isinstance(pair[0], bool)):
                    raise ProtocolError("malformed dict entry")
                result[self.decode(pair[0], depth + 1)] = self.decode(pair[1], depth + 1)
            return result
        if tag == "array" and isinstance(body, int) and not isinstance(body, bool):
            return self._array(body)
        if tag == "handle" and isinstance(body, str):
            if self.handles is None:
                raise ProtocolError("a handle cannot appear in this message")
            if body not in self.handles:
                raise ProtocolError(f"unknown handle {body!r}")
            return self.handles[body]
        if tag == "tensor" and isinstance(body, list) and len(body) == 2 and isinstance(body[0], int) \
                and not isinstance(body[0], bool) and body[1] in TENSOR_DTYPES:
            return self._tensor(*body)
        if tag == "dtype" and body in DTYPES:
            if not self.allow_dtypes:
                raise ProtocolError("a dtype cannot appear in this message")
            return np.dtype(body).type
        if tag == "torch_dtype" and body in TENSOR_DTYPES:
            if not self.allow_dtypes:
                raise ProtocolError("a dtype cannot appear in this message")
            import torch
            return getattr(torch, body)
        raise ProtocolError(f"unknown value node {tag!r}")

    def _array(self, index: int) -> np.ndarray:
        if not 0 <= index < len(self.offsets) - 1 or index in self.used:
            raise ProtocolError(f"bad array reference {index}")
        self.used.add(index)
        raw = self.blob[self.offsets[index] : self.offsets[index + 1]]
        stream = io.BytesIO(raw)
        try:
            array = _read_array(stream, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise ProtocolError(f"array {index} is not a readable .npy without pickles: {exc}") from None
        if stream.tell() != len(raw):
            raise ProtocolError(f"array {index} has trailing bytes")
        if type(array) is not np.ndarray or array.dtype.kind not in ARRAY_KINDS or array.dtype.fields is not None:
            raise ProtocolError(f"array {index} has the forbidden dtype {array.dtype}")
        return array


    def _tensor(self, index: int, name: str):
        import torch

        array = self._array(index)
        storage = "int16" if name == "bfloat16" else name
        if array.dtype != np.dtype(storage):
            raise ProtocolError(f"tensor {index} of dtype {name} holds {array.dtype} data")
        tensor = torch.from_numpy(np.array(array, copy=True))  # writable, owned by the tensor
        return tensor.view(torch.bfloat16) if name == "bfloat16" else tensor


# --------------------------------------------------------------------------------------------
# Frames over file descriptors


def write_frame(fd: int, frame: bytes, deadline: float | None = None) -> None:
    """Write a whole frame to ``fd``; with a ``deadline`` (``time.monotonic()``), fd must be non-blocking."""
    view = memoryview(frame)
    while view:
        if deadline is not None:
            _wait(fd, deadline, write=True)
        try:
            written = os.write(fd, view[: 1 << 20])
        except BlockingIOError:
            continue
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise ChannelClosed(f"the channel closed while writing ({exc})") from None
        view = view[written:]


def read_frame(fd: int, max_bytes: int, deadline: float | None = None) -> bytes:
    """Read one frame from ``fd``; refuses frames over ``max_bytes`` before reading their body."""
    head = _read_exact(fd, FRAME_HEADER.size, deadline)
    magic, json_length, blob_length = FRAME_HEADER.unpack(head)
    if magic != MAGIC:
        raise ProtocolError("reply does not start with the protocol's magic bytes")
    if FRAME_HEADER.size + json_length + blob_length > max_bytes:
        raise ProtocolError(f"reply of {FRAME_HEADER.size + json_length + blob_length} bytes is over the {max_bytes}-byte limit")
    return head + _read_exact(fd, json_length + blob_length, deadline)


def _read_exact(fd: int, n: int, deadline: float | None) -> bytes:
    chunks = bytearray()
    while len(chunks) < n:
        if deadline is not None:
            _wait(fd, deadline, write=False)
        chunk = os.read(fd, min(n - len(chunks), 1 << 20))
        if not chunk:
            raise ChannelClosed("the channel closed before a complete message arrived")
        chunks += chunk
    return bytes(chunks)


def _wait(fd: int, deadline: float, write: bool) -> None:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise ChannelTimeout("no reply before the deadline")
    ready = select.select([], [fd], [], remaining) if write else select.select([fd], [], [], remaining)
    if not (ready[1] if write else ready[0]):
        raise ChannelTimeout("no reply before the deadline")
