"""Sample submissions for the demo and the tests, generated from the built notebooks.

Three students per assignment, each a copy of the release folder (so it is self-contained):

- ``correct``: every unit cell holds the reference solution; the best-model artifact is trained
  on the data smoke mode selects and saved as a student would;
- ``buggy``: the reference with the typical mistakes in :data:`BUGS` (each costs only its unit);
- ``empty``: the release as handed out.

They are generated rather than committed so they can never drift from ``dl/``.
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from dl.notebook_import import cell_source, read_notebook

SOLUTION_MARKER = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n?", re.MULTILINE)

# grade_id -> [(reference text, buggy text)]: the mistakes students most often make.
BUGS: dict[str, list[tuple[str, str]]] = {
    "a1-fc-affine_backward": [("dx = (dout @ w.T).reshape(x.shape)", "dx = dout @ w.T")],  # forgot to reshape
    "a1-fc-relu_backward": [("dx = dout * (x > 0)", "dx = dout * (x >= 0)")],  # gradient 1 at zero
    "a1-fc-softmax_loss": [("shifted = x - x.max(axis=1, keepdims=True)", "shifted = x")],  # overflows
    "a1-fc-adam": [("m_hat = m / (1 - beta1**t)", "m_hat = m"), ("v_hat = v / (1 - beta2**t)", "v_hat = v")],
    "a1-fc-FullyConnectedNet": [('grads[f"W{i}"] += self.reg * self.params[f"W{i}"]', 'grads[f"W{i}"] += 0.0')],
    "a1-bn-batchnorm_forward": [  # momentum on the wrong side of the running averages
        ("running_mean = momentum * running_mean + (1 - momentum) * mu", "running_mean = (1 - momentum) * running_mean + momentum * mu"),
        ("running_var = momentum * running_var + (1 - momentum) * var", "running_var = (1 - momentum) * running_var + momentum * var"),
    ],
    "a1-bn-batchnorm_backward_alt": [  # dropped the term through the variance
        ("dx = gamma / (N * std) * (N * dout - dbeta - x_hat * dgamma)", "dx = gamma / (N * std) * (N * dout - dbeta)"),
    ],
    "a1-dropout-dropout_forward": [("< p) / p)", "< p) / 1.0)")],  # not inverted: no scaling by 1/p
    "a1-cnn-conv_backward_naive": [  # cropped the padded gradient from the corner
        ("dx = dxpad[:, :, pad:pad + x.shape[2], pad:pad + x.shape[3]]", "dx = dxpad[:, :, :x.shape[2], :x.shape[3]]"),
    ],
    "a1-cnn-max_pool_backward_naive": [  # the gradient goes to the whole window, not its maximum
        ("dx[n, c, i * stride + k, j * stride + l] += dout[n, c, i, j]",
         "dx[n, c, i * stride:i * stride + ph, j * stride:j * stride + pw] += dout[n, c, i, j]"),
    ],
    "a1-cnn-spatial_groupnorm_forward": [  # unbiased variance
        ("var = (x_centered**2).mean(axis=2, keepdims=True)", "var = x_centered.var(axis=2, ddof=1, keepdims=True)"),
    ],
    "a2-pt-ThreeLayerConvNet": [  # biases left at nn.Conv2d's and nn.Linear's default (uniform), not zeroed
        ("            nn.init.zeros_(layer.bias)\n", ""),
    ],
}


def strip_markers(source: str) -> str:
    """The source with its ``### BEGIN/END SOLUTION`` lines removed (the code between them kept)."""
    return SOLUTION_MARKER.sub("", source)


def _unit_sources(source_nb: dict) -> dict[str, str]:
    """grade_id -> reference source of every unit and exercise cell of a built source notebook."""
    found = {}
    for cell in source_nb["cells"]:
        nbgrader = cell.get("metadata", {}).get("nbgrader", {})
        if cell["cell_type"] == "code" and nbgrader.get("solution") and not nbgrader.get("grade"):
            found[nbgrader["grade_id"]] = strip_markers(cell_source(cell))
    return found


def _apply_bugs(grade_id: str, source: str) -> str:
    for reference, buggy in BUGS.get(grade_id, []):
        if reference not in source:
            raise ValueError(f"sample bug for {grade_id} no longer applies: {reference!r} is not in the reference")
        source = source.replace(reference, buggy)
    return source


def _fill(release_nb: dict, sources: dict[str, str], buggy: bool) -> dict:
    nb = json.loads(json.dumps(release_nb))
    for cell in nb["cells"]:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if cell["cell_type"] == "code" and grade_id in sources:
            source = _apply_bugs(grade_id, sources[grade_id]) if buggy else sources[grade_id]
            cell["source"] = source
    return nb


def make_samples(source_dir: Path, release_dir: Path, out_dir: Path, train_artifact=None) -> dict[str, Path]:
    """Write ``out_dir/{correct,buggy,empty}/`` for one assignment; returns their folders.

    Inputs:
    - source_dir: ``source_notebooks/<assignment>`` (built notebooks with solutions).
    - release_dir: ``release/<assignment>`` (what students get, with its ``dl/``).
    - out_dir: where the three submission folders go (replaced if present).
    - train_artifact: optional ``callable(folder)`` writing the trained artifacts of a correct
      submission into ``folder/artifacts``; the buggy submission gets a copy of them.
    """
    out_dir = Path(out_dir)
    folders = {}
    for name in ("correct", "buggy", "empty"):
        folder = out_dir / name
        if folder.exists():
            shutil.rmtree(folder)
        shutil.copytree(release_dir, folder, ignore=shutil.ignore_patterns("__pycache__"))
        folders[name] = folder
    for source_path in sorted(Path(source_dir).glob("*.ipynb")):
        sources = _unit_sources(read_notebook(source_path))
        release_nb = read_notebook(Path(release_dir) / source_path.name)
        for name, buggy in (("correct", False), ("buggy", True)):
            filled = _fill(release_nb, sources, buggy)
            (folders[name] / source_path.name).write_text(json.dumps(filled, indent=1) + "\n")
    if train_artifact is not None:
        train_artifact(folders["correct"])
        shutil.copytree(folders["correct"] / "artifacts", folders["buggy"] / "artifacts")
    return folders


def execute_notebooks(folder: Path, timeout: int = 900) -> None:
    """Run every notebook of a submission folder in place, in smoke mode, as a student would.

    Outputs are saved into the notebooks and the notebooks write their artifacts under
    ``folder/artifacts``. Raises ``nbclient.exceptions.CellExecutionError`` naming the failing cell.
    """
    import os

    import nbformat
    from nbclient import NotebookClient

    previous = os.environ.get("DL_SMOKE")
    os.environ["DL_SMOKE"] = "1"  # offline samples: the kernel inherits it
    try:
        for path in sorted(Path(folder).glob("*.ipynb")):
            nb = nbformat.read(path, as_version=4)
            NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(folder)}}).execute()
            nbformat.write(nb, path)
    finally:
        if previous is None:
            del os.environ["DL_SMOKE"]
        else:
            os.environ["DL_SMOKE"] = previous
