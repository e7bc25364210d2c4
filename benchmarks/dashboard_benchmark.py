"""Time FullyConnectedNets' training cells with and without the live TrainingDashboard.

Usage (from the repository root):

    python benchmarks/dashboard_benchmark.py [--rounds 4]

The cells run in a real IPython kernel (started with ``jupyter_client``; smoke mode, ``DL_SMOKE=1``,
the generated CIFAR-10 files; one BLAS thread), as nbmake runs a notebook: the dashboard is live
there (widget comms are sent; this client ignores them, as nbclient does), redraws as its redraw
budget allows and ends each cell with its static PNG, which the timings include. The cells are
the notebook's: the three-layer and five-layer overfits (50 images, 20 epochs), SGD with and
without momentum, and RMSProp with Adam (6-layer nets, 5 epochs), with the reference update rules
of ``dl.optim``. Each cell is timed from the client, execute request to idle, best of ``--rounds``
(4) with and without ``callbacks=[...]``. The table shows both and their ratio (target: at most
1.2x) and, over the live runs, the mean number of redraws (the final one included) and the share
of the cells' time they took, as the dashboard's redraw budget measured it: a figure that the
machine's load disturbs less than the ratio. Nothing is asserted; timings depend on the machine
and its load.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from jupyter_client.manager import start_new_kernel

ROOT = Path(__file__).resolve().parents[1]

SETUP = """
import numpy as np
from dl.data import get_cifar10_data
from dl.models import FullyConnectedNet
from dl.optim import adam, rmsprop, sgd, sgd_momentum
from dl.solver import Solver
from dl.widgets import TrainingDashboard
data = get_cifar10_data()
small_data = {"X_train": data["X_train"][:50], "y_train": data["y_train"][:50], "X_val": data["X_val"], "y_val": data["y_val"]}
rule_data = {"X_train": data["X_train"][:400], "y_train": data["y_train"][:400], "X_val": data["X_val"], "y_val": data["y_val"]}
"""

# {dashboard} becomes a TrainingDashboard(...) line or nothing; {callback(label)} its callback or nothing.
CELLS = {
    "overfit, 3 layers": """
np.random.seed(231)
model = FullyConnectedNet([100, 100], weight_scale=1e-2, dtype=np.float64)
{dashboard}
Solver(model, small_data, print_every=10, num_epochs=20, batch_size=25, update_rule="sgd",
       optim_config={{"learning_rate": 1e-2}}, callbacks=[{callback_run}]).train()
""",
    "overfit, 5 layers": """
np.random.seed(231)
model = FullyConnectedNet([100, 100, 100, 100], weight_scale=3.5e-2, dtype=np.float64)
{dashboard}
Solver(model, small_data, print_every=10, num_epochs=20, batch_size=25, update_rule="sgd",
       optim_config={{"learning_rate": 2e-2}}, callbacks=[{callback_run}]).train()
""",
    "sgd, sgd_momentum": """
{dashboard}
for name, rule in [("sgd", sgd), ("sgd_momentum", sgd_momentum)]:
    np.random.seed(231)
    Solver(FullyConnectedNet([100] * 5, weight_scale=5e-2), rule_data, num_epochs=5, batch_size=100,
           update_rule=rule, optim_config={{"learning_rate": 5e-3}}, print_every=40,
           callbacks=[{callback_name}]).train()
""",
    "rmsprop, adam": """
for name, rule, lr in [("rmsprop", rmsprop, 1e-4), ("adam", adam, 1e-3)]:
    np.random.seed(231)
    Solver(FullyConnectedNet([100] * 5, weight_scale=5e-2), rule_data, num_epochs=5, batch_size=100,
           update_rule=rule, optim_config={{"learning_rate": lr}}, print_every=40,
           callbacks=[{callback_name}]).train()
""",
}


def cell_source(template: str, live: bool) -> str:
    """The cell with the dashboard (``live``) or without it; the last cell reuses the previous dashboard."""
    return template.format(
        dashboard='dashboard = TrainingDashboard("benchmark")' if live else "",
        callback_run="dashboard" if live else "",
        callback_name="dashboard.callback(name)" if live else "",
    )


def run_cell(client, source: str) -> tuple[float, str]:
    """Seconds from the execute request to the kernel's idle, and the cell's stdout; raises if it raised."""
    errors, stdout = [], []

    def on_output(message):
        if message["msg_type"] == "error":
            errors.append("\n".join(message["content"]["traceback"]))
        elif message["msg_type"] == "stream" and message["content"]["name"] == "stdout":
            stdout.append(message["content"]["text"])

    start = time.perf_counter()
    reply = client.execute_interactive(source, timeout=600, output_hook=on_output)
    elapsed = time.perf_counter() - start
    if reply["content"]["status"] != "ok" or errors:
        raise RuntimeError(f"the benchmark cell failed:\n{source}\n" + "\n".join(errors))
    return elapsed, "".join(stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4, help="rounds per cell and variant; the best counts")
    args = parser.parse_args()

    # One BLAS thread: the smoke-size products are small, and threads spinning on a busy machine
    # make the timings swing far more than the dashboard costs.
    env = dict(os.environ, DL_SMOKE="1", PYTHONPATH=str(ROOT), MPLBACKEND="Agg", OPENBLAS_NUM_THREADS="1",
               OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    manager, client = start_new_kernel(kernel_name="python3", cwd=str(ROOT), env=env)
    try:
        run_cell(client, SETUP)
        best = {(name, live): float("inf") for name in CELLS for live in (False, True)}
        redraws = {name: [] for name in CELLS}  # (seconds spent redrawing, redraws) of each live run
        for _ in range(args.rounds):
            for live in (False, True):  # the rmsprop cell reuses the sgd cell's dashboard, as in the notebook
                for name, template in CELLS.items():
                    seconds, _ = run_cell(client, cell_source(template, live))
                    best[name, live] = min(best[name, live], seconds)
                    if live:
                        _, spent = run_cell(client, "print(dashboard.view.budget.spent, dashboard.view.budget.redraws)")
                        redraws[name].append((float(spent.split()[0]), int(spent.split()[1]), seconds))
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)

    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, smoke data, best of {args.rounds} rounds")
    print(f"{'cell':<20} {'without s':>10} {'with s':>10} {'ratio':>7} {'redraws':>8} {'redrawing':>10}")
    for name in CELLS:
        without, with_dashboard = best[name, False], best[name, True]
        runs = redraws[name]
        share = sum(spent for spent, _, _ in runs) / sum(seconds for _, _, seconds in runs)
        count = sum(count for _, count, _ in runs) / len(runs)
        print(f"{name:<20} {without:10.2f} {with_dashboard:10.2f} {with_dashboard / without:6.2f}x "
              f"{count:8.1f} {100 * share:9.1f}%")
    total_without = sum(best[name, False] for name in CELLS)
    total_with = sum(best[name, True] for name in CELLS)
    print(f"{'all four cells':<20} {total_without:10.2f} {total_with:10.2f} {total_with / total_without:6.2f}x  (target <= 1.20x)")


if __name__ == "__main__":
    main()
