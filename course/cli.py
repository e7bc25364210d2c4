"""The ``dl-course`` command line: a thin layer that parses arguments and calls the tooling."""
from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dl-course", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="train the reference fully connected net and plot its curves")
    demo.add_argument("--out", default="out/demo", help="folder for the figures (default: out/demo)")
    args = parser.parse_args(argv)
    if args.command == "demo":
        from course.demo import run_demo

        return run_demo(args.out)
    return 2


if __name__ == "__main__":
    sys.exit(main())
