"""Hidden checks of NetworkVisualization beyond its bug table: the reference earns full marks for any
seed, the network reaches the worker in training mode with the grader's weights, and messages hide
the hidden scalars (l2_reg, learning_rate)."""
import re

import numpy as np
import pytest
import torch

from autograder.checks import REGISTRY, CheckContext, check_rng
from autograder.manifest import find_unit
from autograder.nbgrader_bridge import in_process_student
from tests.autograder.bug_tables import edit, grade, program
from dl import netvis

UNIT_OF = {"saliency_maps": "a2-nv-compute_saliency_maps", "fooling_image": "a2-nv-make_fooling_image",
           "class_visualization_step": "a2-nv-class_visualization_update_step"}


def run(check: str, seed: int, *sources: str):
    namespace: dict = {}
    exec("\n\n".join([program("NetworkVisualization"), *sources]), namespace)
    grade_id = UNIT_OF[check]
    return REGISTRY[check](in_process_student(namespace), check_rng(seed, grade_id, check), CheckContext(unit=find_unit(grade_id)))


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("check", list(UNIT_OF))
def test_the_reference_earns_full_marks_for_any_seed(check, seed):
    result = run(check, seed)
    assert result.score == 1.0 and result.status == "passed", result.message


def test_the_student_receives_the_graders_weights_in_training_mode():
    seen = []
    spy = """
def compute_saliency_maps(X, y, model):
    SEEN.append((model.training, {k: v.clone() for k, v in model.state_dict().items()}))
    return _reference(X, y, model)
"""
    namespace: dict = {"SEEN": seen}
    exec(program("NetworkVisualization"), namespace)
    namespace["_reference"] = namespace["compute_saliency_maps"]
    exec(spy, namespace)
    grade_id = UNIT_OF["saliency_maps"]
    rng = check_rng(4, grade_id, "saliency_maps")
    result = REGISTRY["saliency_maps"](in_process_student(namespace), rng, CheckContext(unit=find_unit(grade_id)))
    assert result.score == 1.0, result.message
    assert len(seen) == 3 and all(training for training, _ in seen)
    # the first network is the one the check draws first from its generator
    rng = check_rng(4, grade_id, "saliency_maps")
    rng.integers(3, 6), rng.integers(2, 4)  # the cases' numbers of images, drawn before the first network
    expected = netvis.random_small_conv_net(int(rng.integers(2**31)), score_scale=200.0, dtype=torch.float64,
                                            channels=8, num_classes=10).state_dict()
    got = seen[0][1]
    assert got.keys() == expected.keys() and all(torch.equal(got[k], expected[k]) for k in got)


def test_messages_never_give_the_hidden_step_size_or_regularisation():
    bug = edit(netvis.class_visualization_update_step, ("g / g.norm()", "g"))
    outcome = grade("NetworkVisualization", (bug,), ("a2-nv-class_visualization_update_step",))
    message = outcome["a2-nv-class_visualization_update_step"].message
    assert outcome["a2-nv-class_visualization_update_step"].score < 1
    assert "l2_reg=" not in message and "learning_rate=" not in message
    numbers = [float(x) for x in re.findall(r"(?<![\w.])\d+\.\d+(?![\d.e])", message)]
    assert all(not 0.5 <= x <= 3.0 for x in numbers), numbers  # l2_reg and learning_rate are drawn in [0.5, 3]


def test_a_model_that_stays_in_training_mode_is_charged_on_fooling():
    """A student whose eval() is a no-op (the network stays in training mode) cannot pass by luck."""
    lazy = edit(netvis.make_fooling_image, ("    model.eval()\n", "    model.train()\n"))
    result = run("fooling_image", 0, lazy)
    assert result.score <= 0.75 and "model.eval()" in result.message
    assert np.isfinite(result.score)


def test_seed_torch_gives_a_training_mode_module_the_same_dropout_mask():
    namespace: dict = {}
    exec("import torch\nnet = torch.nn.Dropout(0.5)", namespace)
    student = in_process_student(namespace)
    masks = []
    for seed in (3, 3, 4):
        torch.manual_seed(seed + 100)  # whatever state the process's RNG was left in
        student.seed_torch(seed)
        masks.append(student.forward("net", torch.ones(200, dtype=torch.float64), train=True))
    assert torch.equal(masks[0], masks[1]) and not torch.equal(masks[0], masks[2])


def test_a_forgotten_eval_scores_the_same_on_every_run():
    """Dropout in the student's training-mode network draws from a torch RNG the check seeds."""
    forgot = edit(netvis.make_fooling_image, ("    model.eval()\n", ""))
    results = [run("fooling_image", 0, forgot) for _ in range(3)]
    assert len({(r.score, r.message) for r in results}) == 1 and results[0].score < 1


@pytest.mark.parametrize("check", list(UNIT_OF))
def test_an_unfinished_unit_earns_nothing(check):
    name = {"saliency_maps": "compute_saliency_maps", "fooling_image": "make_fooling_image",
            "class_visualization_step": "class_visualization_update_step"}[check]
    stub = f"def {name}(*args, **kwargs):\n    raise NotImplementedError('{name} is implemented in NetworkVisualization.ipynb')\n"
    result = run(check, 0, stub)
    assert result.score == 0.0 and "NotImplementedError" in result.message, result.message
