"""When loaders check data files against the registry's md5s, and the check itself.

Real data is always verified. Generated fixtures (folders holding :data:`FIXTURE_MARKER`) cannot
match the registry, so loaders skip the check for them, but only in smoke mode or under pytest.
Anywhere else a marked folder is refused, so generated data never silently stands in for real data.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Mapping

from dl.data.download import file_md5
from dl.utils import smoke_mode

FIXTURE_MARKER = "DL_FIXTURE.json"


def checksums_waived(folder: str | os.PathLike, smoke: bool | None = None) -> bool:
    """True if ``folder`` is a generated fixture and smoke mode or pytest is active.

    ``smoke`` says whether the caller is in smoke mode (None: :func:`dl.utils.smoke_mode`, i.e.
    ``DL_SMOKE``). False for any folder without the marker (verify it). Raises ValueError for a
    marked folder outside smoke mode and pytest.
    """
    folder = Path(folder)
    if not (folder / FIXTURE_MARKER).exists():
        return False
    if (smoke_mode() if smoke is None else smoke) or "PYTEST_CURRENT_TEST" in os.environ or "pytest" in sys.modules:
        return True
    raise ValueError(
        f"{folder} holds generated fixture data ({FIXTURE_MARKER}), which is only used in smoke mode "
        f"(DL_SMOKE=1) or by the tests. Point the loader at the real data instead."
    )


def verify_md5s(folder: str | os.PathLike, expected: Mapping[str, str], command: str) -> None:
    """Raise ValueError naming the first file in ``folder`` whose md5 differs from ``expected``."""
    folder = Path(folder)
    for name, md5 in expected.items():
        actual = file_md5(folder / name)
        if actual != md5:
            raise ValueError(
                f"{folder / name}: md5 {actual} differs from the expected {md5}; the file is damaged "
                f"or not the published release. Delete {folder} and re-download with: {command}"
            )
