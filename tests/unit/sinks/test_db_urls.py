"""URL handling of sinks.db and the PostgreSQL helpers (no database needed)."""

from __future__ import annotations

import pytest

from gridhub.local.postgres import libpq_url, with_database
from sinks.db import normalise_url


def test_postgres_urls_get_the_psycopg_driver() -> None:
    assert normalise_url("postgresql://u@h:5/db").drivername == "postgresql+psycopg"
    assert normalise_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    assert normalise_url("postgresql+psycopg://u@h/db").drivername == "postgresql+psycopg"
    assert normalise_url("sqlite:///x.db").drivername == "sqlite"
    with pytest.raises(ValueError, match="unsupported"):
        normalise_url("mysql://u@h/db")


def test_localpg_url_helpers() -> None:
    url = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    assert with_database(url, "t_1") == "postgresql+psycopg://postgres@127.0.0.1:5432/t_1"
    assert libpq_url(url) == "postgresql://postgres@127.0.0.1:5432/postgres"
