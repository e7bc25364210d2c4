"""The main job: the course pipeline end to end, offline.

1. Train the reference fully connected net with three update rules on the CIFAR-10 stand-in and
   write their learning curves as a PNG figure.
2. Build the source notebooks, release every assignment, generate the sample submissions (one
   correct, one with typical bugs, one empty release copy) and grade them, printing the scores.

It runs in smoke mode on purpose: the data are the generated CIFAR-format archive (real on-disk
format, learnable digit images), loaded through the same ``dl.data`` loader as the real set, so
nothing needs a download. The grader never follows smoke mode by itself: the demo grades with
``fixture_data`` (``dl-course grade --fixture-data``), and its reports say so.
"""
from __future__ import annotations

import os
from pathlib import Path

RULES = {"sgd": 1e-2, "sgd_momentum": 2e-3, "adam": 1e-3}
EPOCHS = 10


def run_demo(out_dir: str | os.PathLike, root: Path, epochs: int = EPOCHS) -> int:
    """Run both parts of the demo (see the module doc) under ``out_dir``; returns the exit status."""
    os.environ["DL_SMOKE"] = "1"  # the stand-in data set is only accepted in smoke mode (§12)
    train_demo(Path(out_dir), epochs)
    return pipeline_demo(root, Path(out_dir))


def pipeline_demo(root: Path, out: Path) -> int:
    """Build, release, make the sample submissions of each assignment and grade them."""
    from course.build import build_all
    from course.grading.assignment import grade_assignment
    from course.grading.reports import score_table
    from course.release import release
    from course.samples import execute_notebooks, make_samples

    print("\n== dl-course build ==")
    report = build_all(root)
    print(f"{len(report.written)} generated file(s) written, {len(report.unchanged)} unchanged")
    print("\n== dl-course release ==")
    released = release(root)
    for assignment in released.assignments:
        print(f"\n== sample submissions of {assignment} (the correct one is run as a student would) ==")
        folders = make_samples(root / "source_notebooks" / assignment, root / "release" / assignment,
                               out / "samples" / assignment, train_artifact=execute_notebooks)
        print(f"\n== dl-course grade {assignment} correct buggy empty --fixture-data ==")
        graded = grade_assignment(root, assignment, list(folders.values()), out / "grades" / assignment, jobs=2,
                                  fixture_data=True)
        print(score_table(graded))
        print("\n".join(graded.notes))
        print(f"reports: {out / 'grades' / assignment}")
    return 0


def train_demo(out: Path, epochs: int = EPOCHS) -> None:
    """Train one net per update rule, print the logs and a summary, save the curves."""
    import matplotlib

    matplotlib.use("Agg")
    import numpy as np

    from dl.data import get_cifar10_data
    from dl.models import FullyConnectedNet
    from dl.solver import Solver
    from dl.vis import plot_solver_comparison

    data = get_cifar10_data()
    for key, value in data.items():
        print(f"{key}: {value.shape}")

    solvers = {}
    for rule, lr in RULES.items():
        print(f"\n== {rule} (learning rate {lr:g}) ==")
        np.random.seed(0)
        model = FullyConnectedNet([100, 100], weight_scale=1e-2)
        solver = Solver(model, data, update_rule=rule, optim_config={"learning_rate": lr},
                        num_epochs=epochs, batch_size=50, print_every=50)
        solver.train()
        test_acc = solver.check_accuracy(data["X_test"], data["y_test"])
        solvers[rule] = solver
        solver.test_acc = test_acc

    out.mkdir(parents=True, exist_ok=True)
    figure_path = out / "learning_curves.png"
    plot_solver_comparison(solvers, title="Fully connected net on the CIFAR-10 stand-in").savefig(figure_path, dpi=60)

    print("\nrule           final loss   best val acc   test acc")
    for rule, solver in solvers.items():
        print(f"{rule:<14} {solver.loss_history[-1]:10.4f}   {solver.best_val_acc:12.3f}   {solver.test_acc:8.3f}")
    print(f"\nLearning curves: {figure_path.resolve()}")
