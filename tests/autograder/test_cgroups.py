"""The per-submission cgroup: one memory and task limit for everything a worker runs, and its fallback.

Tests marked ``needs_cgroups`` run only where :func:`autograder.cgroups.available` can make a
cgroup (Linux, root, a writable cgroup file system with a memory controller: the course's CI
machines); the fallback tests fake the cgroup mounts and always run.
"""
import logging
import os
import subprocess
import time
from pathlib import Path

import pytest

from autograder import cgroups
from autograder.extraction import Program, ProgramCell
from autograder.grade import grade_submission
from autograder.options import GradingOptions
from autograder.runner import ProgramRunner
from autograder.student import WorkerFailure
from tests.autograder import notebooks
from tests.autograder.conftest import OPTIONS

USABLE, WHY = cgroups.available()
needs_cgroups = pytest.mark.skipif(not USABLE, reason=f"cgroups cannot be used here: {WHY}")
FULL = {u.grade_id: u.points for u in notebooks.UNITS}
LIMIT_MB = 300
SANDBOXES = ["auto", "none"]  # "auto" is bubblewrap where it is usable

# Eight children, each touching 100 MB and holding it for a second: 800 MB in all, under a
# 300 MB limit for the submission (each process alone stays far below memory_mb).
FORK_HOG = '''
import os, time

def forking_hog():
    children = []
    for _ in range(8):
        pid = os.fork()
        if pid == 0:
            hog = b"x" * (100 * 2**20)
            time.sleep(1)
            os._exit(0)
        children.append(pid)
    return [os.waitpid(pid, 0)[1] for pid in children]
'''


@pytest.fixture
def made(monkeypatch):
    """Every cgroup the grader makes during the test (a spy on :func:`cgroups.create`)."""
    groups = []
    create = cgroups.create

    def spy(*args, **kwargs):
        group = create(*args, **kwargs)
        if group is not None:
            groups.append(group)
        return group
    monkeypatch.setattr(cgroups, "create", spy)
    return groups


def members(name: str) -> list[int]:
    """Processes of the machine that are in worker cgroup ``name`` (read from /proc, not from the cgroup)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                lines = Path(f"/proc/{entry}/cgroup").read_text().splitlines()
            except OSError:
                continue
            if any(cgroups._names_group(line, name) for line in lines):
                found.append(int(entry))
    return found


def assert_gone(groups) -> None:
    for group in groups:
        assert [path for _, path in group.dirs if os.path.exists(path)] == [], group
        assert members(group.name) == [], group


def runner_for(source: str, names, options: GradingOptions) -> ProgramRunner:
    runner = ProgramRunner(Program(cells=[ProgramCell("cell 1", source, ("u",))]), list(names), options)
    runner.ensure_loaded()
    assert not runner.cell_errors, runner.cell_errors
    return runner


def options(sandbox: str = "auto", **changes) -> GradingOptions:
    return GradingOptions(**{**OPTIONS.__dict__, "request_timeout": 30.0, "sandbox": sandbox, **changes})


# --------------------------------------------------------------------------------------------
# With cgroups


@needs_cgroups
@pytest.mark.parametrize("sandbox", SANDBOXES)
def test_a_forking_memory_hog_is_stopped_at_the_submission_limit(made, sandbox):
    runner = runner_for(FORK_HOG, ["forking_hog", "double"], options(sandbox, submission_memory_mb=LIMIT_MB))
    try:
        worker = runner.worker
        assert worker.cgroup is not None and made == [worker.cgroup]
        assert worker.proc.pid in cgroups.pids(worker.cgroup)  # in it from the start, sandbox and all
        with pytest.raises(WorkerFailure, match=f"out of memory: .*more than the {LIMIT_MB} MB"):
            runner.student().call("forking_hog")
        assert cgroups.out_of_memory(worker.cgroup)
    finally:
        runner.close()
    assert_gone(made)


@needs_cgroups
def test_the_unit_that_goes_over_the_limit_fails_and_the_others_keep_their_points(made, tmp_path, release_path,
                                                                                  model_artifacts, held_out):
    hog = FORK_HOG.replace("def forking_hog():", "def sgd_momentum(w, dw, config=None):")
    path = notebooks.write(notebooks.submission({"a1-fc-sgd_momentum": hog}), tmp_path / "hog" / "FullyConnectedNets.ipynb")
    result = grade_submission(path, release_path, notebooks.UNITS, artifacts_dir=model_artifacts,
                              options=options(submission_memory_mb=LIMIT_MB), data=held_out)
    by_id = {u.grade_id: u for u in result.units}
    hogged = by_id.pop("a1-fc-sgd_momentum")
    assert hogged.score == 0 and "out of memory" in hogged.message and f"{LIMIT_MB} MB" in hogged.message, hogged.message
    assert {g: u.score for g, u in by_id.items()} == {g: p for g, p in FULL.items() if g != "a1-fc-sgd_momentum"}, \
        [(u.grade_id, u.message) for u in by_id.values() if u.status != "passed"]
    assert len(made) >= 2  # a fresh worker (and cgroup) after the one that was stopped
    assert_gone(made)


@needs_cgroups
def test_an_honest_submission_gets_full_marks_inside_its_cgroup(made, tmp_path, release_path, model_artifacts, held_out):
    path = notebooks.write(notebooks.submission(), tmp_path / "honest" / "FullyConnectedNets.ipynb")
    result = grade_submission(path, release_path, notebooks.UNITS, artifacts_dir=model_artifacts,
                              options=options(), data=held_out)
    assert {u.grade_id: u.score for u in result.units} == FULL, \
        [(u.grade_id, u.message) for u in result.units if u.status != "passed"]
    assert len(made) == 1 and made[0].memory_bytes == GradingOptions().submission_memory_mb * 2**20
    assert_gone(made)


@needs_cgroups
def test_processes_that_leave_the_workers_session_end_with_its_cgroup(made):
    # Without the sandbox (no PID namespace), so only the cgroup finds a child in a session of its own
    source = "import subprocess\ndef escape():\n    return subprocess.Popen(['sleep', '60'], start_new_session=True).pid\n"
    runner = runner_for(source, ["escape"], options("none"))
    try:
        pid = runner.student().call("escape")
        assert pid in cgroups.pids(runner.worker.cgroup)
    finally:
        runner.close()
    deadline = time.monotonic() + 5
    while _running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(pid)
    assert_gone(made)


@needs_cgroups
def test_the_cgroup_caps_processes_even_where_rlimit_nproc_does_not(made):
    # As root without bubblewrap RLIMIT_NPROC does nothing; pids.max still holds
    source = ("import os, time\ndef spawn():\n    started = 0\n    for _ in range(40):\n"
              "        try:\n            pid = os.fork()\n        except OSError:\n            break\n"
              "        if pid == 0:\n            time.sleep(30)\n            os._exit(0)\n"
              "        started += 1\n    return started\n")
    runner = runner_for(source, ["spawn"], options("none", max_processes=8))
    try:
        started = runner.student().call("spawn")
    finally:
        runner.close()
    assert 0 < started <= 8 + cgroups.PIDS_HEADROOM
    assert_gone(made)


def _running(pid: int) -> bool:
    try:
        return "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False


# --------------------------------------------------------------------------------------------
# Without: the fallback


def _fake_mounts(monkeypatch, tmp_path, mounts: str, own: str = "0::/\n") -> None:
    (tmp_path / "mountinfo").write_text(mounts)
    (tmp_path / "cgroup").write_text(own)
    monkeypatch.setattr(cgroups, "MOUNTINFO", str(tmp_path / "mountinfo"))
    monkeypatch.setattr(cgroups, "PROC_CGROUP", str(tmp_path / "cgroup"))
    monkeypatch.setattr(cgroups, "_status", None)  # monkeypatch puts the real answer back afterwards
    monkeypatch.setattr(cgroups, "_layout", ())
    monkeypatch.setattr(cgroups, "_warned", False)


def test_no_cgroup_file_system_means_no_cgroups(monkeypatch, tmp_path):
    _fake_mounts(monkeypatch, tmp_path, "22 1 0:21 / /proc rw - proc proc rw\n")
    assert cgroups.available() == (False, "no cgroup file system is mounted")
    assert cgroups.create(2**30, 64) is None


def test_a_folder_that_is_no_cgroup_file_system_is_not_used(monkeypatch, tmp_path):
    root = tmp_path / "fake-cgroup2"  # writable, and looks like a v2 root, but the kernel makes no files in it
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpu memory pids\n")
    (root / "cgroup.subtree_control").write_text("")
    (root / "cgroup.procs").write_text("")
    _fake_mounts(monkeypatch, tmp_path, f"41 31 0:38 / {root} rw,relatime - cgroup2 cgroup2 rw\n")
    usable, reason = cgroups.available()
    assert not usable and "no cgroup with a memory controller" in reason and "not a cgroup" in reason, reason


def test_a_cgroup_root_that_cannot_be_written_is_not_used(monkeypatch, tmp_path):
    blocker = tmp_path / "not-a-folder"  # even root cannot make folders below a file
    blocker.write_text("")
    _fake_mounts(monkeypatch, tmp_path, f"35 31 0:32 / {blocker}/memory rw - cgroup cgroup rw,memory\n",
                 own="4:memory:/\n")
    usable, reason = cgroups.available()
    assert not usable and "Not a directory" in reason, reason


def test_grading_works_and_says_so_once_without_cgroups(monkeypatch, tmp_path, caplog, made):
    _fake_mounts(monkeypatch, tmp_path, "22 1 0:21 / /proc rw - proc proc rw\n")
    caplog.set_level(logging.WARNING, logger="autograder")
    source = "def double(x):\n    return 2 * x\n"
    for _ in range(2):
        runner = runner_for(source, ["double"], options())
        try:
            assert runner.worker.cgroup is None
            assert runner.student().call("double", 21) == 42
        finally:
            runner.close()
    assert made == []
    said = [r.getMessage() for r in caplog.records if "cgroups cannot be used here" in r.getMessage()]
    assert len(said) == 1 and "no cgroup file system is mounted" in said[0] and "rlimits" in said[0], said


@needs_cgroups
def test_a_cgroup_that_cannot_be_made_is_skipped_not_an_error(monkeypatch, tmp_path, caplog):
    bogus = cgroups.Hierarchy(1, str(tmp_path / "missing" / "dl-grade"), ("memory",))
    (tmp_path / "missing").write_text("")  # a file where the parent folder should be
    monkeypatch.setattr(cgroups, "_layout", (bogus,))
    caplog.set_level(logging.WARNING, logger="autograder")
    assert cgroups.create(2**30, 64, name="w-test") is None
    assert any("could not be made" in r.getMessage() for r in caplog.records)


def test_both_limits_off_means_no_cgroup(made):
    assert cgroups.create(0, 0) is None
    runner = runner_for("def double(x):\n    return 2 * x\n", ["double"], options(submission_memory_mb=0, max_processes=0))
    try:
        assert runner.worker.cgroup is None and runner.student().call("double", 2) == 4
    finally:
        runner.close()
    assert made == []


V1_AT = {"memory.limit_in_bytes": "314572800\n", "memory.max_usage_in_bytes": "314572800\n", "memory.failcnt": "0\n",
         "memory.memsw.limit_in_bytes": "314572800\n", "memory.memsw.max_usage_in_bytes": "314572800\n"}
V1_BELOW = {**V1_AT, "memory.max_usage_in_bytes": "104857600\n", "memory.memsw.max_usage_in_bytes": "104857600\n"}


@pytest.mark.parametrize("version, files, over", [
    (1, {**V1_AT, "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"}, True),  # failcnt 0 with memsw
    (1, {**V1_BELOW, "memory.failcnt": "7\n", "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n"}, True),
    (1, {**V1_BELOW, "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n"}, False),  # the machine's OOM killer
    (1, {**V1_AT, "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n"}, False),  # at the limit, nothing killed
    (2, {"memory.events": "low 0\nhigh 0\nmax 12\noom 1\noom_kill 3\noom_group_kill 1\n"}, True),
    (2, {"memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 1\n"}, False),  # the machine's OOM killer, not the limit
    (2, {}, False),
])
def test_only_a_kill_at_the_cgroups_own_limit_counts_as_out_of_memory(tmp_path, version, files, over):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    group = cgroups.Group("w1-1", ((cgroups.Hierarchy(version, str(tmp_path.parent), ("memory",)), str(tmp_path)),), 2**20, 0)
    assert cgroups.out_of_memory(group) is over
    assert cgroups.out_of_memory(None) is False


@needs_cgroups
def test_cgroups_left_by_a_grader_that_is_gone_are_swept(monkeypatch):
    gone = _a_dead_pid()  # a grader that is gone: its pid names no process now
    group = cgroups._make(cgroups._layout, 2**28, 8, cgroups._group_name("w", gone))
    elsewhere = cgroups._make(cgroups._layout, 2**28, 8, f"w{gone}-{cgroups._PID_NS + 1}-7")  # another PID namespace's
    sleeper = subprocess.Popen([*cgroups.join_command(group), "/bin/sleep", "60"])
    try:
        deadline = time.monotonic() + 5
        while sleeper.pid not in cgroups.pids(group) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert sleeper.pid in cgroups.pids(group)
        monkeypatch.setattr(cgroups, "_status", None)
        assert cgroups.available()[0]
        assert sleeper.wait(timeout=5) == -9
        assert_gone([group])
        assert all(os.path.isdir(path) for _, path in elsewhere.dirs)  # not ours to judge: left alone
    finally:
        sleeper.kill()
        sleeper.wait()
        cgroups.destroy(group)
        cgroups.destroy(elsewhere)


def _a_dead_pid() -> int:
    done = subprocess.Popen(["true"])
    done.wait()
    return done.pid
