"""Time FullyConnectedNets' training cells with and without the live TrainingDashboard.

Usage (from the repository root):

    python benchmarks/dashboard_benchmark.py [--rounds 3] [--blas-threads 1]

The cells are read from ``course/a1/FullyConnectedNets.py``: every code cell that trains with a
dashboard (``callbacks=[...]``) and is not a graded unit, i.e. the three-layer and five-layer
overfits, SGD with and without momentum, and RMSProp with Adam, with the reference solutions of
their exercise cells. "Without" is the same cell with ``callbacks=[]``. The static comparison
figure after the last cell (``plot_solver_comparison``) is left out of both: it is not the
dashboard's and costs the same either way. The update rules and the network are ``dl``'s
reference ones, as the notebook's units are once completed.

Each size runs in a real IPython kernel of its own (started with ``jupyter_client``, as nbmake
runs a notebook): the dashboard is live there (widget comms are sent; this client counts and
ignores them, as nbclient does), redraws as its redraw budget allows and ends each cell with its
static PNG, which the timings include. Two sizes:

- **the students' size** (the target applies to it): the notebook's full settings (50 images for
  20 epochs; 4000 images for 5 epochs) on generated arrays of CIFAR-10's shapes and value range
  (49000 training and 1000 validation images of shape (3, 32, 32), uint8 pixel values as float64
  minus the training mean, labels 0-9; seeded), since the real data set need not be on the machine
  and the timings do not depend on the pixel values;
- **smoke size**, for information: ``DL_SMOKE=1``, the notebook's short runs on its generated
  fixture, as CI runs it. These cells last a fraction of a second, too short for live redraws: the
  dashboard costs its final figure only, a larger share of a shorter time.

Each cell is timed from the client, execute request to idle (wall-clock seconds, what a student
waits), and by the CPU time the kernel process used meanwhile (which other work on a busy machine
disturbs far less), best of ``--rounds`` (3) with and without its callbacks. The tables show both
times and ratios and, over the live runs, the mean number of redraws (the final one included),
the share of the cells' time they took, as the dashboard's redraw budget measured it, and the mean
widget messages sent. BLAS runs ``--blas-threads`` threads (1): threads spinning on a busy machine
make the timings swing far more than the dashboard costs. Nothing is asserted about the timings;
they depend on the machine and its load. The script fails if a live cell sent no widget or no
final PNG: then it would not measure the dashboard.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
from jupyter_client.manager import start_new_kernel

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout, uninstalled

from course.build.read_source import read_source  # noqa: E402

SOURCE = ROOT / "course" / "a1" / "FullyConnectedNets.py"

IMPORTS = """
import matplotlib.pyplot as plt
import numpy as np
from dl.models import FullyConnectedNet
from dl.optim import adam, rmsprop, sgd, sgd_momentum
from dl.solver import Solver
from dl.utils import smoke_mode
from dl.widgets import TrainingDashboard
SMOKE = smoke_mode()
"""

SMOKE_DATA = """
from dl.data import get_cifar10_data
data = get_cifar10_data()
"""

# CIFAR-10's split as get_cifar10_data returns it, with generated pixels.
STUDENT_DATA = """
def _generated(rng, n):
    return rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8).astype(np.float64), rng.integers(0, 10, n)
_rng = np.random.default_rng(0)
data = {}
data["X_train"], data["y_train"] = _generated(_rng, 49000)
data["X_val"], data["y_val"] = _generated(_rng, 1000)
_mean = data["X_train"].mean(axis=0)
data["X_train"] -= _mean
data["X_val"] -= _mean
"""

CALLBACKS = re.compile(r"callbacks=\[([^\]]*)\]")
STATIC_FIGURE = re.compile(r"^(plot_solver_comparison\(.*\)|plt\.show\(\))$", re.MULTILINE)


@dataclass
class Cell:
    name: str
    with_dashboard: str  # the cell's source
    without: str  # the same with callbacks=[]
    dashboard: str  # the name of the dashboard its callbacks feed


def training_cells() -> list[Cell]:
    """The notebook's training cells (see the module docstring), in order."""
    nb, _ = read_source(SOURCE.read_text())
    cells, title = [], None
    for cell in nb.cells:
        if cell.cell_type != "code" or "callbacks=[" not in cell.source or cell.metadata.get("unit"):
            continue
        source = STATIC_FIGURE.sub("", cell.source)
        dashboard = CALLBACKS.search(source).group(1).split(".")[0]
        made = re.search(r'TrainingDashboard\("([^"]*)"\)', source)
        name = made.group(1) if made else f"{title}, continued"
        title = made.group(1) if made else title
        cells.append(Cell(name, source, CALLBACKS.sub("callbacks=[]", source), dashboard))
    if len(cells) != 4:
        raise SystemExit(f"expected the 4 training cells of {SOURCE.name}, found {len(cells)}: {[c.name for c in cells]}; "
                         "update this benchmark's docstring and selection")
    return cells


@dataclass
class Messages:
    """What a cell sent to the client: stdout, errors, and counts of widget and display messages."""

    stdout: str = ""
    errors: str = ""
    comm_open: int = 0
    comm_msg: int = 0
    pngs: int = 0  # display_data or update_display_data carrying an image/png


def run_cell(client, source: str, kernel: psutil.Process | None = None) -> tuple[float, float, Messages]:
    """Seconds from the execute request to the kernel's idle, CPU seconds of the ``kernel`` process
    meanwhile (0 without it), and what it sent; raises if the cell raised."""
    sent = Messages()

    def on_output(message):
        kind, content = message["msg_type"], message["content"]
        if kind == "error":
            sent.errors += "\n".join(content["traceback"])
        elif kind == "stream" and content["name"] == "stdout":
            sent.stdout += content["text"]
        elif kind == "comm_open":
            sent.comm_open += 1
        elif kind == "comm_msg":
            sent.comm_msg += 1
        elif kind in ("display_data", "update_display_data") and "image/png" in content["data"]:
            sent.pngs += 1

    cpu_start = sum(kernel.cpu_times()[:2]) if kernel else 0.0
    start = time.perf_counter()
    reply = client.execute_interactive(source, timeout=1200, output_hook=on_output)
    elapsed = time.perf_counter() - start
    cpu = sum(kernel.cpu_times()[:2]) - cpu_start if kernel else 0.0
    if reply["content"]["status"] != "ok" or sent.errors:
        raise RuntimeError(f"the benchmark cell failed:\n{source}\n{sent.errors}")
    return elapsed, cpu, sent


def measure(cells: list[Cell], setup: str, env: dict, rounds: int) -> dict:
    """Per (cell, live): the best wall-clock and CPU seconds; per cell: each live run's (redraw
    seconds, redraws, seconds, widget messages)."""
    manager, client = start_new_kernel(kernel_name="python3", cwd=str(ROOT), env=env)
    try:
        _, _, pid = run_cell(client, "import os\nprint(os.getpid())")
        kernel = psutil.Process(int(pid.stdout))
        run_cell(client, IMPORTS + setup)
        wall = {(cell.name, live): float("inf") for cell in cells for live in (False, True)}
        cpu = dict(wall)
        live_runs = {cell.name: [] for cell in cells}
        for _ in range(rounds):
            for live in (False, True):  # a cell that reuses a dashboard follows the cell that made it, as in the notebook
                for cell in cells:
                    seconds, cpu_seconds, sent = run_cell(client, cell.with_dashboard if live else cell.without, kernel)
                    wall[cell.name, live] = min(wall[cell.name, live], seconds)
                    cpu[cell.name, live] = min(cpu[cell.name, live], cpu_seconds)
                    if not live:
                        continue
                    if not sent.comm_open or not sent.pngs:
                        raise RuntimeError(f"{cell.name!r} ran with its dashboard but sent {sent.comm_open} widgets and "
                                           f"{sent.pngs} PNGs: the dashboard was not live")
                    _, _, budget = run_cell(client, f"print({cell.dashboard}.view.budget.spent, {cell.dashboard}.view.budget.redraws)")
                    spent, redraws = budget.stdout.split()
                    live_runs[cell.name].append((float(spent), int(redraws), seconds, sent.comm_open + sent.comm_msg))
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    return {"wall": wall, "cpu": cpu, "live": live_runs}


def print_table(title: str, cells: list[Cell], result: dict, target: bool) -> None:
    wall, cpu, live_runs = result["wall"], result["cpu"], result["live"]
    print(title)
    print(f"{'cell':<30} {'without s':>9} {'with s':>7} {'ratio':>6} {'CPU ratio':>9} {'redraws':>7} "
          f"{'redrawing':>9} {'widget msgs':>11}")
    for cell in cells:
        runs = live_runs[cell.name]
        share = sum(spent for spent, _, _, _ in runs) / sum(seconds for _, _, seconds, _ in runs)
        redraws = sum(count for _, count, _, _ in runs) / len(runs)
        messages = sum(sent for _, _, _, sent in runs) / len(runs)
        without, with_dashboard = wall[cell.name, False], wall[cell.name, True]
        print(f"{cell.name:<30} {without:9.2f} {with_dashboard:7.2f} {with_dashboard / without:5.2f}x "
              f"{cpu[cell.name, True] / cpu[cell.name, False]:8.2f}x {redraws:7.1f} {100 * share:8.1f}% {messages:11.1f}")
    total = {(clock, live): sum(times[cell.name, live] for cell in cells)
             for clock, times in (("wall", wall), ("cpu", cpu)) for live in (False, True)}
    note = "target <= 1.20x" if target else "for information"
    print(f"{'all four cells':<30} {total['wall', False]:9.2f} {total['wall', True]:7.2f} "
          f"{total['wall', True] / total['wall', False]:5.2f}x {total['cpu', True] / total['cpu', False]:8.2f}x  ({note})")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds per cell and variant; the best counts")
    parser.add_argument("--blas-threads", type=int, default=1, help="threads of numpy's BLAS in the kernel")
    args = parser.parse_args()

    cells = training_cells()
    threads = str(args.blas_threads)
    base = {key: value for key, value in os.environ.items() if key != "DL_SMOKE"}
    base.update(PYTHONPATH=str(ROOT), MPLBACKEND="Agg", OPENBLAS_NUM_THREADS=threads, OMP_NUM_THREADS=threads,
                MKL_NUM_THREADS=threads)
    student = measure(cells, STUDENT_DATA, base, args.rounds)
    smoke = measure(cells, SMOKE_DATA, dict(base, DL_SMOKE="1"), args.rounds)

    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {threads} BLAS thread(s), best of {args.rounds} rounds\n")
    print_table("Students' size: the notebook's full settings, generated arrays of CIFAR-10's shapes", cells, student, True)
    print_table("Smoke size (DL_SMOKE=1, as CI runs the notebook)", cells, smoke, False)


if __name__ == "__main__":
    main()
