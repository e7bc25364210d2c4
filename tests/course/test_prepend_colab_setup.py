"""The build puts dl.colab.colab_setup at the top of every setup cell and writes the Colab marker file."""
from __future__ import annotations

import importlib.util
import json

import pytest

from course.build.assign_roles import assign_roles
from course.build.context import BuildError, role
from course.build.inline_references import object_source
from course.build.pipeline import build_all, build_notebook
from course.build.prepend_colab_setup import COMMENT, prepend_colab_setup
from course.build.requirements import module_requirements as requirements
from course.manifest import load_manifest
from dl.colab import MARKER
from dl.program import import_statements
from tests.course.conftest import REPO, TINY, source_notebook, write_course


def first_code_cell(nb):
    return next(cell for cell in nb.cells if cell.cell_type == "code")


def test_every_real_notebook_starts_with_the_colab_setup_and_keeps_its_imports():
    course = load_manifest(REPO)
    bootstrap = COMMENT + object_source("dl.colab", "colab_setup")
    for notebook in course.built_notebooks():
        setup = first_code_cell(build_notebook(course, notebook))
        assert role(setup) == "setup"
        call = (f'colab_setup(marker="{MARKER}", course="dl-course", assignment="{notebook.assignment}", '
                f'notebook="{notebook.name}.ipynb")')
        assert setup.source.startswith(f"{bootstrap}\n\n\n{call}\n\n")
        # The grader and import_notebook take only a setup cell's imports: the bootstrap adds none.
        written = (REPO / notebook.source).read_text().split('# %% role="setup"\n', 1)[1].split("\n# %%", 1)[0]
        assert import_statements(setup.source) == import_statements(written)


@pytest.mark.parametrize("text, message", [
    ('# %%\nimport numpy as np\n\n# %% role="setup"\nimport dl\n',
     r'Tiny.py line 1 \(cell 1\): code before the role="setup" cell \(course/t1/Tiny.py line 4 \(cell 2\)\); '
     "the setup cell must be the first code cell"),
    ("# %% [markdown]\n# Title\n\n# %%\nimport numpy as np\n",
     r'Tiny.py line 4 \(cell 2\): the notebook has no role="setup" cell; start its code with # %% role="setup"'),
])
def test_the_setup_cell_must_come_first(course, text, message):
    nb, ctx = source_notebook(course, text=text)
    with pytest.raises(BuildError, match=message):
        prepend_colab_setup(assign_roles(nb, ctx), ctx)


def test_a_notebook_without_code_needs_no_setup(course):
    nb, ctx = source_notebook(course, text="# %% [markdown]\n# Only prose\n")
    assert [cell.source for cell in prepend_colab_setup(assign_roles(nb, ctx), ctx).cells] == ["Only prose"]


def test_the_marker_is_written_beside_the_notebooks_and_checked(tmp_path):
    root = write_course(tmp_path, sources={"t1/Tiny": TINY, "t2/Later": ""})
    report = build_all(root, notebooks=["Tiny"])
    path = root / "source_notebooks" / "t1" / MARKER
    assert f"source_notebooks/t1/{MARKER}" in report.written
    assert json.loads(path.read_text()) == {"course": "tiny", "assignment": "t1", "requirements": requirements()}
    path.write_text(path.read_text().replace('"t1"', '"t2"'))
    assert build_all(root, check=True, notebooks=["Tiny"]).stale == [f"source_notebooks/t1/{MARKER}"]


def test_the_requirements_are_dl_s_own_and_name_importable_modules():
    found = requirements()
    assert found["numpy"].startswith("numpy>=") and found["sklearn"].startswith("scikit-learn>=")
    assert not any("pytest" in requirement for requirement in found.values())  # extras are left out
    assert [module for module in found if importlib.util.find_spec(module) is None] == []
