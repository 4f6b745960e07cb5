"""A migrated engine on each backend (``db_url`` runs every test on SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from sinks.db import make_engine, upgrade


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    upgrade(db_url)
    eng = make_engine(db_url)
    try:
        yield eng
    finally:
        eng.dispose()
