"""The build as a whole: build_all, determinism, --check, the CLI, and the real course."""
import json

import numpy as np

import nbformat
import pytest

from course.build import STEPS, BuildError, build_all, build_notebook
from course.build.write_notebook import notebook_text
from course.cli import main
from course.manifest import load_manifest
from tests.course.conftest import MANIFEST, REPO, TINY, write_course

TINY_NB = "source_notebooks/t1/Tiny.ipynb"
LATER_NB = "source_notebooks/t2/Later.ipynb"


def notebooks(paths: list[str]) -> list[str]:
    return [p for p in paths if p.endswith(".ipynb")]


def test_steps_in_their_stated_order():
    assert [s.__name__ for s in STEPS] == ["assign_roles", "validate_source", "inline_references", "prepend_colab_setup",
                                           "compute_expected_values", "generate_tests", "write_metadata",
                                           "validate_notebook"]
    assert all(s.__module__ == f"course.build.{s.__name__}" for s in STEPS)  # one module per step, named after it


def test_build_all_writes_every_notebook_that_is_not_planned(course_root):
    report = build_all(course_root)
    assert notebooks(report.written) == [TINY_NB, LATER_NB]
    nb = nbformat.read(course_root / TINY_NB, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["dl"]["generated_by"] == "dl-course build"
    assert all(c.outputs == [] and c.execution_count is None for c in nb.cells if c.cell_type == "code")


def test_rebuilding_is_byte_identical(course_root, tmp_path_factory):
    build_all(course_root)
    first = (course_root / TINY_NB).read_bytes()
    assert notebooks(build_all(course_root).unchanged) == [TINY_NB, LATER_NB]
    other = write_course(tmp_path_factory.mktemp("elsewhere"))  # another folder, another process state
    build_all(other)
    assert (other / TINY_NB).read_bytes() == first
    assert b"/tmp" not in first and json.loads(first)["cells"][0]["id"] == "tiny-prose-1"


def test_check_writes_nothing_and_reports_missing_stale_and_extra(course_root):
    report = build_all(course_root, check=True)
    assert notebooks(report.missing) == [TINY_NB, LATER_NB] and not (course_root / "source_notebooks").exists()
    build_all(course_root)
    assert build_all(course_root, check=True).fresh
    source = course_root / "course/t1/Tiny.py"
    source.write_text(source.read_text().replace("# The model answer.", "# A better model answer."))
    (course_root / "source_notebooks/t1/Renamed.ipynb").write_text("{}")
    report = build_all(course_root, check=True)
    assert report.stale == [TINY_NB] and notebooks(report.unchanged) == [LATER_NB]
    assert report.extra == ["source_notebooks/t1/Renamed.ipynb"] and not report.fresh


def test_a_change_in_dl_makes_the_notebook_stale(course_root, monkeypatch):
    build_all(course_root)
    import course.build.inline_references as inline

    original = inline.object_source
    monkeypatch.setattr(inline, "object_source", lambda m, n: original(m, n).replace("np.maximum(0, x)", "np.maximum(x, 0)"))
    assert build_all(course_root, check=True).stale == [TINY_NB]


def test_selected_notebooks_only(course_root):
    written = build_all(course_root, notebooks=["Later"]).written
    assert notebooks(written) == [LATER_NB] and all(p.startswith("source_notebooks/t2/") for p in written)
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


def test_the_student_edition_of_dl_is_written_beside_the_notebooks(course_root):
    from course.build.stub_solutions import stub_solutions

    report = build_all(course_root)
    course = load_manifest(course_root)
    for assignment in ("t1", "t2"):
        edition = stub_solutions(course, assignment)
        folder = course_root / "source_notebooks" / assignment / "dl"
        assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) == sorted(edition)
        assert all((folder / rel).read_text() == text for rel, text in edition.items())
        assert f"source_notebooks/{assignment}/dl/layers.py" in report.written
    assert 'raise NotImplementedError("relu_forward is implemented in Tiny.ipynb' in (course_root / "source_notebooks/t1/dl/layers.py").read_text()


def test_check_covers_the_student_edition_and_build_removes_modules_dl_no_longer_has(course_root):
    build_all(course_root)
    layers = course_root / "source_notebooks/t1/dl/layers.py"
    layers.write_text(layers.read_text() + "# edited\n")
    gone = course_root / "source_notebooks/t1/dl/removed_module.py"
    gone.write_text("x = 1\n")
    byproduct = course_root / "source_notebooks/t1/dl/__pycache__/layers.cpython-311.pyc"
    byproduct.parent.mkdir()
    byproduct.write_bytes(b"\0")  # ignored by nbgrader and the release: not a difference
    report = build_all(course_root, check=True)
    assert report.stale == ["source_notebooks/t1/dl/layers.py"]
    assert report.extra == ["source_notebooks/t1/dl/removed_module.py"]
    report = build_all(course_root)
    assert report.removed == ["source_notebooks/t1/dl/removed_module.py"] and not gone.exists()
    assert build_all(course_root, check=True).fresh


def test_the_build_refuses_a_student_edition_imported_as_dl(course_root, monkeypatch):
    import course.build.pipeline as pipeline

    monkeypatch.setattr(pipeline, "dl_folder", lambda: course_root / "source_notebooks" / "t1" / "dl")
    with pytest.raises(BuildError, match="dl was imported from the student edition .*run dl-course from the course root"):
        build_all(course_root)


FILE_CHECK = '''\
# %% role="check"
rng = np.random.default_rng(0)
checks = reference_file("tiny-checks.npz", out=affine_relu_forward(rng.standard_normal((40, 30)), rng.standard_normal((30, 50)), np.zeros(50))[0])
print(checks["out"].shape)
'''


def test_reference_files_are_written_next_to_the_notebook_and_checked(tmp_path):
    from course.build.literals import rounded
    from course.build.reference_files import read_npz
    from dl.layer_utils import affine_relu_forward

    root = write_course(tmp_path, sources={"t1/Tiny": TINY + "\n" + FILE_CHECK, "t2/Later": ""})
    written = build_all(root, notebooks=["Tiny"]).written
    path = root / "source_notebooks/t1/tiny-checks.npz"
    assert "source_notebooks/t1/tiny-checks.npz" in written
    rng = np.random.default_rng(0)
    expected = affine_relu_forward(rng.standard_normal((40, 30)), rng.standard_normal((30, 50)), np.zeros(50))[0]
    np.testing.assert_array_equal(read_npz(path.read_bytes())["out"], rounded(expected))
    nb = nbformat.read(root / TINY_NB, as_version=4)
    assert "checks = dict(np.load('tiny-checks.npz', allow_pickle=False))" in nb.cells[-1].source
    first = path.read_bytes()
    path.write_bytes(first[:-1] + b"\1")
    assert build_all(root, check=True, notebooks=["Tiny"]).stale == ["source_notebooks/t1/tiny-checks.npz"]
    build_all(root, notebooks=["Tiny"])
    assert path.read_bytes() == first  # the same bytes on every build
    (root / "course/t1/Tiny.py").write_text(TINY)  # the call is gone: the file is left over
    assert build_all(root, check=True, notebooks=["Tiny"]).extra == ["source_notebooks/t1/tiny-checks.npz"]


def test_two_notebooks_of_an_assignment_cannot_write_the_same_reference_file(tmp_path):
    manifest = MANIFEST.replace('notebooks = ["Tiny"]', 'notebooks = ["Tiny", "Other"]') + (
        '\n[notebooks.Other]\nassignment = "t1"\nshort = "other"\n')
    other = '# %% role="setup"\nimport numpy as np\n\n# %% role="check"\nc = reference_file("tiny-checks.npz", x=np.zeros(2))\n'
    root = write_course(tmp_path, manifest, sources={"t1/Tiny": TINY + "\n" + FILE_CHECK, "t2/Later": "", "t1/Other": other})
    with pytest.raises(BuildError, match="Other.py: writes source_notebooks/t1/tiny-checks.npz, which another notebook of t1"):
        build_all(root, notebooks=["Tiny", "Other"])
