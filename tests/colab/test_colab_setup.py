"""dl.colab.colab_setup in this process, with Colab's ``google.colab`` replaced by recording fakes."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

from dl.colab import MARKER, colab_setup

NOTEBOOK = "FullyConnectedNets.ipynb"


def assignment_folder(root: Path, course: str = "dl-course", assignment: str = "a1", notebook: str | None = NOTEBOOK,
                      requirements: dict | None = None) -> Path:
    """A released assignment folder as a student uploads it: the marker, a notebook, dl/."""
    root.mkdir(parents=True)
    marker = {"course": course, "assignment": assignment, "requirements": requirements or {"numpy": "numpy>=1.24"}}
    (root / MARKER).write_text(json.dumps(marker))
    if notebook:
        (root / notebook).write_text("{}")
    (root / "dl").mkdir()
    (root / "dl" / "__init__.py").write_text("")
    return root


@pytest.fixture
def colab(tmp_path, monkeypatch):
    """A kernel as Colab starts it: in an empty /content, with google.colab importable. ``uploaded`` is
    what the student's Drive holds once mounted; ``mounted`` and ``widgets`` record the calls."""
    content = tmp_path / "content"
    content.mkdir()
    monkeypatch.chdir(content)
    monkeypatch.setattr(sys, "path", list(sys.path))
    state = types.SimpleNamespace(content=content, uploaded=tmp_path / "uploaded", mounted=[], widgets=0)
    state.uploaded.mkdir()

    def mount(mountpoint):
        shutil.copytree(state.uploaded, Path(mountpoint) / "MyDrive")
        state.mounted.append(mountpoint)

    def enable_custom_widget_manager():
        state.widgets += 1

    module = types.ModuleType("google.colab")
    module.drive = types.SimpleNamespace(mount=mount)
    module.output = types.SimpleNamespace(enable_custom_widget_manager=enable_custom_widget_manager)
    monkeypatch.setitem(sys.modules, "google.colab", module)
    return state


def setup(**kwargs):
    colab_setup(MARKER, "dl-course", "a1", NOTEBOOK, **kwargs)


def test_outside_colab_it_does_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "google.colab", None)  # import google.colab fails, as outside Colab
    path = list(sys.path)
    setup()
    assert Path.cwd() == tmp_path and sys.path == path


def test_finds_the_folder_mounts_once_and_enables_widgets(colab):
    assignment_folder(colab.uploaded / "Colab Notebooks" / "course" / "a1")
    setup()
    found = colab.content / "drive" / "MyDrive" / "Colab Notebooks" / "course" / "a1"
    assert colab.mounted == [str(colab.content / "drive")]
    assert Path.cwd() == found and sys.path[0] == str(found)
    assert colab.widgets == 1
    setup()  # the cell run again: already there, nothing mounted or searched
    assert colab.mounted == [str(colab.content / "drive")] and Path.cwd() == found and colab.widgets == 2
    assert sys.path.count(str(found)) == 1


def test_after_a_restart_drive_is_not_mounted_again(colab):
    assignment_folder(colab.uploaded / "a1")
    setup()
    os.chdir(colab.content)  # a restarted kernel starts in /content again; Drive stays mounted
    setup()
    assert len(colab.mounted) == 1 and Path.cwd().name == "a1"


def test_other_courses_assignments_and_folders_without_the_notebook_are_skipped(colab, capsys):
    assignment_folder(colab.uploaded / "a" / "other-course", course="cs231n")
    assignment_folder(colab.uploaded / "a" / "a2", assignment="a2")
    assignment_folder(colab.uploaded / "a" / "without-notebook", notebook=None)
    assignment_folder(colab.uploaded / "b" / "c" / "mine")
    setup()
    assert Path.cwd().name == "mine"
    assert "copies" not in capsys.readouterr().out


def test_of_several_copies_the_last_saved_notebook_wins_and_the_others_are_named(colab, capsys):
    old = assignment_folder(colab.uploaded / "old" / "a1")
    new = assignment_folder(colab.uploaded / "new" / "a1")
    os.utime(old / NOTEBOOK, (1_000_000, 1_000_000))
    os.utime(new / NOTEBOOK, (2_000_000, 2_000_000))
    setup()  # copytree keeps the times
    out = capsys.readouterr().out
    assert Path.cwd().parent.name == "new"
    assert f"2 copies of a1 in your Drive; using the one whose {NOTEBOOK} was saved last" in out
    assert str(colab.content / "drive" / "MyDrive" / "old" / "a1") in out


def test_the_search_is_bounded_and_says_what_to_upload_where(colab):
    assignment_folder(colab.uploaded / "1" / "2" / "3" / "a1")  # 4 levels below MyDrive
    with pytest.raises(FileNotFoundError, match=f"no folder up to 3 levels below .*MyDrive holds both {MARKER} "
                       f"and {NOTEBOOK}. Upload the whole a1 folder .* as MyDrive/dl-course/a1"):
        setup(depth=3)
    os.chdir(colab.content)
    setup()  # 4 levels by default
    assert Path.cwd().name == "a1"


def test_installs_only_what_cannot_be_imported(colab, monkeypatch, capsys):
    runs = []
    monkeypatch.setattr(subprocess, "run", lambda args, check: runs.append(args))
    requirements = {"numpy": "numpy>=1.24", "no_such_module_here": "no-such-package>=1.0"}
    assignment_folder(colab.uploaded / "a1", requirements=requirements)
    setup()
    assert runs == [[sys.executable, "-m", "pip", "install", "--quiet", "no-such-package>=1.0"]]
    assert "Installing no-such-package>=1.0" in capsys.readouterr().out
