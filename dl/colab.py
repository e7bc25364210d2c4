"""Google Colab: make a released notebook work where Colab starts it.

Colab starts a notebook's kernel in ``/content``, not in the assignment folder, so ``import dl``
and ``import_notebook("FullyConnectedNets.ipynb")`` would fail there. :func:`colab_setup` finds
the assignment folder in the student's Google Drive by the marker file the release ships in it
(:data:`MARKER`, written by the build), works there and prepares Colab; anywhere else it returns
at once.

Since ``dl`` cannot be imported before it has run, the build writes the source of
:func:`colab_setup` at the top of every setup cell (``course/build/prepend_colab_setup.py``).
It must therefore stay self-contained: its imports inside, no other name of this module used.
"""
from __future__ import annotations

MARKER = "dl-course-assignment.json"


def colab_setup(marker: str, course: str, assignment: str, notebook: str, depth: int = 4) -> None:
    """In Colab: mount Drive, work in the folder of ``assignment`` (the one holding ``marker`` and
    ``notebook``, at most ``depth`` folders below MyDrive; of several, the one whose notebook was
    saved last), install the requirements the marker lists that Colab cannot import, enable widgets.
    Elsewhere (JupyterLab, VS Code, plain Jupyter): nothing.
    """
    import json
    import os
    import subprocess
    import sys
    from importlib.util import find_spec

    try:
        from google.colab import drive, output
    except ImportError:
        return  # not in Colab

    def ours(folder):
        try:
            with open(os.path.join(folder, marker), encoding="utf-8") as file:
                found = json.load(file)
        except (OSError, ValueError):
            return None
        return found if (found.get("course"), found.get("assignment")) == (course, assignment) else None

    def subfolders(folder):
        try:
            return [e.path for e in os.scandir(folder) if e.is_dir() and not e.name.startswith(".")]
        except OSError:  # a folder Drive cannot list
            return []

    if not ours(os.getcwd()):  # the kernel has just started, in /content
        my_drive = os.path.join(os.getcwd(), "drive", "MyDrive")  # /content/drive/MyDrive
        if not os.path.isdir(my_drive):
            drive.mount(os.path.dirname(my_drive))
        copies, level = [], [my_drive]
        for _ in range(depth + 1):  # breadth first, shallow folders before deep ones
            copies += [f for f in level if ours(f) and os.path.isfile(os.path.join(f, notebook))]
            level = [sub for f in level for sub in subfolders(f)]
        if not copies:
            raise FileNotFoundError(
                f"Assignment {assignment} of {course} is not in your Google Drive: no folder up to {depth} levels "
                f"below {my_drive} holds both {marker} and {notebook}. Upload the whole {assignment} folder you "
                f"were given (its notebooks, dl/ and {marker}) to your Drive, for example as "
                f"MyDrive/{course}/{assignment}, open {notebook} from there and run this cell again.")
        copies.sort(key=lambda f: os.path.getmtime(os.path.join(f, notebook)), reverse=True)
        if len(copies) > 1:
            print(f"{len(copies)} copies of {assignment} in your Drive; using the one whose {notebook} was saved "
                  f"last. Others: {', '.join(copies[1:])}")
        os.chdir(copies[0])
        print(f"Working in {copies[0]}")
    if sys.path[:1] != [os.getcwd()]:
        sys.path.insert(0, os.getcwd())  # import dl from this folder
    needs = ours(os.getcwd()).get("requirements", {})
    missing = [requirement for module, requirement in needs.items() if find_spec(module) is None]
    if missing:
        print(f"Installing {', '.join(missing)}")
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", *missing], check=True)
    output.enable_custom_widget_manager()
