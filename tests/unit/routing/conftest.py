"""Shared fixtures for the routing tests: the packaged demo district, loaded once."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from routing.district import District, default_data_dir


@pytest.fixture(scope="session")
def district() -> District:
    return District.load()


@pytest.fixture
def data_copy(tmp_path: Path) -> Path:
    """A writable copy of the demo data directory, for tests that break it."""
    target = tmp_path / "data"
    shutil.copytree(default_data_dir(), target)
    return target
