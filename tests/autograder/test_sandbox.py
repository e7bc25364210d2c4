"""The worker's sandbox: what student code can see and do under bubblewrap, and the loud fallback.

Tests marked ``needs_bwrap`` run only where bubblewrap is installed and permitted (``.ci/run``
installs it); the fallback tests always run.
"""
import json
import os
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

import pytest

from autograder import sandbox
from autograder.extraction import Program, ProgramCell
from autograder.options import GradingOptions
from autograder.runner import ProgramRunner
from autograder.sandbox import SandboxUnavailable
from course.grading.assignment import grade_class
from tests.autograder import notebooks
from tests.autograder.conftest import OPTIONS, plan_for

REPO = Path(__file__).resolve().parents[2]
USABLE, WHY = sandbox.bwrap_status()
needs_bwrap = pytest.mark.skipif(not USABLE, reason=f"bubblewrap is not usable here: {WHY}")
FAST = GradingOptions(request_timeout=5.0, cell_timeout=10.0, unit_timeout=20.0)
WARNING = "WARNING: grading ran without the bubblewrap sandbox"


def runner_for(source: str, options: GradingOptions = FAST, names=("probe",)) -> ProgramRunner:
    runner = ProgramRunner(Program(cells=[ProgramCell("cell 1", source, ("u",))]), list(names), options)
    try:
        runner.ensure_loaded()
        assert not runner.cell_errors, runner.cell_errors
    except BaseException:
        runner.close()
        raise
    return runner


def call(source: str, *args, options: GradingOptions = FAST):
    runner = runner_for(source, options)
    try:
        return runner.student().call("probe", *args)
    finally:
        runner.close()


# --------------------------------------------------------------------------------------------
# Choosing the sandbox


def test_sandbox_choices(monkeypatch):
    off = sandbox.resolve(GradingOptions(sandbox="none"))
    assert off.kind == "none" and off.warning.startswith(WARNING) and "sandbox='none'" in off.warning
    with pytest.raises(ValueError, match="must be one of auto, bwrap, none"):
        sandbox.resolve(GradingOptions(sandbox="docker"))
    monkeypatch.setattr(sandbox, "_status", (False, "bwrap is not installed; install the Debian package bubblewrap"))
    auto = sandbox.resolve(GradingOptions())
    assert auto.kind == "none" and "bwrap is not installed" in auto.warning and "could read files" in auto.warning
    with pytest.raises(SandboxUnavailable, match="requested .* cannot be used: bwrap is not installed"):
        sandbox.resolve(GradingOptions(sandbox="bwrap"))


def test_a_missing_bwrap_is_detected_with_its_reason(monkeypatch):
    monkeypatch.setattr(sandbox.shutil, "which", lambda name, path=None: None)
    usable, reason = sandbox._probe()
    assert not usable and "install the Debian package bubblewrap" in reason


def test_a_required_but_unusable_sandbox_stops_the_batch_before_it_starts(monkeypatch, tmp_path, release_path):
    monkeypatch.setattr(sandbox, "_status", (False, "pretend bwrap is forbidden here"))
    submission = notebooks.write(notebooks.submission(), tmp_path / "alice" / "FullyConnectedNets.ipynb")
    with pytest.raises(SandboxUnavailable, match="pretend bwrap is forbidden here"):
        grade_class(plan_for(release_path, notebooks.UNITS, GradingOptions(sandbox="bwrap")), [submission.parent], tmp_path / "out")
    assert not (tmp_path / "out" / "alice").exists()


def test_the_fallback_says_so_in_every_result_and_in_the_log(tmp_path, release_path, model_artifacts, held_out):
    submitted = tmp_path / "submitted"
    good = notebooks.write(notebooks.submission(), submitted / "alice" / "FullyConnectedNets.ipynb")
    shutil.copytree(model_artifacts, good.parent / "artifacts")
    broken = submitted / "bob" / "FullyConnectedNets.ipynb"
    broken.parent.mkdir(parents=True)
    broken.write_text("{ not json")
    options = GradingOptions(**{**OPTIONS.__dict__, "sandbox": "none"})
    report = grade_class(plan_for(release_path, notebooks.UNITS, options, data=held_out), [good.parent, broken.parent], tmp_path / "out")
    results = {r.submission: r for r in report.results}
    assert results["alice"].score == sum(u.points for u in notebooks.UNITS)  # graded as usual, but flagged
    for name in ("alice", "bob"):
        output = json.loads((tmp_path / "out" / name / "results.json").read_text())["output"]
        assert output.startswith(WARNING), output
    log = (tmp_path / "out" / "grading.log").read_text()
    assert f"submission alice: {WARNING}" in log and f"submission bob: {WARNING}" in log


def test_the_fallback_worker_has_a_private_folder_and_a_clean_environment(monkeypatch):
    monkeypatch.setenv("GRADER_SECRET_TOKEN", "do-not-leak")
    source = "import os\ndef probe():\n    return [os.getcwd(), sorted(os.environ), os.environ.get('HOME')]\n"
    cwd, env, home = call(source, options=GradingOptions(sandbox="none"))
    assert "dl-grade-" in cwd and home == cwd
    assert "GRADER_SECRET_TOKEN" not in env and not [k for k in env if k.startswith(("PYTEST", "VIRTUAL_ENV"))]


def test_the_default_library_is_the_student_edition(release_path):
    release = json.loads(release_path.read_text())
    library = sandbox.default_library_path(release_path, release)
    assert library == str((REPO / "release" / "a1").resolve())  # the committed release, not the reference dl/


# --------------------------------------------------------------------------------------------
# Under bubblewrap

VIEW = '''
import importlib, os, socket, sys

def attempt(fn):
    try:
        return repr(fn())[:80]
    except BaseException as exc:
        return "refused: " + type(exc).__name__

def probe(repo, port):
    def write(path):
        with open(path, "w") as f:
            f.write("x")
        return path
    def connect():
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(b"escaped")
        return "connected"
    def module_file(name):
        return importlib.import_module(name).__file__
    return {
        "root": sorted(os.listdir("/")),
        "cwd": os.getcwd(),
        "uid": os.getuid(),
        "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
        "env": sorted(os.environ),
        "dl": attempt(lambda: module_file("dl")),
        "course": attempt(lambda: module_file("course")),
        "checks": attempt(lambda: module_file("autograder.checks")),
        "autograder": sorted(os.listdir(os.path.dirname(module_file("autograder")))),
        "reference": attempt(lambda: open(os.path.join(repo, "dl", "layers.py")).read()),
        "repo": attempt(lambda: os.listdir(repo)),
        "gradebook": attempt(lambda: open(os.path.join(repo, "gradebook.db"), "rb").read(10)),
        "home": attempt(lambda: os.listdir("/root")),
        "shadow": attempt(lambda: open("/etc/shadow").read()),
        "passwd": attempt(lambda: open("/etc/passwd").read()[:4]),
        "write_tmp": attempt(lambda: write("notes.txt")),
        "write_root": attempt(lambda: write("/escape.txt")),
        "write_usr": attempt(lambda: write("/usr/escape.txt")),
        "write_repo": attempt(lambda: write(os.path.join(repo, "escape.txt"))),
        "network": attempt(connect),
        "numpy": attempt(lambda: module_file("numpy")),
    }
'''


@needs_bwrap
def test_student_code_sees_only_the_system_python_and_the_release():
    with socket.socket() as listener:  # a server of the grading machine, on its loopback
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(0.1)
        port = listener.getsockname()[1]
        view = call(VIEW, str(REPO), port, options=GradingOptions(request_timeout=10.0, library_path=str(REPO / "release" / "a1")))
        with pytest.raises(socket.timeout):
            listener.accept()
    pythons = [Path(d) for d in sandbox._python_dirs(sys.executable)]
    mounted = [*map(Path, sandbox.SYSTEM_DIRS), *pythons, Path(tempfile.gettempdir()), Path(sandbox.INSIDE)]
    top_level = {path.parts[1] for path in mounted} | {"dev", "etc", "proc"}
    assert set(view["root"]) <= top_level, view["root"]  # nothing but the mounts' own top-level folders
    assert view["dl"] == "'/grader/lib/dl/__init__.py'"  # the student edition
    assert view["course"].startswith("refused") and view["checks"].startswith("refused")
    assert view["autograder"] == ["__init__.py", "protocol.py", "worker.py"]
    venv = [Path(sys.prefix).name] if Path(sys.prefix).parent == REPO else []
    assert view["repo"].startswith("refused") or view["repo"] == repr(venv)  # at most the venv's mount point
    leading_to_python = sorted({d.relative_to("/root").parts[0] for d in pythons if d.is_relative_to("/root")})
    assert view["home"].startswith("refused") or view["home"] == repr(leading_to_python)
    for key in ("reference", "gradebook", "shadow", "write_root", "write_usr", "write_repo", "network"):
        assert view[key].startswith("refused"), (key, view[key])
    assert view["passwd"] == "'root'" and view["write_tmp"] == "'notes.txt'" and "site-packages" in view["numpy"]
    assert "dl-grade-" in view["cwd"] and max(view["pids"]) < 10  # its own PID namespace
    assert set(view["env"]) - {"PWD"} == set(sandbox._worker_env("/tmp", []))  # nothing of the grader's environment
    if os.geteuid() == 0:
        assert view["uid"] >= sandbox.FIRST_UID  # a user of its own, not root
    assert not (REPO / "escape.txt").exists()


@needs_bwrap
def test_a_library_folder_that_would_show_hidden_material_is_refused(tmp_path):
    (tmp_path / "dl").mkdir()
    (tmp_path / "course").mkdir()
    for library, words in ((REPO, "contains the course repository"), (tmp_path, "holds course")):
        with pytest.raises(SandboxUnavailable, match=words):
            sandbox.resolve(GradingOptions(library_path=str(library)))


FORKS = '''
import os, time

def probe(attempts):
    made = 0
    for _ in range(attempts):
        try:
            pid = os.fork()
        except OSError:
            break
        if pid == 0:
            time.sleep(1.5)
            os._exit(0)
        made += 1
    return made
'''


@needs_bwrap
def test_the_number_of_processes_is_limited():
    made = call(FORKS, 200, options=GradingOptions(request_timeout=10.0, max_processes=16))
    assert 0 < made < 16


def _host_processes_with(marker: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if marker.encode() in f.read():
                    found.append(int(entry))
        except (OSError, ValueError):
            continue
    return found


@needs_bwrap
def test_processes_started_in_the_sandbox_end_with_it():
    marker = f"61.{os.getpid()}"  # a sleep of 61.<pid> seconds: easy to find among the host's processes
    source = f"import subprocess\ndef probe():\n    return subprocess.Popen(['sleep', '{marker}'], start_new_session=True).pid\n"
    runner = runner_for(source)
    try:
        runner.student().call("probe")
        deadline = time.monotonic() + 5  # the child's command line shows once it has run exec
        while not _host_processes_with(marker) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _host_processes_with(marker)
    finally:
        runner.close()
    deadline = time.monotonic() + 5
    while _host_processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _host_processes_with(marker)


@needs_bwrap
def test_the_private_folder_is_a_small_tmpfs_that_vanishes():
    source = ("import os\n"
              "def probe():\n"
              "    written = 0\n"
              "    try:\n"
              "        for i in range(100):\n"
              "            with open(f'part{i}', 'wb') as f:\n"
              "                f.write(bytes(2**20))\n"
              "            written += 1\n"
              "    except OSError as exc:\n"
              "        return written, type(exc).__name__, os.getcwd()\n"
              "    return written, None, os.getcwd()\n")
    written, error, cwd = call(source, options=GradingOptions(tmp_mb=8))
    assert written <= 8 and error == "OSError"
    assert not Path(cwd).exists()  # the grader's mount point is removed with the worker
