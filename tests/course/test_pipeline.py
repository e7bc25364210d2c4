"""The build as a whole: build_all, determinism, --check, the CLI, and the real course."""
import json

import nbformat
import pytest

from course.build import STEPS, BuildError, build_all, build_notebook
from course.build.write_notebook import notebook_text
from course.cli import main
from course.manifest import load_manifest
from tests.course.conftest import REPO, TINY, write_course

TINY_NB = "source_notebooks/t1/Tiny.ipynb"
LATER_NB = "source_notebooks/t2/Later.ipynb"


def test_steps_in_their_stated_order():
    assert [s.__name__ for s in STEPS] == ["assign_roles", "validate_source", "inline_references",
                                           "compute_expected_values", "generate_tests", "write_metadata",
                                           "validate_notebook"]
    assert all(s.__module__ == f"course.build.{s.__name__}" for s in STEPS)  # one module per step, named after it


def test_build_all_writes_every_notebook_that_is_not_planned(course_root):
    report = build_all(course_root)
    assert report.written == [TINY_NB, LATER_NB]
    nb = nbformat.read(course_root / TINY_NB, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["dl"]["generated_by"] == "dl-course build"
    assert all(c.outputs == [] and c.execution_count is None for c in nb.cells if c.cell_type == "code")


def test_rebuilding_is_byte_identical(course_root, tmp_path_factory):
    build_all(course_root)
    first = (course_root / TINY_NB).read_bytes()
    assert build_all(course_root).unchanged == [TINY_NB, LATER_NB]
    other = write_course(tmp_path_factory.mktemp("elsewhere"))  # another folder, another process state
    build_all(other)
    assert (other / TINY_NB).read_bytes() == first
    assert b"/tmp" not in first and json.loads(first)["cells"][0]["id"] == "tiny-prose-1"


def test_check_writes_nothing_and_reports_missing_stale_and_extra(course_root):
    report = build_all(course_root, check=True)
    assert report.missing == [TINY_NB, LATER_NB] and not (course_root / "source_notebooks").exists()
    build_all(course_root)
    assert build_all(course_root, check=True).fresh
    source = course_root / "course/t1/Tiny.py"
    source.write_text(source.read_text().replace("# The model answer.", "# A better model answer."))
    (course_root / "source_notebooks/t1/Renamed.ipynb").write_text("{}")
    report = build_all(course_root, check=True)
    assert report.stale == [TINY_NB] and report.unchanged == [LATER_NB]
    assert report.extra == ["source_notebooks/t1/Renamed.ipynb"] and not report.fresh


def test_a_change_in_dl_makes_the_notebook_stale(course_root, monkeypatch):
    build_all(course_root)
    import course.build.inline_references as inline

    original = inline.object_source
    monkeypatch.setattr(inline, "object_source", lambda m, n: original(m, n).replace("np.maximum(0, x)", "np.maximum(x, 0)"))
    assert build_all(course_root, check=True).stale == [TINY_NB]


def test_selected_notebooks_only(course_root):
    assert build_all(course_root, notebooks=["Later"]).written == [LATER_NB]
    with pytest.raises(BuildError, match="unknown notebook"):
        build_all(course_root, notebooks=["Nope"])


def test_problems_of_all_notebooks_are_reported_together(tmp_path):
    write_course(tmp_path, sources={"t1/Tiny": TINY.replace('role="check"', 'role="chek"'),
                                    "t2/Later": "# %% unit=\"t2-later-softmax_loss\"\nx = 1\n"})
    with pytest.raises(BuildError, match=r'(?s)Tiny.py line 17 \(cell 6\): unknown role "chek".*Later.py line 1 \(cell 1\): the build replaces'):
        build_all(tmp_path)


def test_cli_build_and_check_exit_codes(course_root, capsys):
    assert main(["build", "--check", "--root", str(course_root)]) == 1
    assert "missing: source_notebooks/t1/Tiny.ipynb" in capsys.readouterr().err
    assert main(["build", "--root", str(course_root)]) == 0
    assert main(["build", "--check", "--root", str(course_root)]) == 0
    (course_root / TINY_NB).write_text((course_root / TINY_NB).read_text().replace("A tiny notebook", "Edited by hand"))
    assert main(["build", "--check", "--root", str(course_root)]) == 1
    assert "stale: source_notebooks/t1/Tiny.ipynb" in capsys.readouterr().err
    assert main(["build", "--root", str(course_root), "Nope"]) == 1
    assert "unknown notebook(s) Nope" in capsys.readouterr().err


def test_cli_finds_the_root_from_a_subfolder(course_root, monkeypatch):
    monkeypatch.chdir(course_root / "course" / "t1")
    assert main(["build"]) == 0 and (course_root / TINY_NB).is_file()


def test_the_real_course_builds():
    course = load_manifest(REPO)
    for notebook in course.built_notebooks():
        text = notebook_text(build_notebook(course, notebook))
        assert "reference_value(" not in text
