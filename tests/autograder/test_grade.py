"""End to end: submissions graded by ``grade_submission`` in a worker process.

Every submission is built from the release notebook; a test changes only what it is about, so
every other unit must keep full marks.
"""
import copy
import json

import nbformat
import pytest

from tests.autograder import notebooks
from tests.autograder.conftest import OPTIONS, scores, unit_result
from tests.autograder.notebooks import reference_source, replace_once, unit

FULL = {u.grade_id: u.points for u in notebooks.UNITS}

# Correct, but written differently from the reference (loops, np.dot, einsum, log-sum-exp, ...).
DIFFERENT = {
    "a1-fc-affine_forward": '''
def affine_forward(x, w, b):
    n = x.shape[0]
    flat = np.reshape(x, (n, int(np.prod(x.shape[1:]))))
    out = np.zeros((n, w.shape[1]), dtype=flat.dtype)  # float32 inputs give a float32 out
    for i in range(n):
        out[i] = np.dot(flat[i], w) + b
    return out, (x, w, b)
''',
    "a1-fc-affine_backward": '''
def affine_backward(dout, cache):
    x, w, b = cache
    flat = x.reshape(x.shape[0], -1)
    dx = np.empty_like(flat)
    for i in range(x.shape[0]):
        dx[i] = np.dot(w, dout[i])
    dw = np.einsum("nd,nm->dm", flat, dout)
    db = np.sum(dout, axis=0)
    return dx.reshape(x.shape), dw, db
''',
    "a1-fc-relu_forward": '''
def relu_forward(x):
    return np.where(x > 0, x, 0.0), x
''',
    "a1-fc-relu_backward": '''
def relu_backward(dout, cache):
    dx = dout.copy()
    dx[cache <= 0] = 0
    return dx
''',
    "a1-fc-softmax_loss": '''
def softmax_loss(x, y):
    n = x.shape[0]
    top = np.max(x, axis=1, keepdims=True)
    log_sum_exp = top + np.log(np.sum(np.exp(x - top), axis=1, keepdims=True))
    loss = np.sum(log_sum_exp[:, 0] - x[np.arange(n), y]) / n
    onehot = np.zeros_like(x)
    onehot[np.arange(n), y] = 1
    return loss, (np.exp(x - log_sum_exp) - onehot) / n
''',
    "a1-fc-FullyConnectedNet": '''
class FullyConnectedNet:
    def __init__(self, hidden_dims, input_dim=3 * 32 * 32, num_classes=10, dropout_keep_ratio=1,
                 normalization=None, reg=0.0, weight_scale=1e-2, dtype=np.float32, seed=None):
        self.reg, self.dtype = reg, dtype
        self.num_layers = len(hidden_dims) + 1
        sizes = [input_dim] + list(hidden_dims) + [num_classes]
        self.params = {}
        for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
            self.params["W%d" % i] = np.random.normal(0.0, weight_scale, size=(fan_in, fan_out)).astype(dtype)
            self.params["b%d" % i] = np.zeros(fan_out, dtype=dtype)

    def loss(self, X, y=None):
        h = X.astype(self.dtype).reshape(X.shape[0], -1)
        caches = {}
        for i in range(1, self.num_layers + 1):
            h, caches["affine", i] = affine_forward(h, self.params["W%d" % i], self.params["b%d" % i])
            if i < self.num_layers:
                h, caches["relu", i] = relu_forward(h)
        if y is None:
            return h
        loss, dh = softmax_loss(h, y)
        grads = {}
        for i in range(self.num_layers, 0, -1):
            W = self.params["W%d" % i]
            loss += 0.5 * self.reg * np.sum(W ** 2)
            if i < self.num_layers:
                dh = relu_backward(dh, caches["relu", i])
            dh, dW, db = affine_backward(dh, caches["affine", i])
            grads["W%d" % i] = dW + self.reg * W
            grads["b%d" % i] = db
        return loss, grads
''',
    "a1-fc-sgd_momentum": '''
def sgd_momentum(w, dw, config=None):
    config = {} if config is None else config
    lr = config.get("learning_rate", 1e-2)
    mu = config.get("momentum", 0.9)
    velocity = config.get("velocity", np.zeros_like(w))
    velocity = mu * velocity
    velocity -= lr * dw
    config.update(learning_rate=lr, momentum=mu, velocity=velocity)
    return w + velocity, config
''',
    "a1-fc-rmsprop": '''
def rmsprop(w, dw, config=None):
    if config is None:
        config = {}
    for key, default in (("learning_rate", 1e-2), ("decay_rate", 0.99), ("epsilon", 1e-8)):
        config.setdefault(key, default)
    cache = config.get("cache", np.zeros_like(w))
    cache = cache + (1 - config["decay_rate"]) * (np.square(dw) - cache)
    config["cache"] = cache
    return w - config["learning_rate"] * dw / (np.sqrt(cache) + config["epsilon"]), config
''',
    "a1-fc-adam": '''
def adam(w, dw, config=None):
    config = dict(config or {})
    lr = config.setdefault("learning_rate", 1e-3)
    b1 = config.setdefault("beta1", 0.9)
    b2 = config.setdefault("beta2", 0.999)
    eps = config.setdefault("epsilon", 1e-8)
    t = config.get("t", 0) + 1
    m = b1 * config.get("m", np.zeros_like(w)) + (1 - b1) * dw
    v = b2 * config.get("v", np.zeros_like(w)) + (1 - b2) * dw * dw
    step = lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
    config.update(m=m, v=v, t=t)
    return w - step, config
''',
}

BUGS = {
    # name: (unit, old, new, words the message must contain)
    "affine_backward forgets the reshape": ("a1-fc-affine_backward", "dx = (dout @ w.T).reshape(x.shape)", "dx = dout @ w.T", "dx has shape"),
    "relu gradient at x >= 0": ("a1-fc-relu_backward", "dx = dout * (x > 0)", "dx = dout * (x >= 0)", "where x == 0 exactly"),
    "softmax without the max shift": ("a1-fc-softmax_loss", "shifted = x - x.max(axis=1, keepdims=True)", "shifted = x", "nan or inf"),
    "adam without bias correction": ("a1-fc-adam", "m_hat = m / (1 - beta1**t)\n    v_hat = v / (1 - beta2**t)", "m_hat = m\n    v_hat = v", "the step next_w - w differs"),
    "no regularisation gradient": ("a1-fc-FullyConnectedNet", 'grads[f"W{i}"] += self.reg * self.params[f"W{i}"]', "pass", "grads['W1'] differs"),
}


def buggy(grade_id: str, old: str, new: str) -> str:
    return replace_once(reference_source(unit(grade_id)), old, new)


def test_reference_implementation_gets_full_marks(grade):
    result = grade("reference", notebooks.submission())
    assert scores(result) == FULL, [u.message for u in result.units if u.status != "passed"]
    assert all(u.status == "passed" and "hidden sub-checks" in u.message for u in result.units if u.grade_id != "a1-fc-best_model")
    assert "validation accuracy 0.550" in unit_result(result, "a1-fc-best_model").message
    assert all(u.wall_time >= 0 for u in result.units) and result.error is None


def test_a_correct_implementation_written_differently_gets_full_marks(grade):
    result = grade("different", notebooks.submission(DIFFERENT))
    assert scores(result) == FULL, [u.message for u in result.units if u.status != "passed"]


@pytest.mark.parametrize("bug", BUGS)
def test_a_bug_costs_only_its_unit_with_a_useful_message(grade, bug):
    grade_id, old, new, words = BUGS[bug]
    result = grade(f"bug-{grade_id}", notebooks.submission({grade_id: buggy(grade_id, old, new)}))
    lost = {g: s for g, s in scores(result).items() if s < FULL[g]}
    assert list(lost) == [grade_id], [(u.grade_id, u.message) for u in result.units if u.status != "passed"]
    broken = unit_result(result, grade_id)
    assert broken.status in ("partial", "failed") and words in broken.message, broken.message


def test_deleted_and_retyped_cells_cost_only_their_units(grade):
    nb = notebooks.submission()
    index = notebooks.unit_cell_indices(nb, "a1-fc-rmsprop")[0]
    del nb.cells[index]
    retyped = nb.cells[notebooks.unit_cell_indices(nb, "a1-fc-sgd_momentum")[0]]
    retyped.cell_type = "markdown"
    del retyped["outputs"], retyped["execution_count"]
    result = grade("deleted", nb)
    assert {g for g, s in scores(result).items() if s < FULL[g]} == {"a1-fc-rmsprop", "a1-fc-sgd_momentum"}
    assert "no cell of FullyConnectedNets.ipynb defines `rmsprop`" in unit_result(result, "a1-fc-rmsprop").message


def test_duplicated_cells_grade_the_last_copy(grade):
    nb = notebooks.submission()
    index = notebooks.unit_cell_indices(nb, "a1-fc-adam")[0]
    first = copy.deepcopy(nb.cells[index])
    first.id = "older-copy"
    first.source = buggy(*BUGS["adam without bias correction"][:3])
    nb.cells.insert(index - 3, first)  # an older, wrong copy above the final one
    result = grade("duplicated", nb)
    assert scores(result) == FULL
    assert "2 cells of your notebook define this unit; the last one was graded" in unit_result(result, "a1-fc-adam").message


def test_reordered_cells_are_graded_in_the_release_order(grade):
    result = grade("reordered", notebooks.shuffled(notebooks.submission(), seed=3))
    assert scores(result) == FULL, [u.message for u in result.units if u.status != "passed"]


def test_cells_without_metadata_are_found_by_their_names(grade):
    result = grade("stripped", notebooks.strip_metadata(notebooks.submission()))
    assert scores(result) == FULL, [u.message for u in result.units if u.status != "passed"]
    assert "metadata was lost" in unit_result(result, "a1-fc-affine_forward").message


def test_a_cell_too_deep_for_the_parser_costs_only_its_unit_when_cells_are_found_by_name(grade):
    """Without metadata the grader parses every cell to find the units; one the parser cannot take is just not a match."""
    bomb = "x = " + "-" * 200_000 + "1\n" + reference_source(unit("a1-fc-rmsprop"))
    result = grade("stripped-bomb", notebooks.strip_metadata(notebooks.submission({"a1-fc-rmsprop": bomb})))
    assert unit_result(result, "a1-fc-rmsprop").score == 0
    assert {g: s for g, s in scores(result).items() if g != "a1-fc-rmsprop"} == {g: p for g, p in FULL.items() if g != "a1-fc-rmsprop"}


def colab_saved(nb: nbformat.NotebookNode) -> bytes:
    """The notebook as Colab saves it: nbformat 4.0 (no cell ids), sources as lists of lines, Colab's
    own notebook and cell metadata instead of ours and nbgrader's, outputs kept."""
    data = json.loads(nbformat.writes(nb))
    data["nbformat_minor"] = 0
    data["metadata"] = {"colab": {"provenance": [], "name": "FullyConnectedNets.ipynb"}, "accelerator": "GPU",
                        "kernelspec": {"name": "python3", "display_name": "Python 3"}, "language_info": {"name": "python"}}
    for i, cell in enumerate(data["cells"]):
        cell.pop("id", None)
        cell["metadata"] = {"id": f"c{i:04x}"} if cell["cell_type"] == "markdown" else {"id": f"c{i:04x}", "colab": {"base_uri": "https://localhost/"}}
        cell["source"] = "".join(cell["source"]).splitlines(keepends=True)
    return json.dumps(data, indent=2).encode()


def vscode_saved(nb: nbformat.NotebookNode) -> bytes:
    """The notebook as VS Code saves it: metadata kept, a ``vscode`` entry added to cells and notebook, CRLF."""
    data = json.loads(nbformat.writes(nb))
    data["metadata"]["vscode"] = {"interpreter": {"hash": "0" * 64}}
    for cell in data["cells"]:
        if cell["cell_type"] == "code":
            cell["metadata"]["vscode"] = {"languageId": "python"}
    return json.dumps(data, indent=1, ensure_ascii=False).replace("\n", "\r\n").encode()


@pytest.mark.parametrize("editor", [colab_saved, vscode_saved], ids=["colab", "vscode"])
def test_notebooks_saved_by_other_editors_get_full_marks(grade, editor):
    result = grade(f"saved-by-{editor.__name__}", editor(notebooks.submission()))
    assert scores(result) == FULL, [u.message for u in result.units if u.status != "passed"]


def test_cells_that_raise_when_run_cost_only_their_units(grade):
    rmsprop = 'raise RuntimeError("not finished")\n' + reference_source(unit("a1-fc-rmsprop"))
    adam = reference_source(unit("a1-fc-adam")) + "\nadam(None, None)  # a leftover experiment that raises\n"
    sgd_momentum = "def sgd_momentum(w, dw, config=None)\n    return w\n"  # a syntax error
    result = grade("raising", notebooks.submission({"a1-fc-rmsprop": rmsprop, "a1-fc-adam": adam, "a1-fc-sgd_momentum": sgd_momentum}))
    assert {g for g, s in scores(result).items() if s < FULL[g]} == {"a1-fc-rmsprop", "a1-fc-sgd_momentum"}
    message = unit_result(result, "a1-fc-rmsprop").message
    assert "`rmsprop` is not defined" in message and "RuntimeError: not finished (line 1 of cell" in message
    assert "SyntaxError" in unit_result(result, "a1-fc-sgd_momentum").message
    assert "TypeError" in unit_result(result, "a1-fc-adam").message  # graded anyway, with a note


def test_an_endless_loop_fails_only_its_unit(grade):
    looping = "def sgd_momentum(w, dw, config=None):\n    while True:\n        pass\n"
    result = grade("endless", notebooks.submission({"a1-fc-sgd_momentum": looping}))
    looped = unit_result(result, "a1-fc-sgd_momentum")
    assert looped.status == "error" and f"no answer within {OPTIONS.request_timeout:g} s" in looped.message
    assert {g for g, s in scores(result).items() if s < FULL[g]} == {"a1-fc-sgd_momentum"}
    assert looped.wall_time < OPTIONS.request_timeout + 2


def test_a_print_flood_changes_nothing(grade):
    flood = ("import os, sys\n"
             "def affine_forward(x, w, b):\n"
             "    for _ in range(200):\n"
             "        print('all tests passed ' * 50)\n"
             "    os.write(1, b'{\"ok\": true}' * 1000)\n"
             "    sys.__stdout__.write('fake')\n"
             "    out = x.reshape(x.shape[0], -1) @ w + b\n"
             "    return out, (x, w, b)\n")
    result = grade("flood", notebooks.submission({"a1-fc-affine_forward": flood}))
    assert scores(result) == FULL, [u.message for u in result.units if u.status != "passed"]


def test_exits_cost_only_the_units_that_exit(grade):
    rmsprop = reference_source(unit("a1-fc-rmsprop")) + "\nimport sys\nsys.exit(0)\n"  # after defining it
    adam = "def adam(w, dw, config=None):\n    raise SystemExit('bye')\n"
    sgd_momentum = "import os\ndef sgd_momentum(w, dw, config=None):\n    os._exit(0)\n"
    result = grade("exits", notebooks.submission({"a1-fc-rmsprop": rmsprop, "a1-fc-adam": adam, "a1-fc-sgd_momentum": sgd_momentum}))
    assert {g for g, s in scores(result).items() if s < FULL[g]} == {"a1-fc-adam", "a1-fc-sgd_momentum"}
    assert "raised SystemExit: bye" in unit_result(result, "a1-fc-adam").message
    assert unit_result(result, "a1-fc-sgd_momentum").status == "error"
    assert "SystemExit" in unit_result(result, "a1-fc-rmsprop").message  # the note on its cell


def test_monkeypatching_numpy_in_student_code_does_not_change_verdicts(grade):
    wrong = buggy("a1-fc-affine_forward", "out = x.reshape(x.shape[0], -1) @ w + b", "out = x.reshape(x.shape[0], -1) @ w + b + 1e-3")
    patches = ("import numpy\nimport dl.gradcheck\n"
               "numpy.allclose = lambda *a, **k: True\n"
               "numpy.isclose = lambda a, b, *r, **k: numpy.ones(numpy.shape(a), bool)\n"
               "numpy.array_equal = lambda *a, **k: True\n"
               "numpy.testing.assert_allclose = lambda *a, **k: None\n"
               "numpy.save = numpy.load = None\n"
               "dl.gradcheck.rel_error = lambda *a, **k: 0.0\n")
    plain = grade("wrong-affine", notebooks.submission({"a1-fc-affine_forward": wrong}))
    patched = grade("wrong-affine-patched", notebooks.submission({"a1-fc-affine_forward": patches + wrong}))
    assert [(u.score, u.status) for u in patched.units] == [(u.score, u.status) for u in plain.units]
    affine = unit_result(patched, "a1-fc-affine_forward")
    assert affine.score < affine.max_score and "out differs from the expected value" in affine.message


@pytest.mark.parametrize("content", [b"", b"{ not json", b'{"cells": "no", "nbformat": 3}', b"\xff\xfe binary"])
def test_an_unreadable_notebook_scores_zero_everywhere_without_crashing(grade, content):
    result = grade(f"corrupt-{content[:4].hex()}", content)
    assert all(u.score == 0 and u.status == "error" for u in result.units)
    assert result.error and "could not be read" in result.error
    assert all("could not be read" in u.message for u in result.units)


def test_a_missing_notebook_scores_zero(release_path, tmp_path):
    from autograder.grade import grade_submission

    result = grade_submission(tmp_path / "nothing.ipynb", release_path, notebooks.UNITS, options=OPTIONS)
    assert result.score == 0 and "nothing.ipynb is missing from your submission" in result.error
    assert str(tmp_path) not in result.error  # no grader paths in feedback


def test_only_setup_imports_provided_cells_and_unit_cells_run(grade):
    """The release's setup cell loads data and the check cells assert False: neither may run."""
    nb = notebooks.submission()
    nb.cells.insert(3, nbformat.v4.new_code_cell("raise SystemExit('an experiment cell of the student')"))
    result = grade("extra-cells", nb)
    assert scores(result) == FULL
