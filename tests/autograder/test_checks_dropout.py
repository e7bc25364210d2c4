"""Hidden checks of Dropout: the reference earns full marks; bugs lose points on their own unit, with a message saying why.

The realistic bugs of each unit and the correct variants are in ``bug_tables/dropout.py`` (graded
by ``test_bug_tables.py``); this file holds the bugs that cost less than a quarter by design (the
seeding rule, a dtype, the mode's ValueError), the weights, and the messages. The namespace of
``run`` is built as in ``test_checks_normalization``.
"""
import numpy as np
import pytest

from autograder.checks import REGISTRY, CheckContext, check_rng
from autograder.checks.backward import check_backward, reference_cache
from autograder.checks.compare import Tally
from autograder.checks.dropout import FORWARD_PARTS, reference_dropout
from autograder.manifest import find_unit
from autograder.nbgrader_bridge import in_process_student
from dl import layers
from tests.autograder.bug_tables import edit, grade
from tests.autograder.test_checks_normalization import HIDDEN_SCALARS, LAYERS, SANDWICHES, release_source, source

NOTEBOOK = "Dropout"
UNIT_OF = {"dropout_forward": "a1-dropout-dropout_forward", "dropout_backward": "a1-dropout-dropout_backward",
           "fc_net_dropout": "a1-dropout-fc_dropout"}
FORWARD = "dl.layers:dropout_forward"
RESEED = 'if "seed" in dropout_param:\n        np.random.seed(dropout_param["seed"])'


def run(check: str, *sources: str):
    namespace: dict = {}
    exec("import numpy as np\n" + "\n\n".join([source(name) for name in (*LAYERS, *SANDWICHES, "FullyConnectedNet")] + list(sources)), namespace)
    grade_id = UNIT_OF[check]
    return REGISTRY[check](in_process_student(namespace), check_rng(0, grade_id, check), CheckContext(unit=find_unit(grade_id)))


def charged(sources: tuple[str, ...]) -> dict[str, float]:
    """Grade id -> score of every unit of Dropout that loses points with ``sources`` (questions asked again included)."""
    return {grade_id: outcome.score for grade_id, outcome in grade(NOTEBOOK, sources).items() if outcome.score < 1}


@pytest.mark.parametrize("check", list(UNIT_OF))
def test_the_reference_earns_full_marks(check):
    result = run(check)
    assert result.score == 1.0 and result.status == "passed", result.message


def test_the_seeded_reference_leaves_the_graders_global_rng_alone():
    np.random.seed(5)
    expected = np.random.rand()
    np.random.seed(5)
    reference_dropout(np.ones((3, 4)), {"mode": "train", "p": 0.5, "seed": 1})
    reference_cache(layers, "dropout_forward", (np.ones((3, 4)), {"mode": "train", "p": 0.5}), global_seed=9)
    assert np.random.rand() == expected


def test_train_and_test_mode_weigh_the_same():
    assert FORWARD_PARTS["train"].weight == FORWARD_PARTS["test"].weight


@pytest.mark.parametrize("name", ["dropout_forward", "dropout_backward"])
def test_the_releases_unfinished_function_earns_nothing_from_its_provided_code(name):
    """The skeleton's test mode of dropout_backward (dx = dout) and ValueError pass, yet earn only beside the student's own work."""
    result = run(name, release_source(name))
    assert result.score == 0 and result.message.startswith("passed 1 of"), result.message


# --------------------------------------------------------------------------------------------
# The seeding rule: every call with a seed reseeds, in both modes (CURRICULUM, the docstring)


def test_reseeding_only_in_train_mode_costs_dropout_forward_only():
    buggy = edit(FORWARD, (RESEED, "pass"), ('    if mode == "train":\n',
                                             '    if mode == "train":\n        if "seed" in dropout_param:\n'
                                             '            np.random.seed(dropout_param["seed"])\n'))
    lost = charged((buggy,))
    assert set(lost) == {"a1-dropout-dropout_forward"}
    assert lost["a1-dropout-dropout_forward"] == pytest.approx(1 - FORWARD_PARTS["seeding"].weight / REGISTRY.weight("dropout_forward"))
    message = run("dropout_forward", buggy).message
    assert "out of the second call differs" in message
    assert "np.random.seed(seed) is called at the start of every call, in both modes" in message


def test_reseeding_without_a_seed_loses_the_seeding_part():
    buggy = edit(FORWARD, (RESEED, 'np.random.seed(dropout_param.get("seed", 0))'))
    assert set(charged((buggy,))) == {"a1-dropout-dropout_forward"}
    assert "two calls without a 'seed' key gave the same output" in run("dropout_forward", buggy).message


def test_a_seed_ignored_scores_the_forward_zero_and_leaves_the_model_unverified_in_train_mode():
    """Its answers to the same seeded question change; the model's masks cannot be predicted, so its train mode is not charged."""
    buggy = edit(FORWARD, ('np.random.seed(dropout_param["seed"])', "pass"))
    assert charged((buggy,)) == {"a1-dropout-dropout_forward": 0.0}
    outcome = grade(NOTEBOOK, (buggy,), ("a1-dropout-fc_dropout",))["a1-dropout-fc_dropout"]
    assert outcome.score == 1.0 and "could not be compared (only its test mode was)" in outcome.message


# --------------------------------------------------------------------------------------------
# The cache contract on the forward; the backward on the reference's cache


def test_a_forward_without_its_mask_in_the_cache_costs_only_the_forward():
    buggy = edit(FORWARD, ("cache = (dropout_param, mask)", "cache = (dropout_param, None)"))
    assert set(charged((buggy,))) == {"a1-dropout-dropout_forward"}
    assert "cache[1] (mask) is None" in run("dropout_forward", buggy).message


def test_a_backward_graded_without_a_seed_gets_the_mask_of_the_cache_only():
    """``global_seed`` makes the reference's unseeded mask reproducible; a backward that draws its own mask misses it."""
    namespace: dict = {}
    exec("import numpy as np\n" + edit("dl.layers:dropout_backward", (
        "dx = dout * mask", 'dx = dout * (np.random.rand(*dout.shape) < dropout_param["p"]) / dropout_param["p"]')), namespace)
    rng = np.random.default_rng(2)
    x, dout = rng.standard_normal((6, 5)), rng.standard_normal((6, 5))
    param = {"mode": "train", "p": 0.5}
    first = reference_cache(layers, "dropout_forward", (x, param), global_seed=4)[1]
    assert np.array_equal(first, reference_cache(layers, "dropout_forward", (x, param), global_seed=4)[1])
    tally = Tally()
    check_backward(tally, in_process_student(namespace), "dropout_forward", "dropout_backward", (x, param), dout, ("dx",), "x",
                   reference=layers, tol=1e-7, global_seed=4)
    assert (tally.passed, tally.total) == (0, 1)


# --------------------------------------------------------------------------------------------
# Bugs below a quarter, and messages


MESSAGE_BUGS = {
    "a float64 mask": ("dropout_forward", edit(FORWARD, (".astype(x.dtype, copy=False)", "")), ["out has dtype float64", "expected float32"]),
    "no ValueError for an unknown mode": ("dropout_forward", edit(FORWARD, ('elif mode == "test":', "else:"), (
        '''    else:
        raise ValueError(f"dropout_param['mode'] must be 'train' or 'test', got {mode!r}")
''', "")), ["dropout_forward returned without raising", "dropout_param in eval mode", "expected ValueError"]),
    "out without the cache": ("dropout_forward", edit(FORWARD, ("return out, cache", "return out")),
                              ["dropout_forward returned a ndarray; expected a tuple"]),
}


@pytest.mark.parametrize("name", list(MESSAGE_BUGS))
def test_bugs_with_a_message_to_keep(name):
    check, buggy, words = MESSAGE_BUGS[name]
    assert set(charged((buggy,))) == {UNIT_OF[check]}
    result = run(check, buggy)
    for w in words:
        assert w in result.message, result.message


def test_messages_never_show_the_keep_probability_the_seed_or_reg():
    from tests.autograder.bug_tables import dropout
    messages = [outcome.message for variant in dropout.BUGS for outcome in grade(NOTEBOOK, variant.sources).values() if outcome.score < 1]
    assert len(messages) >= len(dropout.BUGS)
    for message in messages:
        assert not HIDDEN_SCALARS.search(message), message
