"""Write a computed value as Python source, rounded so that every machine writes the same text.

A value the build computes with the reference carries a few units in the last place of noise that
depends on the machine: the BLAS kernel OpenBLAS picks for the CPU, the thread count, the OS's
``libm``. Written in full, ``1.4983496695842708`` on one machine is ``1.4983496695842702`` on
another, and the generated notebook would differ. So every floating-point number is first rounded
to :data:`SIGNIFICANT_DIGITS` significant decimal digits of its precision (per element, because the
notebooks compare with ``rel_error``, which is element-wise):

- float64: 11 digits. The rounding changes a value by at most 5e-11 of itself, so ``rel_error``
  (which divides by ``|x| + |y|``) between the exact and the rounded value is at most 2.5e-11: 40
  times below the tightest visible check of the course (``affine_forward``, about 1e-9; the
  optimizer and ``relu_forward`` checks expect 1e-7 and 1e-8). A machine difference of a few ulps
  (about 1e-15 of the value) changes the written digits only when the value lies that close to a
  rounding boundary, which the 11th digit puts 1e-11 to 1e-10 of the value apart: about one value
  in 10^4 to 10^5. Values that come out of a cancellation (a mean that is zero up to noise) are
  noise in every digit and cannot be made portable by rounding: a check should not print them as
  expected values.
- float32: 6 digits (at most 2.5e-6 in ``rel_error``, inside the 1e-5 and 1e-3 float32 checks).
  float32 results carry noise of about 1e-7 of the value, so here a boundary flip is much less
  rare (a few percent of values); compute expected values in float64 where the check is tight.
- float16: 3 digits.

Integers, booleans and strings are exact. The literal is checked by evaluating it: it must read
back exactly as the rounded value.

Supported: ``None``, bools, ints, floats, strings, numpy scalars and arrays (bool, integer and real
floating dtypes), torch tensors of those dtypes (written ``torch.tensor([...], dtype=...)`` on the
CPU, so the notebook must import ``torch``), and lists, tuples and dicts with string keys of
these. Arrays become ``np.array([...])``; the dtype is spelled out unless it is float64. Values of
more than :data:`MAX_ELEMENTS` numbers are refused: a notebook check should compare a small slice
or a summary, not paste a large array (:mod:`course.build.reference_files` writes large ones to a
file).
"""
from __future__ import annotations

import ast
import math
import sys

import numpy as np

MAX_ELEMENTS = 1000
WRAP_WIDTH = 88  # arrays of two or more dimensions longer than this get one row per line
SIGNIFICANT_DIGITS = {np.dtype(np.float64): 11, np.dtype(np.float32): 6, np.dtype(np.float16): 3}
MODULES = {"np": "numpy", "torch": "torch"}  # the names a literal may use, and their modules


class LiteralError(ValueError):
    """The value cannot (or should not) be written as a literal; the message says why."""


def to_literal(value, indent: str = "") -> str:
    """Source text for :func:`rounded` ``value``; ``indent`` is the indentation of the line it will sit on.

    Raises ``LiteralError`` for unsupported types, complex or object arrays, dicts with keys that
    are not strings, and values with more than ``MAX_ELEMENTS`` numbers. The result is checked by
    evaluating it.
    """
    count = count_elements(value)
    if count > MAX_ELEMENTS:
        raise LiteralError(f"the value has {count} numbers, over the limit of {MAX_ELEMENTS}; "
                           "compare a slice or a summary (a norm, a few entries) instead")
    value = rounded(value)
    text = _literal(value, indent)
    names = {name: sys.modules[module] for name, module in MODULES.items() if name in used_names(text)}
    restored = eval(text, names)  # our own output, checked below (torch needs the real builtins)
    if not same_value(value, restored):
        raise LiteralError(f"the literal {text[:80]!r} does not read back as the same value")
    return text


def used_names(text: str) -> set[str]:
    """The global names a literal refers to (``np``, ``torch``, ``float``, ``bool``)."""
    return {n.id for n in ast.walk(ast.parse(text, mode="eval")) if isinstance(n, ast.Name)}


def count_elements(value) -> int:
    if isinstance(value, np.ndarray) or is_tensor(value):
        return int(np.prod(value.shape))
    if isinstance(value, (list, tuple)):
        return sum(count_elements(v) for v in value)
    if isinstance(value, dict):
        return sum(count_elements(v) for v in value.values())
    return 1


def round_float(x: float, dtype: np.dtype = np.dtype(np.float64)) -> float:
    """``x`` rounded to the significant digits of ``dtype`` (NaN and infinities unchanged)."""
    x = float(x)
    if not math.isfinite(x) or x == 0:
        return x
    dtype = np.dtype(dtype)
    if dtype not in SIGNIFICANT_DIGITS:
        raise LiteralError(f"floating dtype {dtype} cannot be written as a literal; use float16, float32 or float64")
    r = float(dtype.type(float(f"{x:.{SIGNIFICANT_DIGITS[dtype] - 1}e}")))  # Python's formatting rounds exactly
    return r if math.isfinite(r) else x  # rounding up the largest finite value would overflow


def rounded(value):
    """``value`` with every floating-point number rounded to :data:`SIGNIFICANT_DIGITS` (same types)."""
    if isinstance(value, (bool, np.bool_)) or value is None:
        return value
    if isinstance(value, np.floating):
        return value.dtype.type(round_float(value, value.dtype))
    if isinstance(value, float):
        return round_float(value)
    if isinstance(value, np.ndarray):
        if value.dtype.kind != "f":
            return value.copy()
        flat = [round_float(x, value.dtype) for x in value.ravel().tolist()]
        return np.array(flat, dtype=value.dtype).reshape(value.shape)
    if is_tensor(value):
        import torch
        array = tensor_array(value)
        return torch.from_numpy(rounded(array).copy())
    if isinstance(value, (list, tuple)):
        return type(value)(rounded(v) for v in value)
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    return value


def _literal(value, indent: str) -> str:
    if value is None or isinstance(value, (bool, np.bool_)):
        return repr(None if value is None else bool(value))
    if isinstance(value, (int, np.integer)):
        return repr(int(value))
    if isinstance(value, np.floating) and value.dtype != np.float64:
        return f"np.{value.dtype.name}({_float(value, value.dtype, in_array=False)})"
    if isinstance(value, (float, np.floating)):
        return _float(float(value), np.dtype(np.float64), in_array=False)
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, np.ndarray):
        return _array(value, indent)
    if is_tensor(value):
        return _array(tensor_array(value), indent, module="torch")
    if isinstance(value, tuple):
        items = [_literal(v, indent) for v in value]
        return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
    if isinstance(value, list):
        return f"[{', '.join(_literal(v, indent) for v in value)}]"
    if isinstance(value, dict):
        keys = [k for k in value if not isinstance(k, str)]
        if keys:
            raise LiteralError(f"dict keys must be strings to be written as a literal, not {keys[0]!r}")
        return "{" + ", ".join(f"{k!r}: {_literal(v, indent)}" for k, v in value.items()) + "}"
    raise LiteralError(f"values of type {type(value).__module__}.{type(value).__qualname__} cannot be written as a "
                       "literal; return a numpy array, a torch tensor, a number, a string, or a list, tuple "
                       "or dict (string keys) of them")


def _float(x, dtype: np.dtype, in_array: bool) -> str:
    """A float that reads back exactly as ``dtype``: the shortest form when it round-trips."""
    x = float(x)
    if math.isnan(x):
        return "np.nan" if in_array else 'float("nan")'
    if math.isinf(x):
        text = "np.inf" if in_array else 'float("inf")'
        return text if x > 0 else f"-{text}"
    if dtype == np.float64:
        return repr(x)
    short = str(dtype.type(x))  # numpy's shortest representation for this precision
    return short if dtype.type(float(short)) == dtype.type(x) else repr(x)


def _array(a: np.ndarray, indent: str, module: str = "np") -> str:
    """``np.array([...])`` (or ``torch.tensor([...], dtype=...)``, which always names its dtype)."""
    kind = a.dtype.kind
    if kind not in "biuf":
        raise LiteralError(f"arrays of dtype {a.dtype} cannot be written as literals; "
                           "use a bool, integer or real floating dtype")
    if module == "torch":
        dtype = f", dtype=torch.{'bool' if kind == 'b' else a.dtype.name}"
        make = "torch.tensor"
    else:
        dtype = "" if a.dtype == np.float64 else f", dtype={'bool' if kind == 'b' else 'np.' + a.dtype.name}"
        make = "np.array"
    if a.size == 0:
        return f"{module}.zeros({tuple(a.shape)!r}{dtype})"

    def element(x) -> str:
        if kind == "b":
            return repr(bool(x))
        if kind in "iu":
            return repr(int(x))
        text = _float(x, a.dtype, in_array=True)
        return text.replace("np.", "torch.") if module == "torch" else text

    def nested(sub: np.ndarray) -> str:
        if sub.ndim == 0:
            return element(sub[()])
        return "[" + ", ".join(nested(s) for s in sub) + "]"

    text = f"{make}({nested(a)}{dtype})"
    if a.ndim >= 2 and len(indent) + len(text) > WRAP_WIDTH:
        rows = "".join(f"{indent}    {nested(row)},\n" for row in a)
        text = f"{make}([\n{rows}{indent}]{dtype})"
    return text


def is_tensor(value) -> bool:
    torch = sys.modules.get("torch")  # a value can only be a tensor if torch was imported
    return torch is not None and isinstance(value, torch.Tensor)


def tensor_array(t) -> np.ndarray:
    """A tensor's values as a numpy array on the CPU (gradient tracking dropped)."""
    import torch
    if t.dtype not in (torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64,
                       torch.float16, torch.float32, torch.float64):
        raise LiteralError(f"tensors of dtype {t.dtype} cannot be written as literals; "
                           "convert to float32, float64, an integer dtype or bool")
    return t.detach().cpu().numpy()


def same_value(a, b) -> bool:
    """Equal in type, dtype, shape and every bit that matters (NaN equals NaN)."""
    if is_tensor(a):
        return (is_tensor(b) and a.dtype == b.dtype and b.device.type == "cpu"
                and same_value(tensor_array(a), tensor_array(b)))
    if isinstance(a, np.ndarray):
        return (isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape
                and bool(np.array_equal(a, b, equal_nan=a.dtype.kind == "f")))
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return (isinstance(b, dict) and list(a) == list(b)
                and all(same_value(a[k], b[k]) for k in a))
    if isinstance(a, np.floating) and a.dtype != np.float64:
        return isinstance(b, np.floating) and b.dtype == a.dtype and (a == b or (np.isnan(a) and np.isnan(b)))
    if isinstance(a, (float, np.floating)):
        return isinstance(b, float) and (float(a) == b or (math.isnan(a) and math.isnan(b)))
    return a == b and type(b) in (type(a), bool, int, type(None))
