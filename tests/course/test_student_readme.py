"""The students' README: one template, filled from the manifest, the installed package's requirements and the check registry."""
import re

import pytest

from course.build import build_all
from course.build.context import BuildError
from course.build.student_readme import TEMPLATE, student_readme
from course.manifest import load_manifest
from tests.course.conftest import REPO


def test_the_readme_lists_the_notebooks_packages_data_and_artifacts_of_the_real_course():
    course = load_manifest(REPO)
    text = student_readme(course, "a1")
    assert "# Assignment a1: Numpy networks" in text
    order = [line.split("`")[1] for line in text.splitlines() if re.match(r"\d\. `", line)]
    assert order == [f"{name}.ipynb" for name in course.assignments["a1"].notebooks]
    assert 'pip install jupyterlab "numpy>=1.24"' in text and "Python 3.11 or newer" in text
    assert "python -m dl.data.download cifar10" in text and 'download("cifar10")' in text  # its accuracy checks read CIFAR-10
    assert "`artifacts/a1_best_fc.npz` and `artifacts/a1_best_fc.json`, saved by `FullyConnectedNets.ipynb`" in text
    assert "`artifacts/a1_convnet.npz`" in text
    for workflow in ("Google Colab", "JupyterLab", "VS Code", "DL_SMOKE=1"):
        assert workflow in text
    assert "$" not in text  # every placeholder filled


def test_a_torch_model_is_listed_by_its_safetensors_file_and_a_download_once_by_its_entry():
    text = student_readme(load_manifest(REPO), "a2")
    assert ("`artifacts/a2_cifar_challenge.safetensors` and `artifacts/a2_cifar_challenge.json`, saved by `PyTorch.ipynb`"
            in text)
    # the challenge grades on the data set cifar10_test, which the download entry cifar10 fetches
    assert text.count("python -m dl.data.download cifar10\n") == 1 and 'download("cifar10")' in text
    assert "cifar10_test" not in text and ".npz`" not in text


def test_an_assignment_without_data_or_models_says_so(course):
    text = student_readme(course, "t2")
    assert "# Assignment t2: Later" in text and "1. `Later.ipynb`" in text
    assert "need no data to download" in text and "No notebook of this assignment saves a model" in text


def test_the_build_writes_and_checks_the_readme_beside_the_notebooks(course_root):
    report = build_all(course_root)
    assert "source_notebooks/t1/README.md" in report.written
    assert (course_root / "source_notebooks/t1/README.md").read_text() == student_readme(load_manifest(course_root), "t1")
    template = course_root / TEMPLATE
    template.write_text(template.read_text() + "\nOne more line.\n")
    report = build_all(course_root, check=True)
    assert report.stale == ["source_notebooks/t1/README.md", "source_notebooks/t2/README.md"] and not report.extra


def test_an_unknown_placeholder_or_a_missing_template_names_the_template(course_root):
    template = course_root / TEMPLATE
    template.write_text("# $assignment for $student\n")
    with pytest.raises(BuildError, match=r"course/student_readme.md: unknown or malformed placeholder \('student'\)"):
        build_all(course_root)
    template.unlink()
    with pytest.raises(BuildError, match="course/student_readme.md: not found"):
        build_all(course_root)
