"""write_notebook: deterministic text without outputs, written only when it changed."""
import nbformat
from nbformat.v4 import new_code_cell, new_notebook, new_output

from course.build.write_notebook import notebook_text, write_if_changed


def notebook():
    cell = new_code_cell("print(1)", id="c-1", execution_count=3, outputs=[new_output("stream", text="1\n")])
    return new_notebook(cells=[cell], metadata={"b": 1, "a": 2})


def test_text_has_no_outputs_and_sorted_keys():
    text = notebook_text(notebook())
    nb = nbformat.reads(text, as_version=4)
    assert nb.cells[0].outputs == [] and nb.cells[0].execution_count is None
    assert text.index('"a": 2') < text.index('"b": 1') and text.endswith("}\n")
    assert notebook_text(notebook()) == text


def test_write_only_when_changed(tmp_path):
    path = tmp_path / "deep" / "Nb.ipynb"
    assert write_if_changed(path, "one\n") is True
    mtime = path.stat().st_mtime_ns
    assert write_if_changed(path, "one\n") is False and path.stat().st_mtime_ns == mtime
    assert write_if_changed(path, "two\n") is True and path.read_text() == "two\n"
    assert [p.name for p in path.parent.iterdir()] == ["Nb.ipynb"]  # no temporary file left
