"""Expected values too large to inline: ``reference_file("<name>.npz", key=expr, ...)`` in a check cell.

The build evaluates each ``expr`` with the reference, as it does for ``reference_value``, rounds
it like a literal (:func:`course.build.literals.rounded`), and writes the arrays to
``source_notebooks/<assignment>/<name>.npz``, next to the notebook, so that
``nbgrader generate_assignment`` copies the file into the release. The call itself becomes
:func:`load_expression`, which reads the file back in the student's kernel as a dict of numpy
arrays (the notebook must import numpy as ``np``)::

    checks = reference_file("gan-checks.npz", logits_real=torch.randn(10, 1, dtype=torch.float64), ...)
    # in the built notebook:
    checks = dict(np.load("gan-checks.npz", allow_pickle=False))

Values may be numpy arrays, torch tensors (stored as numpy arrays of the same dtype) and numbers
(stored as 0-d arrays), of bool, integer or real floating dtypes. The file is an ``.npz`` without
pickles whose bytes depend only on the values: members in the call's keyword order, stored
uncompressed, little-endian, with fixed zip timestamps and attributes. The file name is the first
argument, a string literal, so that the leak scan can find the names (:func:`declared_files`)
without running anything; within an assignment a name is written by one call only.
"""
from __future__ import annotations

import ast
import io
import re
import zipfile

import numpy as np

from course.build.read_source import read_source
from course.build.literals import LiteralError, is_tensor, tensor_array, rounded

MARKER = "reference_file"
MAX_BYTES = 16 * 2**20
FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*\.npz$")
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip file can hold


def check_name(name) -> str | None:
    """Why ``name`` cannot be a reference file's name (``None``: it can)."""
    if not isinstance(name, str) or not FILE_NAME.match(name):
        return (f"the file name must be a string literal like \"gan-checks.npz\" (letters, digits, '_', '-', '.', "
                f"ending in .npz, no folders), not {name!r}")
    return None


def file_arrays(values: dict) -> dict[str, np.ndarray]:
    """The arrays stored for the keyword arguments ``values`` of one call, rounded like literals."""
    arrays = {}
    for key, value in values.items():
        if is_tensor(value):
            value = tensor_array(value)
        elif isinstance(value, (bool, int, float, np.generic)):
            value = np.asarray(value)
        if not isinstance(value, np.ndarray) or value.dtype.kind not in "biuf":
            what = f"dtype {value.dtype}" if isinstance(value, np.ndarray) else f"type {type(value).__qualname__}"
            raise LiteralError(f"{key}= has {what}; a reference file holds numpy arrays, tensors or numbers "
                               "of bool, integer or real floating dtypes")
        arrays[key] = rounded(np.asarray(value))
    return arrays


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """A pickle-free ``.npz`` of ``arrays`` whose bytes depend only on the arrays and their order."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for key, array in arrays.items():
            npy = io.BytesIO()
            little = array.astype(array.dtype.newbyteorder("<"), order="C")  # keeps 0-d arrays 0-d
            np.lib.format.write_array(npy, little, version=(1, 0), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=_ZIP_DATE)
            info.create_system = 3  # as written on Unix, whatever the OS
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_STORED
            archive.writestr(info, npy.getvalue())
    data = buffer.getvalue()
    if len(data) > MAX_BYTES:
        raise LiteralError(f"the file would have {len(data)} bytes, over the limit of {MAX_BYTES}; "
                           "store smaller inputs or a summary")
    return data


def read_npz(data: bytes) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` file's bytes, as the student's kernel reads them."""
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        return {key: npz[key] for key in npz.files}


def load_expression(name: str) -> str:
    """What a ``reference_file(name, ...)`` call becomes in the built notebook."""
    return f"dict(np.load({name!r}, allow_pickle=False))"


def declared_files(source: str) -> set[str]:
    """The file names of the ``reference_file("<name>", ...)`` calls in a notebook source's text."""
    names = set()
    nb, _ = read_source(source)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue  # the build reports cells that do not parse
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == MARKER
                    and node.args and isinstance(node.args[0], ast.Constant) and check_name(node.args[0].value) is None):
                names.add(node.args[0].value)
    return names

