"""The main job's demo: train the reference fully connected net on the offline CIFAR-10 stand-in.

It runs in smoke mode on purpose: the data are the generated CIFAR-format archive (real on-disk
format, learnable digit images), loaded through the same ``dl.data`` loader as the real set, so
the demo needs no download and finishes in seconds. It compares three update rules and writes
their learning curves as a PNG figure.
"""
from __future__ import annotations

import os
from pathlib import Path

RULES = {"sgd": 1e-2, "sgd_momentum": 2e-3, "adam": 1e-3}
EPOCHS = 10


def run_demo(out_dir: str | os.PathLike, epochs: int = EPOCHS) -> int:
    """Train one net per update rule, print the logs and a summary, save the curves; returns 0."""
    os.environ["DL_SMOKE"] = "1"  # the stand-in data set is only accepted in smoke mode (§12)
    import matplotlib

    matplotlib.use("Agg")
    import numpy as np

    from dl.data import get_cifar10_data
    from dl.models import FullyConnectedNet
    from dl.solver import Solver
    from dl.vis import plot_training_history

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

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    figure_path = out / "learning_curves.png"
    plot_training_history(solvers, title="Fully connected net on the CIFAR-10 stand-in").savefig(figure_path, dpi=60)

    print("\nrule           final loss   best val acc   test acc")
    for rule, solver in solvers.items():
        print(f"{rule:<14} {solver.loss_history[-1]:10.4f}   {solver.best_val_acc:12.3f}   {solver.test_acc:8.3f}")
    print(f"\nLearning curves: {figure_path.resolve()}")
    return 0
