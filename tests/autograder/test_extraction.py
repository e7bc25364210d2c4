"""Program extraction: which cells run, in which order, and what is reported about each unit."""
import copy
import inspect
import re
import warnings

import numpy as np
import pytest

from autograder.extraction import build_program
from dl import layer_utils
from dl.notebook_import import GradientShapeWarning, NotebookImportError, import_notebook
from tests.autograder import notebooks
from tests.autograder.notebooks import UNITS


def program_of(submission, release=None):
    return build_program(release or notebooks.release_notebook(), submission, UNITS, "FullyConnectedNets.ipynb")


def test_program_is_setup_imports_provided_cells_and_unit_cells_in_release_order():
    program = program_of(notebooks.submission())
    labels = [c.label for c in program.cells]
    assert labels[0].startswith("imports of setup cell")
    setup = program.cells[0].source
    assert "import numpy as np" in setup and "get_cifar10_data()" not in setup and "setup_notebook()" not in setup
    provided = [c for c in program.cells if c.label.startswith("provided cell")]
    assert len(provided) == 1 and "def affine_relu_forward" in provided[0].source
    units = [c.units[0] for c in program.cells if c.units]
    assert units == [u.grade_id for u in UNITS if u.names]
    assert labels.index(provided[0].label) == labels.index(next(c.label for c in program.cells if "a1-fc-softmax_loss" in c.units)) - 1
    assert not program.missing and not program.notes
    assert all("assert False" not in c.source and "Hidden checks" not in c.source for c in program.cells)


def test_setup_and_provided_cells_come_from_the_release_not_the_submission():
    submission = notebooks.submission()
    for cell in submission.cells:
        if cell.metadata["dl"]["role"] in ("setup", "provide"):
            cell.source = "import os\nos.system('echo tampered')\n"
    program = program_of(submission)
    assert all("tampered" not in c.source for c in program.cells)


def test_reordered_cells_keep_the_release_order():
    assert [c.units for c in program_of(notebooks.shuffled(notebooks.submission(), seed=1)).cells] == \
           [c.units for c in program_of(notebooks.submission()).cells]


def test_lost_metadata_falls_back_to_names_with_a_note():
    program = program_of(notebooks.strip_metadata(notebooks.submission()))
    assert [c.units for c in program.cells if c.units] == [(u.grade_id,) for u in UNITS if u.names]
    assert all("found by name, as the cell's metadata was lost" in program.notes[u.grade_id] for u in UNITS if u.names)


def test_a_cell_defining_two_units_runs_once():
    submission = notebooks.submission()
    relu_f, relu_b = (notebooks.unit_cell_indices(submission, g)[0] for g in ("a1-fc-relu_forward", "a1-fc-relu_backward"))
    submission.cells[relu_b].source = submission.cells[relu_f].source + "\n\n" + submission.cells[relu_b].source
    for cell in (submission.cells[relu_f], submission.cells[relu_b]):
        cell.metadata = {}
    del submission.cells[relu_f]
    program = program_of(submission)
    merged = [c for c in program.cells if "a1-fc-relu_forward" in c.units]
    assert len(merged) == 1 and merged[0].units == ("a1-fc-relu_forward", "a1-fc-relu_backward")


def test_missing_and_duplicated_units_are_reported():
    submission = notebooks.submission()
    del submission.cells[notebooks.unit_cell_indices(submission, "a1-fc-adam")[0]]
    index = notebooks.unit_cell_indices(submission, "a1-fc-rmsprop")[0]
    submission.cells.append(copy.deepcopy(submission.cells[index]))
    program = program_of(submission)
    assert program.missing == {"a1-fc-adam": "no cell of FullyConnectedNets.ipynb defines `adam` (unit a1-fc-adam)"}
    assert "2 cells of your notebook define this unit" in program.notes["a1-fc-rmsprop"]
    assert program.unit_cell("a1-fc-rmsprop").label == f"cell {len(submission.cells)} of your notebook"


def test_a_release_without_roles_falls_back_to_position_and_provided_names():
    release = notebooks.strip_metadata(notebooks.release_notebook())
    release.metadata["dl"]["provided"] = ["affine_relu_forward", "affine_relu_backward"]
    program = program_of(notebooks.strip_metadata(notebooks.submission()), release)
    assert program.cells[0].source.startswith("import numpy as np") and "get_cifar10_data()" not in program.cells[0].source
    assert [c.label for c in program.cells if c.label.startswith("provided")] == ["provided cell 19"]


def test_malformed_cells_do_not_crash_extraction():
    weird = {"nbformat": 4, "metadata": [], "cells": [1, "text", None, {"cell_type": "code", "source": 5, "metadata": "x"},
                                                      {"cell_type": "code", "source": ["def relu_forward(x):\n", "    return x, x\n"]}]}
    program = program_of(weird)
    assert program.unit_cell("a1-fc-relu_forward") is not None
    assert set(program.missing) == {u.grade_id for u in UNITS if u.names} - {"a1-fc-relu_forward"}


def test_a_notebook_using_an_earlier_one_runs_its_cells_first_and_grades_written_in_units_from_them():
    from autograder.extraction import Program, ProgramCell, with_used_notebooks
    from autograder.units import Unit

    earlier = Program(cells=[ProgramCell("imports of setup cell 2", "import numpy as np"),
                             ProgramCell("cell 9 of your notebook", "class Net: pass", ("a1-fc-Net",))],
                      notes={"a1-fc-Net": "its cell was found by name"})
    own = Program(cells=[ProgramCell("cell 4 of your notebook", "def bn(x): return x", ("a1-bn-bn",))])
    units = [Unit("a1-bn-bn", 1, reference="dl.layers:bn"), Unit("a1-bn-net", 1, reference="dl.m:Net", written_in="a1-fc-Net")]
    combined = with_used_notebooks(own, [("Earlier.ipynb", earlier)], units)
    assert [c.label for c in combined.cells] == ["imports of setup cell 2 (Earlier.ipynb)", "cell 9 of your notebook (Earlier.ipynb)",
                                                 "cell 4 of your notebook"]
    assert combined.unit_cell("a1-bn-net").source == "class Net: pass"
    assert combined.notes["a1-bn-net"] == "its cell was found by name"

    missing = Program(missing={"a1-fc-Net": "no cell of Earlier.ipynb defines `Net`"})
    combined = with_used_notebooks(own, [("Earlier.ipynb", missing)], units)
    assert combined.missing == {"a1-bn-net": "no cell of Earlier.ipynb defines `Net`"}

    combined = with_used_notebooks(own, [("Earlier.ipynb", "your Earlier.ipynb could not be read (not JSON)")], units)
    assert combined.missing["a1-bn-net"] == "your Earlier.ipynb could not be read (not JSON)"
    assert combined.notes["a1-bn-bn"] == "your Earlier.ipynb could not be read (not JSON)"
    assert [c.label for c in combined.cells] == ["cell 4 of your notebook"]


def test_cells_still_as_released_are_told_apart_from_answers():
    untouched = program_of(notebooks.release_notebook())
    assert untouched.as_released == {u.grade_id for u in notebooks.CODE_UNITS}
    nb = notebooks.submission()
    index = notebooks.unit_cell_indices(nb, "a1-fc-adam")[0]
    nb.cells[index].source = notebooks.release_notebook().cells[index].source + "\n\n"  # as released, blank lines aside
    assert program_of(nb).as_released == {"a1-fc-adam"}


def _with_duplicate(nb):
    index = notebooks.unit_cell_indices(nb, "a1-fc-rmsprop")[0]
    older = copy.deepcopy(nb.cells[index])
    older.id, older.source = "older-copy", "# a first attempt\n" + older.source
    nb.cells.insert(index - 2, older)
    return nb


def _with_syntax_error(nb):
    nb.cells[notebooks.unit_cell_indices(nb, "a1-fc-adam")[0]].source = "def adam(w, dw, config=None):\n    return (w\n"
    return nb


def _with_deleted_cell(nb):
    del nb.cells[notebooks.unit_cell_indices(nb, "a1-fc-sgd_momentum")[0]]
    return nb


def kernel_picks(path, names_of):
    """Unit -> the cell number the student's kernel took it from (None: missing), seen from outside:
    the file name its code was compiled under, or the error that using the name gives."""
    module = import_notebook(path, names_of)
    picks = {}
    for grade_id, (name,) in names_of.items():
        try:
            obj = getattr(module, name)
        except NotebookImportError as exc:
            failed = re.search(r"cell (\d+) of FullyConnectedNets.ipynb \(unit", str(exc))  # else: "no cell of ... defines"
            picks[grade_id] = int(failed.group(1)) if failed else None
            continue
        obj = inspect.unwrap(obj)  # imported functions are wrapped to explain their failures
        code = obj.__code__ if callable(obj) and hasattr(obj, "__code__") else inspect.unwrap(obj.__init__).__code__
        picks[grade_id] = int(re.fullmatch(r"<FullyConnectedNets.ipynb cell (\d+)>", code.co_filename).group(1))
    return picks


@pytest.mark.parametrize("variant", [
    lambda nb: nb,
    notebooks.strip_metadata,
    _with_duplicate,
    _with_syntax_error,
    _with_deleted_cell,
    lambda nb: notebooks.strip_metadata(_with_deleted_cell(_with_duplicate(nb))),
], ids=["metadata-kept", "metadata-stripped", "duplicated-cell", "syntax-error", "deleted-cell", "all-at-once"])
def test_the_kernel_and_the_grader_pick_the_same_cells(tmp_path, variant):
    submission = variant(notebooks.submission())
    names_of = {u.grade_id: u.names for u in notebooks.CODE_UNITS}
    path = notebooks.write(submission, tmp_path / "FullyConnectedNets.ipynb")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the kernel warns about the broken cell
        kernel = kernel_picks(path, names_of)
    program = program_of(submission)
    grader = {g: (program.unit_cell(g).index + 1 if program.unit_cell(g) else None) for g in names_of}
    assert kernel == grader
    assert {g for g, cell in grader.items() if cell is None} == set(program.missing)
    if variant is _with_syntax_error:
        assert grader["a1-fc-adam"] is not None  # a broken cell is still the unit's cell: it costs that unit only
    if variant is _with_deleted_cell:
        assert set(program.missing) == {"a1-fc-sgd_momentum"}


def test_a_later_notebook_meets_a_forgotten_reshape_where_it_is_made(tmp_path):
    """The ConvolutionalNetworks case: affine_backward from FullyConnectedNets returns dx flat, and
    the provided sandwich of the later notebook calls it; a warning names the function and notebook."""
    broken = notebooks.replace_once(notebooks.reference_source(notebooks.unit("a1-fc-affine_backward")),
                                    "dx = (dout @ w.T).reshape(x.shape)", "dx = dout @ w.T")
    submission = notebooks.submission({"a1-fc-affine_backward": broken})
    fc = import_notebook(notebooks.write(submission, tmp_path / "FullyConnectedNets.ipynb"), {u.grade_id: u.names for u in notebooks.CODE_UNITS})
    later = {"affine_forward": fc.affine_forward, "affine_backward": fc.affine_backward,
             "relu_forward": fc.relu_forward, "relu_backward": fc.relu_backward, "np": np}
    exec(inspect.getsource(layer_utils.affine_relu_forward) + inspect.getsource(layer_utils.affine_relu_backward), later)
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((4, 2, 2, 2)), rng.standard_normal((8, 3)), rng.standard_normal(3)
    out, cache = later["affine_relu_forward"](x, w, b)
    cell = notebooks.unit_cell_indices(submission, "a1-fc-affine_backward")[0] + 1
    with pytest.warns(GradientShapeWarning) as warned:
        dx, _, _ = later["affine_relu_backward"](np.ones_like(out), cache)
    assert dx.shape == (4, 8)
    assert str(warned[0].message) == (
        f"dx has shape (4, 8); expected (4, 2, 2, 2), the shape of x (returned by affine_backward, imported from "
        f"FullyConnectedNets.ipynb (cell {cell})): if the mistake is there, fix it in FullyConnectedNets.ipynb, save it "
        f"and re-run this notebook's setup cell")
