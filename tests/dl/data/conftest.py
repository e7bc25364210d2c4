"""Shared fixtures for the data tests: an isolated data folder and one generated CIFAR-10 fixture."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from dl.data.fixtures import write_cifar10_fixture


@pytest.fixture(autouse=True)
def isolated_data_dir(tmp_path, monkeypatch) -> Path:
    """Every test gets its own DL_DATA_DIR and starts outside smoke mode; the home cache is never used."""
    data = tmp_path / "data-dir"
    monkeypatch.setenv("DL_DATA_DIR", str(data))
    monkeypatch.delenv("DL_SMOKE", raising=False)
    return data


@pytest.fixture(scope="session")
def cifar_fixture_shared(tmp_path_factory) -> Path:
    """A 600/200-row fixture written once per session; tests must not modify it."""
    return write_cifar10_fixture(tmp_path_factory.mktemp("cifar-shared"))


@pytest.fixture
def cifar_fixture(cifar_fixture_shared, tmp_path) -> Path:
    """A private, modifiable copy of the shared fixture folder."""
    return Path(shutil.copytree(cifar_fixture_shared, tmp_path / "copy" / cifar_fixture_shared.name))


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded numpy generator."""
    return np.random.default_rng(0)
