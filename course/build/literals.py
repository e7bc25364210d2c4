"""Write a computed value as Python source that evaluates back to exactly the same value.

Supported: ``None``, bools, ints, floats, numpy scalars and arrays (bool, integer and real
floating dtypes), and lists and tuples of these. Arrays become ``np.array([...])`` with every
element written so that it reads back bit for bit; the dtype is spelled out unless it is
float64. Values of more than :data:`MAX_ELEMENTS` numbers are refused: a notebook check should
compare a small slice or a summary, not paste a large array.
"""
from __future__ import annotations

import math

import numpy as np

MAX_ELEMENTS = 1000
WRAP_WIDTH = 88  # arrays of two or more dimensions longer than this get one row per line


class LiteralError(ValueError):
    """The value cannot (or should not) be written as a literal; the message says why."""


def to_literal(value, indent: str = "") -> str:
    """Source text for ``value``; ``indent`` is the indentation of the line it will sit on.

    Raises ``LiteralError`` for unsupported types, complex or object arrays, and values with
    more than ``MAX_ELEMENTS`` numbers. The result is checked by evaluating it.
    """
    count = count_elements(value)
    if count > MAX_ELEMENTS:
        raise LiteralError(f"the value has {count} numbers, over the limit of {MAX_ELEMENTS}; "
                           "compare a slice or a summary (a norm, a few entries) instead")
    text = _literal(value, indent)
    restored = eval(text, {"np": np, "__builtins__": {"float": float, "bool": bool}})  # our own output, checked below
    if not same_value(value, restored):
        raise LiteralError(f"the literal {text[:80]!r} does not read back as the same value")
    return text


def count_elements(value) -> int:
    if isinstance(value, np.ndarray):
        return int(value.size)
    if isinstance(value, (list, tuple)):
        return sum(count_elements(v) for v in value)
    return 1


def _literal(value, indent: str) -> str:
    if value is None or isinstance(value, (bool, np.bool_)):
        return repr(None if value is None else bool(value))
    if isinstance(value, (int, np.integer)):
        return repr(int(value))
    if isinstance(value, np.floating) and value.dtype != np.float64:
        return f"np.{value.dtype.name}({_float(value, value.dtype, in_array=False)})"
    if isinstance(value, (float, np.floating)):
        return _float(float(value), np.dtype(np.float64), in_array=False)
    if isinstance(value, np.ndarray):
        return _array(value, indent)
    if isinstance(value, tuple):
        items = [_literal(v, indent) for v in value]
        return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
    if isinstance(value, list):
        return f"[{', '.join(_literal(v, indent) for v in value)}]"
    raise LiteralError(f"values of type {type(value).__module__}.{type(value).__qualname__} cannot be written as a "
                       "literal; return a numpy array, a number, or a list or tuple of them")


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


def _array(a: np.ndarray, indent: str) -> str:
    kind = a.dtype.kind
    if kind not in "biuf":
        raise LiteralError(f"arrays of dtype {a.dtype} cannot be written as literals; "
                           "use a bool, integer or real floating dtype")
    dtype = "" if a.dtype == np.float64 else f", dtype={'bool' if kind == 'b' else 'np.' + a.dtype.name}"
    if a.size == 0:
        return f"np.zeros({tuple(a.shape)!r}{dtype})"

    def element(x) -> str:
        if kind == "b":
            return repr(bool(x))
        if kind in "iu":
            return repr(int(x))
        return _float(x, a.dtype, in_array=True)

    def nested(sub: np.ndarray) -> str:
        if sub.ndim == 0:
            return element(sub[()])
        return "[" + ", ".join(nested(s) for s in sub) + "]"

    text = f"np.array({nested(a)}{dtype})"
    if a.ndim >= 2 and len(indent) + len(text) > WRAP_WIDTH:
        rows = "".join(f"{indent}    {nested(row)},\n" for row in a)
        text = f"np.array([\n{rows}{indent}]{dtype})"
    return text


def same_value(a, b) -> bool:
    """Equal in type, dtype, shape and every bit that matters (NaN equals NaN)."""
    if isinstance(a, np.ndarray):
        return (isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape
                and bool(np.array_equal(a, b, equal_nan=a.dtype.kind == "f")))
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, np.floating) and a.dtype != np.float64:
        return isinstance(b, np.floating) and b.dtype == a.dtype and (a == b or (np.isnan(a) and np.isnan(b)))
    if isinstance(a, (float, np.floating)):
        return isinstance(b, float) and (float(a) == b or (math.isnan(a) and math.isnan(b)))
    return a == b and type(b) in (type(a), bool, int, type(None))
