"""The grading rules every check follows: weighted parts, questions asked again, errors in the notebook's
terms, known bugs named only when they show, and a model unit that does not charge a layer's bug."""
import numpy as np
import pytest

from autograder.checks import REGISTRY, CheckContext, Part, register, run_checks
from autograder.checks.compare import Tally, mismatch
from autograder.manifest import find_unit
from autograder.nbgrader_bridge import in_process_student
from autograder.units import Unit
from tests.autograder.bug_tables import edit, grade, source

PARTS = {"train": Part(3, "train mode"), "test": Part(1, "test mode")}


def test_a_score_is_the_weighted_mean_of_the_parts():
    tally = Tally(PARTS)
    tally.add(None, "train")
    tally.add("wrong", "train")
    tally.add(None, "test")
    assert tally.result().score == pytest.approx((3 * 0.5 + 1 * 1.0) / 4)
    assert tally.result().status == "partial"


def test_a_strict_part_is_all_or_nothing_and_an_empty_part_does_not_count():
    tally = Tally({"behaviour": Part(1, "same at test time", strict=True), "dtype": Part(1, "float32 kept"),
                   "errors": Part(5, "ValueError for sizes that do not fit")})
    for failure in (None, None, "differs"):
        tally.add(failure, "behaviour")
    tally.add(None, "dtype")
    assert tally.result().score == pytest.approx(0.5)  # behaviour 0 (strict), dtype 1; errors recorded nothing


def test_a_sub_check_must_name_its_part_when_there_are_several():
    with pytest.raises(ValueError, match="name the part"):
        Tally(PARTS).add(None)
    with pytest.raises(ValueError, match="unknown part"):
        Tally(PARTS).add(None, "eval")


def test_a_check_failing_in_student_code_charges_the_rest_of_the_case_to_its_part():
    from autograder.student import StudentError
    tally = Tally(PARTS)
    with tally.case(2, "train call", "train"):
        tally.add(None, "train")
        raise StudentError("f raised ValueError")
    tally.add(None, "test")
    assert tally.result().score == pytest.approx((3 * 0.5 + 1) / 4)
    assert "train call: f raised ValueError" in tally.result().message


# --------------------------------------------------------------------------------------------
# The same question, asked again

def _square(student, rng, context):
    tally = Tally()
    for _ in range(4):
        x = rng.standard_normal((3, 2))
        tally.add(mismatch("out", student.call("square", x), x**2, 1e-12))
    return tally.result()


register("test_rules_square")(_square)
register("test_rules_square_weighted", parts={"a": Part(3, "everything")})(_square)
SQUARE = Unit("test-rules-square", 2, ("test_rules_square",))


def _grade(program: str, unit: Unit = SQUARE):
    namespace: dict = {}
    exec("import numpy as np\n" + program, namespace)
    return run_checks(unit, in_process_student(namespace), CheckContext(unit=unit), seed=0)


def test_a_deterministic_function_keeps_its_marks_when_asked_again():
    assert _grade("def square(x):\n    return x ** 2\n").score == 1.0


def test_an_answer_that_changes_when_asked_again_scores_zero():
    # Right the first four times, wrong afterwards: the check itself sees only right answers.
    stateful = "calls = []\ndef square(x):\n    calls.append(1)\n    return x ** 2 + (len(calls) > 4)\n"
    outcome = _grade(stateful)
    assert outcome.score == 0.0
    assert "gave a different answer when asked the same question again" in outcome.message
    assert "state kept between calls" in outcome.message


def test_an_answer_that_raises_when_asked_again_scores_zero():
    outcome = _grade("calls = []\ndef square(x):\n    calls.append(1)\n    assert len(calls) <= 4\n    return x ** 2\n")
    assert outcome.score == 0.0 and "then raised when asked the same question again" in outcome.message


def test_a_call_marked_not_repeatable_is_not_asked_again():
    def noisy(student, rng, context):
        tally = Tally()
        tally.add(None if np.shape(student.call("noise", 3, repeatable=False)) == (3,) else "shape")
        return tally.result()
    register("test_rules_noise")(noisy)
    unit = Unit("test-rules-noise", 1, ("test_rules_noise",))
    assert _grade("def noise(n):\n    return np.random.rand(n)\n", unit).score == 1.0


def test_a_units_checks_count_by_their_total_weights():
    unit = Unit("test-rules-two", 4, ("test_rules_square", "test_rules_square_weighted"))
    assert REGISTRY.weight("test_rules_square") == 1 and REGISTRY.weight("test_rules_square_weighted") == 3
    outcome = _grade("def square(x):\n    return x ** 2\n", unit)
    assert outcome.score == 1.0


# --------------------------------------------------------------------------------------------
# Messages

def test_a_failure_reports_the_notebooks_rel_error():
    expected = np.array([1.0, -2.0, 3.0])
    message = mismatch("dx", expected * 3, expected, 1e-7)
    assert "rel_error 5.0e-01" in message  # |3e - e| / (|3e| + |e|) = 0.5: the notebook's measure, never above 1


def test_a_known_bug_is_named_only_when_the_output_shows_it():
    expected = np.array([[1.0, 2.0], [3.0, 4.0]])
    summed = {"your loss sums over the minibatch instead of averaging": expected * 2}
    assert "sums over the minibatch" in mismatch("loss", expected * 2, expected, 1e-7, bugs=summed)
    assert "sums over the minibatch" not in mismatch("loss", expected * 5, expected, 1e-7, bugs=summed)
    assert mismatch("loss", expected, expected, 1e-7, bugs=summed) is None
    harmless = {"a bug that gives the right answer here": expected.copy()}
    assert "right answer here" not in mismatch("loss", expected * 2, expected, 1e-7, bugs=harmless)


# --------------------------------------------------------------------------------------------
# One bug, one charge

def test_a_layer_bug_costs_the_layer_not_the_model():
    no_bias = edit("dl.layers:affine_forward", ("out = x.reshape(x.shape[0], -1) @ w + b", "out = x.reshape(x.shape[0], -1) @ w"))
    outcomes = grade("FullyConnectedNets", (no_bias,), ("a1-fc-affine_forward", "a1-fc-FullyConnectedNet"))
    assert outcomes["a1-fc-affine_forward"].score < 0.75
    assert outcomes["a1-fc-FullyConnectedNet"].score == 1.0, outcomes["a1-fc-FullyConnectedNet"].message


def test_a_model_bug_still_costs_the_model():
    no_reg = edit("dl.models.fc_net:FullyConnectedNet", ("loss += 0.5 * self.reg", "loss += 0.0 * self.reg"))
    outcome = grade("FullyConnectedNets", (no_reg,), ("a1-fc-FullyConnectedNet",))["a1-fc-FullyConnectedNet"]
    assert outcome.score < 1.0


def test_a_case_may_declare_its_sub_checks_by_part():
    """Declared by part, a case that fails in student code charges each part the sub-checks it had left."""
    from autograder.student import StudentError
    tally = Tally(PARTS)
    with tally.case({"train": 2, "test": 1}, "both modes"):
        tally.add(None, "test")
        raise StudentError("f raised ValueError")
    assert tally.recorded == {"train": 2, "test": 1} and tally.passed_by_part == {"train": 0, "test": 1}
    with pytest.raises(AssertionError, match="declared"):
        with tally.case({"train": 1}, "one train sub-check"):
            tally.add(None, "test")


def test_keep_global_rng_lets_one_thread_at_a_time_seed_and_draw():
    """A Dask worker's threads grade side by side: one check's seed and draws are never interleaved with another's."""
    import sys
    import threading

    from autograder.checks.compare import keep_global_rng

    expected = {seed: np.random.RandomState(seed).rand(200) for seed in range(4)}
    wrong: list[int] = []

    start = threading.Barrier(len(expected))

    def draw(seed: int) -> None:
        start.wait()
        for _ in range(100):
            with keep_global_rng():
                np.random.seed(seed)
                values = [np.random.rand() for _ in range(200)]  # many small draws: many chances to switch
            if not np.array_equal(values, expected[seed]):
                wrong.append(seed)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        threads = [threading.Thread(target=draw, args=(seed,)) for seed in expected]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert wrong == []
