"""Reading pickles that may hold only numpy arrays and plain Python values.

Some published data files store arrays as pickles: CIFAR-10's batches are pickled dicts, and the
ImageNet sample's ``label_map`` is a pickled object array. An ordinary unpickler runs whatever
code a pickle names, so these are read with :func:`restricted_load`, whose unpickler can rebuild
numpy arrays, numpy scalars and builtin values (dict, list, str, bytes, numbers, sets) and refuses
every other class or function. A file that names anything else fails to load instead of running it.
"""
from __future__ import annotations

import codecs
import pickle
from typing import BinaryIO

import numpy as np

# The exact objects numpy's own pickles refer to, found through numpy itself so that both the
# pre-2.0 module path (numpy.core, used by the published files) and the current one resolve.
_RECONSTRUCT = np.zeros(0).__reduce__()[0]
_SCALAR = np.uint8(0).__reduce__()[0]
_SAFE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy.core.multiarray", "scalar"): _SCALAR,
    ("numpy._core.multiarray", "scalar"): _SCALAR,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): codecs.encode,  # how protocol-2 pickles store bytes
    ("builtins", "bytearray"): bytearray,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "complex"): complex,
}


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickler that admits only numpy array reconstruction and a few plain builtins."""

    def find_class(self, module: str, name: str):
        try:
            return _SAFE_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refusing to load {module}.{name}: only numpy arrays and plain values are allowed"
            ) from None


def restricted_load(file: BinaryIO) -> object:
    """The object pickled in the open binary ``file``, rebuilt by the restricted unpickler.

    Python 2 ``str`` values are decoded as latin-1, which keeps the bytes of arrays pickled by
    Python 2 (as in the published CIFAR-10 files) intact. Raises ``pickle.UnpicklingError`` for a
    forbidden class and whatever a damaged pickle causes (EOFError, ValueError, ...).
    """
    return _ArrayUnpickler(file, encoding="latin1").load()
