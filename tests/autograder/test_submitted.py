"""Which files of a submission the grader reads itself: regular files, reached without a link."""
import os

import pytest

from autograder.submitted import refusal


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "artifacts").mkdir()
    (tmp_path / "artifacts" / "model.npz").write_bytes(b"x" * 2048)
    (tmp_path / "Notebook.ipynb").write_text("{}")
    return tmp_path


def test_regular_files_in_the_submission_are_read(folder):
    assert refusal(folder, "Notebook.ipynb") is None
    assert refusal(folder, "artifacts/model.npz", max_mb=1) is None


def test_a_missing_file_is_named_without_the_graders_paths(folder):
    for relative in ("Other.ipynb", "artifacts/other.npz", "missing/model.npz"):
        message = refusal(folder, relative)
        assert message == f"{relative} is missing from your submission"


def test_a_link_is_refused_wherever_it_is_on_the_way(folder, tmp_path_factory):
    outside = tmp_path_factory.mktemp("course")
    (outside / "solution.ipynb").write_text("{}")
    (folder / "Linked.ipynb").symlink_to(outside / "solution.ipynb")
    (folder / "Inside.ipynb").symlink_to(folder / "Notebook.ipynb")  # even one that stays inside
    (folder / "linked").symlink_to(folder / "artifacts", target_is_directory=True)
    (folder / "Dangling.ipynb").symlink_to(outside / "nothing.ipynb")
    assert refusal(folder, "Linked.ipynb").startswith("Linked.ipynb is a symbolic link")
    assert refusal(folder, "Inside.ipynb").startswith("Inside.ipynb is a symbolic link")
    assert refusal(folder, "Dangling.ipynb").startswith("Dangling.ipynb is a symbolic link")
    message = refusal(folder, "linked/model.npz")
    assert message.startswith("linked is a symbolic link") and "submit the file itself" in message
    assert str(outside) not in message and str(folder) not in message


def test_folders_fifos_and_devices_are_not_read(folder):
    os.mkfifo(folder / "pipe.ipynb")  # reading it would block the grader for ever
    assert refusal(folder, "pipe.ipynb") == "pipe.ipynb is not a regular file"
    assert refusal(folder, "artifacts") == "artifacts is not a regular file"
    assert refusal("/", "dev/null") == "dev/null is not a regular file"


def test_a_file_over_the_limit_is_refused(folder):
    assert refusal(folder, "artifacts/model.npz", max_mb=0.001) == "artifacts/model.npz is over 0.001 MiB"
