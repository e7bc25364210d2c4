"""pytest settings for the whole checkout: the unit tests under tests/ and the notebooks that
``./run.sh test`` executes with nbmake (the filled-in releases under .nbmake/).

Every notebook gets a wall-clock limit of its own (pytest-timeout). In smoke mode
(``DL_SMOKE=1``) each notebook is meant to run in about a minute on a 2-core machine; the limit
is a few times that, so a notebook that hangs or has lost its smoke mode fails on its own
instead of eating the whole CI budget. ``--durations`` shows how close each one is.
"""
import pytest

NOTEBOOK_TIMEOUT_S = 300


def pytest_collection_modifyitems(items):
    for item in items:
        if item.path.suffix == ".ipynb":
            item.add_marker(pytest.mark.timeout(NOTEBOOK_TIMEOUT_S, method="signal"))
