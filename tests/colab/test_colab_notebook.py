"""Released notebooks run as Colab runs them (issues #11 and #13): FullyConnectedNets (a1), and
PyTorch (a2, its training dashboards) and NetworkVisualization (a2, its explorers and image grids),
filled in with the reference (the ``correct`` sample), executed in smoke mode by a kernel that

- starts in an empty folder standing for ``/content``, not in the assignment folder;
- imports Colab's ``google.colab`` (the stub in ``google_colab_stub/``: mounting Drive copies the
  filled-in release into ``<cwd>/drive/MyDrive/Colab Notebooks/dl-course/<assignment>``);
- has Colab's ipywidgets 7.7.1 first on its path (``.venv/colab-widgets``, installed by run.sh from
  constraints-colab.txt).

Each notebook is executed once for the whole module; each test asserts one property of each.
"""
from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from course.samples import make_samples

REPO = Path(__file__).resolve().parents[2]
WIDGETS = REPO / ".venv" / "colab-widgets"
STUB = Path(__file__).resolve().parent / "google_colab_stub"
# (assignment, notebook, whether it trains with a dashboard)
NOTEBOOKS = [("a1", "FullyConnectedNets.ipynb", True), ("a2", "PyTorch.ipynb", True),
             ("a2", "NetworkVisualization.ipynb", False)]
LIVE_VIEWS = ("TrainingDashboard(", "Explorer(", "ImageGrid(")  # what makes a live view, or its static PNG


def in_drive(assignment: str) -> Path:
    return Path("drive", "MyDrive", "Colab Notebooks", "dl-course", assignment)

# Run after the notebook, in the same kernel: what the assertions need to know about it.
PROBE = """\
import json, os, sys, dl, ipywidgets
from google.colab import drive, output
print(json.dumps({"dl": dl.__file__, "cwd": os.getcwd(), "path0": sys.path[0], "mounted": drive.mounted,
                  "widget_manager": output.calls, "ipywidgets": ipywidgets.__version__}))
"""


@pytest.fixture(scope="module", params=NOTEBOOKS, ids=[notebook for _, notebook, _ in NOTEBOOKS])
def executed(request, tmp_path_factory):
    """(the executed notebook, the probe's findings, the /content folder, the assignment, whether it
    trains with a dashboard)."""
    assignment, notebook, trains = request.param
    if not (WIDGETS / "ipywidgets").is_dir():
        pytest.skip(f"{WIDGETS} is missing: Colab's ipywidgets 7 is installed there by ./run.sh "
                    "(pip install --no-deps --target .venv/colab-widgets -r constraints-colab.txt)")
    import nbformat
    from nbclient import NotebookClient

    tmp = tmp_path_factory.mktemp("colab")
    samples = make_samples(REPO / "source_notebooks" / assignment, REPO / "release" / assignment, tmp / "samples")
    uploaded = tmp / "uploaded"  # what the student put in their Drive: the filled-in release
    shutil.copytree(samples["correct"], uploaded / in_drive(assignment).relative_to("drive/MyDrive"))
    content = tmp / "content"
    content.mkdir()
    nb = nbformat.read(samples["correct"] / notebook, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(PROBE))
    env = {"PYTHONPATH": os.pathsep.join([str(WIDGETS), str(STUB), os.environ.get("PYTHONPATH", "")]),
           "FAKE_DRIVE_CONTENT": str(uploaded), "DL_SMOKE": "1"}
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)  # the kernel inherits them
    try:
        NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                       resources={"metadata": {"path": str(content)}}).execute()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    nbformat.write(nb, tmp / notebook)  # to look at when a test fails
    probe = json.loads("".join(o.get("text", "") for o in nb.cells[-1].outputs if o.output_type == "stream") or "{}")
    return nb, probe, content, assignment, trains


# How a training loop is given a dashboard: a1's Solver takes ``callbacks=[...]``, a2's training
# functions a dashboard's ``record`` method.
DASHBOARD_ARGUMENT = re.compile(r"\bcallbacks=\[|\.record\b")


def trains_with_a_dashboard(cell) -> bool:
    return cell.cell_type == "code" and bool(DASHBOARD_ARGUMENT.search(cell.source))


def errors(cells) -> list[str]:
    """Each traceback in the cells' outputs (an error, or one printed on stderr), with the cell's first line."""
    found = []
    for cell in cells:
        for o in cell.get("outputs", []):
            if o.output_type == "error":
                found.append(f"{cell.source.splitlines()[0]!r}: {o.ename}: {o.evalue}")
            elif o.output_type == "stream" and o.name == "stderr" and "Traceback" in o.text:
                found.append(f"{cell.source.splitlines()[0]!r}: {o.text.strip().splitlines()[-1]}")
    return found


def test_the_notebook_runs_without_a_traceback_outside_the_dashboards(executed):
    nb, *_ = executed
    assert errors(cell for cell in nb.cells if not trains_with_a_dashboard(cell)) == []


def test_dl_is_imported_from_the_assignment_folder_in_drive(executed):
    _, probe, content, assignment, _ = executed
    folder = content / in_drive(assignment)
    assert probe["mounted"] == [str(content / "drive")]  # once
    assert Path(probe["cwd"]) == folder and Path(probe["path0"]) == folder
    assert Path(probe["dl"]) == folder / "dl" / "__init__.py"


def test_the_widget_manager_is_enabled_and_colab_s_ipywidgets_is_used(executed):
    _, probe, *_ = executed
    assert probe["widget_manager"] == ["enable_custom_widget_manager"]
    assert probe["ipywidgets"] == "7.7.1"


def test_the_first_cell_says_where_it_works(executed):
    nb, _, content, assignment, _ = executed
    setup = next(cell for cell in nb.cells if cell.cell_type == "code")
    assert f"Working in {content / in_drive(assignment)}" in "".join(o.get("text", "") for o in setup.outputs)


def test_every_live_view_shows_without_a_traceback(executed):
    """Each cell that trains with a dashboard does so without a traceback, and each cell that makes a
    dashboard, an explorer or an image grid shows it, live (a widget view) or as a static PNG."""
    nb, *_, trains = executed
    training = [cell for cell in nb.cells if trains_with_a_dashboard(cell)]
    assert bool(training) == trains, [cell.source.splitlines()[0] for cell in training]
    assert errors(training) == []
    made = [cell for cell in nb.cells if cell.cell_type == "code" and any(view in cell.source for view in LIVE_VIEWS)]
    shown = [any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) or "image/png" in o.get("data", {})
                 for o in cell.outputs) for cell in made]
    assert made and all(shown), [cell.source.splitlines()[0] for cell, ok in zip(made, shown) if not ok]
