"""The worker's sandbox: what student code can see and do under bubblewrap, and in the fallback.

Tests marked ``needs_bwrap`` run only where bubblewrap is installed and permitted (``.ci/run``
installs it); the fallback tests always run, those of a user of its own per worker only as
root (``needs_root``) and those of Landlock only where the kernel has it (``needs_landlock``).
"""
import contextlib
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import pytest

from autograder import landlock, sandbox
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
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="workers get users of their own only when the grader runs as root")
LANDLOCK, NO_LANDLOCK = landlock.abi()
needs_landlock = pytest.mark.skipif(not LANDLOCK, reason=f"this kernel offers no Landlock: {NO_LANDLOCK}")
FALLBACK_STATUS = sandbox.fallback_status()
# As root the fallback gives each worker a user of its own, unless that user cannot run this
# interpreter (a virtual environment inside a folder only root may enter, such as a clone in
# mktemp -d's folder): the tests of those users need them, and never run their attacks without.
needs_own_users = pytest.mark.skipif(os.geteuid() != 0 or not FALLBACK_STATUS.own_users,
                                     reason=f"workers get users of their own only as root: {FALLBACK_STATUS.users_reason}")
FAST = GradingOptions(request_timeout=5.0, cell_timeout=10.0, unit_timeout=20.0)
FALLBACK = replace(FAST, sandbox="none")
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
    status = sandbox.fallback_status()
    assert (off.own_users, off.landlock) == (status.own_users, status.landlock)
    assert status.landlock == LANDLOCK
    if os.geteuid() != 0:
        assert not status.own_users
    elif not status.own_users:  # the one reason a root grader goes without: its interpreter is out of other users' reach
        assert "create it in a folder every user may enter and read" in status.users_reason, status.users_reason
    plain = sandbox.resolve(GradingOptions(sandbox="none", landlock=False))
    assert plain.landlock == 0 and "Landlock was not used (it was turned off with landlock=False)" in plain.warning
    with pytest.raises(ValueError, match="must be one of auto, bwrap, none"):
        sandbox.resolve(GradingOptions(sandbox="docker"))
    monkeypatch.setattr(sandbox, "_status", (False, "bwrap is not installed; install the Debian package bubblewrap"))
    auto = sandbox.resolve(GradingOptions())
    assert auto.kind == "none" and auto.warning.startswith(f"{WARNING} (bwrap is not installed;")
    with pytest.raises(SandboxUnavailable, match="requested .* cannot be used: bwrap is not installed"):
        sandbox.resolve(GradingOptions(sandbox="bwrap"))


def _warning(monkeypatch, euid: int = 0, **fields) -> str:
    monkeypatch.setattr(sandbox.os, "geteuid", lambda: euid)
    monkeypatch.setattr(sandbox.os, "getuid", lambda: euid)
    return sandbox.Sandbox("none", "bwrap is forbidden here", **fields).warning


def test_the_warning_says_what_the_fallback_gave(monkeypatch):
    text = _warning(monkeypatch, own_users=True, landlock=7)
    assert text.startswith(f"{WARNING} (bwrap is forbidden here). Each worker ran as an unprivileged user of its own")
    assert "could not signal the grader or other workers" in text and "Landlock (ABI 7) let it read only" in text
    assert text.endswith("it could not open a TCP connection or signal a process outside its worker.")
    assert "it could reach" not in text and "it could signal" not in text
    assert _warning(monkeypatch, own_users=True, landlock=3).endswith("write only its private folder; it could reach the network.")
    exposed = _warning(monkeypatch, own_users=True, landlock_reason="the kernel has no Landlock", exposed=("/course/dl", "/course/tests"))
    assert "Landlock was not used (the kernel has no Landlock), so student code could read every file that all users" in exposed
    assert "of the course's hidden material, that is /course/dl, /course/tests (make it readable by root only)" in exposed
    closed = _warning(monkeypatch, own_users=True, landlock_reason="the kernel has no Landlock")
    assert closed.endswith("the course's hidden material is readable by root only; it could reach the network.")
    as_root = _warning(monkeypatch, users_reason="setuid is forbidden", landlock=7)
    assert "Workers ran as root (setuid is forbidden), with the grader's rights" in as_root and as_root.endswith("it could signal any process.")
    bare_root = _warning(monkeypatch, users_reason="setuid is forbidden", landlock_reason="the kernel has no Landlock")
    assert "could read and write every file of the machine" in bare_root and bare_root.endswith("signal any process and reach the network.")
    user = _warning(monkeypatch, euid=1000, landlock=6)
    assert "Workers ran as the grader's own user (uid 1000)" in user and "signal a process outside its worker." in user
    assert "it could signal" not in user
    bare = _warning(monkeypatch, euid=1000, landlock_reason="the kernel has no Landlock")
    assert "could read and write every file the grader can" in bare and bare.endswith("it could signal the grader's processes and reach the network.")


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
    source = ("import os\ndef probe():\n    info = os.stat('.')\n"
              "    return [os.getcwd(), sorted(os.environ), os.environ.get('HOME'), info.st_uid, info.st_mode & 0o777]\n")
    cwd, env, home, owner, mode = call(source, options=FALLBACK)
    assert "dl-grade-" in cwd and home == cwd
    assert "GRADER_SECRET_TOKEN" not in env and not [k for k in env if k.startswith(("PYTEST", "VIRTUAL_ENV"))]
    assert mode == 0o700 and (owner in sandbox.worker_uids() if os.geteuid() == 0 and FALLBACK_STATUS.own_users else owner == os.getuid())


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

def listing(folder):
    try:
        return sorted(os.listdir(folder))
    except OSError as exc:
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
        "root": listing("/"),
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


@contextlib.contextmanager
def loopback_server():
    """``(listener, port)``: a server of the grading machine, on its loopback."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(0.1)
        yield listener, listener.getsockname()[1]


@needs_bwrap
def test_student_code_sees_only_the_system_python_and_the_release():
    with loopback_server() as (listener, port):
        view = call(VIEW, str(REPO), port, options=GradingOptions(request_timeout=10.0, library_path=str(REPO / "release" / "a1")))
        with pytest.raises(socket.timeout):
            listener.accept()
    pythons = [Path(d) for d in sandbox._python_dirs(sys.executable)]
    mounted = [*map(Path, sandbox.SYSTEM_DIRS), *pythons, Path(tempfile.gettempdir()), Path(sandbox.INSIDE)]
    top_level = {path.parts[1] for path in mounted} | {"dev", "etc", "proc"}
    assert isinstance(view["root"], list) and set(view["root"]) <= top_level, view["root"]  # nothing but the mounts' own top-level folders
    assert view["dl"] == "'/grader/lib/dl/__init__.py'"  # the student edition
    assert view["course"].startswith("refused") and view["checks"].startswith("refused")
    assert view["autograder"] == sorted(["__init__.py", *sandbox.STAGED])
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


# --------------------------------------------------------------------------------------------
# In the fallback: a user of its own per worker (as root), and Landlock

USER = '''
import os, signal

def attempt(fn):
    try:
        fn()
        return "done"
    except OSError as exc:
        return type(exc).__name__

def probe(grader, closed, shared):
    status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line)
    return {
        "uid": list(os.getresuid()), "gid": list(os.getresgid()), "groups": os.getgroups(),
        "no_new_privs": status["NoNewPrivs"].strip(),
        "kill_parent": attempt(lambda: os.kill(os.getppid(), signal.SIGKILL)),
        "kill_grader": attempt(lambda: os.kill(grader, signal.SIGKILL)),
        "kill_init": attempt(lambda: os.kill(1, signal.SIGKILL)),
        "kill_all": attempt(lambda: [os.kill(int(p), signal.SIGTERM) for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()]),
        "root_home": attempt(lambda: os.listdir("/root")),
        "closed": attempt(lambda: open(closed).read()),
        "shared": attempt(lambda: open(shared).read()),
    }
'''


@pytest.fixture
def open_and_closed():
    """A file every user may read and one in a folder closed to other users (outside pytest's closed tmp)."""
    top = Path(tempfile.mkdtemp(prefix="dl-grade-test-"))
    try:
        top.chmod(0o755)
        (top / "closed").mkdir(mode=0o700)
        (top / "closed" / "secret.txt").write_text("secret")
        (top / "shared.txt").write_text("shared")
        (top / "shared.txt").chmod(0o644)
        yield top / "closed" / "secret.txt", top / "shared.txt"
    finally:
        shutil.rmtree(top)


@needs_own_users
@pytest.mark.parametrize("use_landlock", [True, False], ids=["landlock", "no-landlock"])
def test_as_root_each_fallback_worker_is_a_user_of_its_own_that_cannot_signal_the_grader(open_and_closed, use_landlock):
    closed, shared = open_and_closed
    seen = call(USER, os.getpid(), str(closed), str(shared), options=replace(FALLBACK, landlock=use_landlock))
    uid = seen["uid"][0]
    assert uid in sandbox.worker_uids() and seen["uid"] == [uid] * 3 and seen["gid"] == [uid] * 3 and seen["groups"] == []
    assert seen["no_new_privs"] == "1"
    for key in ("kill_parent", "kill_grader", "kill_init", "kill_all", "root_home", "closed"):
        assert seen[key] == "PermissionError", (key, seen[key])
    # Without Landlock only permissions keep files from it; with Landlock, only what the policy names is there
    assert seen["shared"] == ("PermissionError" if use_landlock and LANDLOCK else "done")


@needs_root
@pytest.mark.skipif(not (FALLBACK_STATUS.own_users or LANDLOCK >= 6),
                    reason="neither a user of its own nor Landlock's signal scope (ABI 6) keeps a worker from the grader here")
def test_the_batch_completes_when_a_submission_kills_its_parent(tmp_path, release_path, model_artifacts, held_out):
    submitted = tmp_path / "submitted"
    honest = notebooks.write(notebooks.submission(), submitted / "honest" / "FullyConnectedNets.ipynb")
    killer = notebooks.write(notebooks.submission({"a1-fc-relu_forward": (
        "import os, signal\n"
        "for pid in (os.getppid(), os.getpgid(os.getppid()), 1):\n"
        "    try:\n        os.kill(pid, signal.SIGKILL)\n    except OSError:\n        pass\n"
        + notebooks.reference_source(notebooks.unit("a1-fc-relu_forward")))}), submitted / "killer" / "FullyConnectedNets.ipynb")
    for folder in (honest.parent, killer.parent):
        shutil.copytree(model_artifacts, folder / "artifacts")
    options = GradingOptions(**{**OPTIONS.__dict__, "sandbox": "none"})
    report = grade_class(plan_for(release_path, notebooks.UNITS, options, data=held_out), [honest.parent, killer.parent], tmp_path / "out")
    full = sum(u.points for u in notebooks.UNITS)
    assert [(r.submission, r.score) for r in report.results] == [("honest", full), ("killer", full)]  # it killed nobody, and earned its marks


@needs_landlock
def test_landlock_confines_the_fallback_worker_to_its_policy():
    with loopback_server() as (listener, port):
        view = call(VIEW, str(REPO), port, options=replace(FALLBACK, request_timeout=10.0, library_path=str(REPO / "release" / "a1")))
        if LANDLOCK >= 4:  # TCP is handled from Landlock's ABI 4
            with pytest.raises(socket.timeout):
                listener.accept()
    for key in ("root", "reference", "repo", "gradebook", "home", "shadow", "write_root", "write_usr", "write_repo",
                "course", "checks"):
        assert view[key].startswith("refused"), (key, view[key])
    assert view["network"].startswith("refused") == (LANDLOCK >= 4)
    # the student edition, staged for the workers' own users or in place (where they cannot have them), never the reference
    staged = view["dl"].endswith("/lib/dl/__init__.py'") and str(REPO) not in view["dl"]
    assert staged or view["dl"] == repr(str(REPO / "release" / "a1" / "dl" / "__init__.py")), view["dl"]
    assert staged == FALLBACK_STATUS.own_users or os.geteuid() != 0
    assert view["autograder"] == sorted(["__init__.py", *sandbox.STAGED])
    assert view["passwd"] == "'root'" and view["write_tmp"] == "'notes.txt'" and "site-packages" in view["numpy"]
    assert not (REPO / "escape.txt").exists()


def test_only_files_that_every_user_may_reach_count_as_open():
    top = Path(tempfile.mkdtemp(prefix="dl-grade-test-"))
    try:
        top.chmod(0o755)
        for name, mode in (("open", 0o755), ("closed", 0o700), ("passage", 0o711)):
            (top / name).mkdir(mode=mode)
            (top / name).chmod(mode)
            (top / name / "file.txt").write_text("x")
        (top / "open" / "private.txt").write_text("x")
        (top / "open" / "private.txt").chmod(0o600)
        assert sandbox._open_to_others(top / "open") and sandbox._open_to_others(top / "open" / "file.txt")
        assert not sandbox._open_to_others(top / "open" / "private.txt")
        assert not sandbox._open_to_others(top / "closed") and not sandbox._open_to_others(top / "closed" / "file.txt")
        assert sandbox._open_to_others(top / "passage") and sandbox._open_to_others(top / "passage" / "file.txt")  # names can be guessed
    finally:
        shutil.rmtree(top)
    checkouts = sandbox._checkouts()
    assert checkouts[0] == REPO and len(checkouts) <= 2
    if len(checkouts) == 2:  # the project is installed in editable mode from another checkout
        assert (checkouts[1] / "dl" / "layers.py").is_file()
    assert set(sandbox._exposed()) == {str(root / name) for root in checkouts for name in sandbox.HIDDEN_IN_REPO
                                       if (root / name).exists()
                                       and all(os.stat(p).st_mode & stat.S_IXOTH for p in (root / name).resolve().parents)
                                       and os.stat(root / name).st_mode & (stat.S_IROTH | stat.S_IXOTH)}


@needs_own_users
def test_an_interpreter_other_users_cannot_read_is_staged_for_the_workers():
    python, env = sandbox._worker_python(sys.executable)
    installation = [os.path.realpath(sys.executable), *sandbox._python_dirs(sys.executable)]
    if all(sandbox._open_to_others(path) for path in installation):
        assert (python, env) == (sys.executable, {})  # nothing to stage
        return
    stage = sandbox._staged_code() / "python"
    assert python.startswith(str(stage)) and env["LD_LIBRARY_PATH"].startswith(str(stage))
    assert Path(python).resolve().read_bytes() == Path(os.path.realpath(sys.executable)).read_bytes()
    assert all(sandbox._open_to_others(p) for p in [python, os.path.realpath(python), *env["LD_LIBRARY_PATH"].split(os.pathsep)])
    done = subprocess.run(["setpriv", f"--reuid={sandbox.worker_uids()[-1]}", f"--regid={sandbox.worker_uids()[-1]}", "--clear-groups",
                           python, "-c", "import numpy, sys; print(sys.prefix)"], env={**env, "PATH": os.defpath},
                          capture_output=True, text=True, timeout=60, cwd="/")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (str(Path(python).parent.parent) if sys.prefix != sys.base_prefix else str(stage / "base"))


@needs_root
def test_without_an_interpreter_its_user_can_read_a_worker_keeps_root_and_the_warning_says_why(monkeypatch):
    def unreadable(python):
        raise SandboxUnavailable("the virtual environment /venv cannot be read by other users")
    monkeypatch.setattr(sandbox, "_worker_python", unreadable)
    monkeypatch.setattr(sandbox, "_fallback", None)  # probed again here, and restored afterwards
    off = sandbox.resolve(FALLBACK)
    assert not off.own_users and off.landlock == LANDLOCK  # Landlock is not blamed for it
    assert "Workers ran as root (no interpreter its user could read: the virtual environment /venv cannot be read" in off.warning


# A grader whose worker is busy in an endless cell (so it does not notice its channel closing)
GRADER = '''
import time
from autograder import protocol, sandbox
from autograder.options import GradingOptions
from autograder.runner import WorkerProcess
worker = WorkerProcess(GradingOptions(sandbox="none", submission_memory_mb=0, max_processes=0))
worker.start()
request = protocol.pack({"op": "exec", "label": "cell 1", "source": "while True:\\n    pass\\n", "id": 1})
protocol.write_frame(worker.proc.stdin.fileno(), request, time.monotonic() + 10)
print(worker.proc.pid, worker.tmpdir, sandbox._staged_code(), flush=True)
time.sleep(120)
'''


def test_a_fallback_worker_dies_with_the_grader():
    grader = subprocess.Popen([sys.executable, "-c", GRADER], stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    left_behind = []
    try:
        pid, *left_behind = grader.stdout.readline().split()  # the worker's folder and the stage, which a killed grader leaves
        time.sleep(0.5)
        assert _alive(int(pid))  # in its endless loop
        grader.kill()  # SIGKILL: the grader can clean nothing up
        grader.wait(10)
        deadline = time.monotonic() + 5
        while _alive(int(pid)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(int(pid))
    finally:
        grader.kill()
        for folder in left_behind:
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
