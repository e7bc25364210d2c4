"""Command line: ``python -m dl.data.download NAME [--root DIR] [--url URL]``.

Prints the path of the verified data on success; on failure prints the reason (with instructions)
to stderr and exits with status 1.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dl.data.download import DATA_DIR_ENV, DownloadError, data_dir, download
from dl.data.download.registry import REGISTRY


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (1 with a message on failure)."""
    parser = argparse.ArgumentParser(
        prog="python -m dl.data.download", description="Download and verify a course data set or pretrained weights file."
    )
    parser.add_argument("name", help=f"registry entry, one of: {', '.join(sorted(REGISTRY))}")
    parser.add_argument("--root", type=Path, help=f"data folder (default: ${DATA_DIR_ENV} or {data_dir()})")
    parser.add_argument("--url", help="download from this location instead of the registry's")
    args = parser.parse_args(argv)
    try:
        path = download(args.name, root=args.root, url=args.url)
    except (DownloadError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
