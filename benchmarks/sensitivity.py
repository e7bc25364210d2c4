"""How sensitive the hidden checks are: every unit's bug table graded, the share caught and the points each costs.

Usage (from the repository root):

    python benchmarks/sensitivity.py [--notebook ConvolutionalNetworks] [--seeds 1]

Each bug of ``tests/autograder/bug_tables/`` (every notebook's: a1's and a2's) is graded on its
own unit (in-process, as the tests do), with ``--seeds`` grader seeds. A bug is caught when its
unit loses points on every seed. The table prints, per unit, the bugs caught out of those in its
table and the mean share of the unit's points they cost; then the same per notebook and in total,
and how many correct variants kept full marks. The target (issues #12 and #13): at least 98% of
the bug tables caught, over a1 and over each later notebook.
"""
from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.autograder.bug_tables import grade, variants  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebook", help="only this notebook's tables")
    parser.add_argument("--seeds", type=int, default=1, help="grader seeds per bug (caught: loses points on every seed)")
    args = parser.parse_args()

    caught: dict[str, list[bool]] = defaultdict(list)
    cost: dict[str, list[float]] = defaultdict(list)
    notebook_of: dict[str, str] = {}
    missed = []
    for notebook, bug in variants("BUGS"):
        if args.notebook and notebook != args.notebook:
            continue
        scores = [grade(notebook, bug.sources, (bug.unit,), seed)[bug.unit].score for seed in range(args.seeds)]
        caught[bug.unit].append(max(scores) < 1)
        cost[bug.unit].append(1 - sum(scores) / len(scores))
        notebook_of[bug.unit] = notebook
        if max(scores) == 1:
            missed.append(str(bug))

    print(f"{'unit':<40} {'caught':>8} {'share':>7} {'mean cost':>10}")
    for unit in caught:
        print(row(unit, caught[unit], cost[unit], "7.0%"))
    print(f"\n{'notebook':<40} {'caught':>8} {'share':>7} {'mean cost':>10}   ({args.seeds} seed{'s' if args.seeds > 1 else ''})")
    for notebook in dict.fromkeys(notebook_of.values()):
        units = [unit for unit in caught if notebook_of[unit] == notebook]
        print(row(notebook, [c for u in units for c in caught[u]], [c for u in units for c in cost[u]], "7.1%"))
    total = [c for unit in caught for c in caught[unit]]
    if total:
        print(row("all notebooks", total, [c for unit in cost for c in cost[unit]], "7.1%") + "  (target: at least 98% caught)")
    for name in missed:
        print(f"  missed: {name}")

    kept = [(notebook, v) for notebook, v in variants("CORRECT") if not args.notebook or notebook == args.notebook]
    full = sum(all(o.score == 1 for o in grade(notebook, v.sources).values()) for notebook, v in kept)
    print(f"correct variants with full marks on every unit: {full} of {len(kept)}")


def row(label: str, caught: list[bool], cost: list[float], share: str) -> str:
    """``label``, bugs caught of all, the share caught and the mean share of the points they cost."""
    return f"{label:<40} {sum(caught):>3} of {len(caught):<3} {sum(caught) / len(caught):{share}} {sum(cost) / len(cost):10.0%}"


if __name__ == "__main__":
    main()
