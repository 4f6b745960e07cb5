"""PostgreSQL engines give up quickly on an unreachable server: a
connection attempt after ``PG_CONNECT_TIMEOUT_S``, a wait for a pooled
connection after ``POOL_TIMEOUT_S``."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError

from sinks.db import PG_CONNECT_TIMEOUT_S, POOL_TIMEOUT_S, make_engine


class Captured(Exception):
    pass


def connect_params(url: str) -> dict[str, Any]:
    """The keyword arguments the engine hands the driver's ``connect``."""
    engine = make_engine(url)
    seen: dict[str, Any] = {}

    @event.listens_for(engine, "do_connect")
    def capture(_dialect: Any, _record: Any, _args: Any, params: dict[str, Any]) -> None:
        seen.update(params)
        raise Captured

    try:
        with pytest.raises(Captured), engine.connect():
            pass
    finally:
        engine.dispose()
    return seen


def test_postgres_engines_carry_connect_and_pool_timeouts() -> None:
    assert connect_params("postgresql://u@127.0.0.1:5432/db")["connect_timeout"] == (
        PG_CONNECT_TIMEOUT_S
    )
    engine = make_engine("postgresql://u@127.0.0.1:5432/db")
    try:
        assert engine.pool.timeout() == POOL_TIMEOUT_S
    finally:
        engine.dispose()


def test_sqlite_engines_keep_their_own_options() -> None:
    assert "connect_timeout" not in connect_params("sqlite:///:memory:")


def test_a_server_that_never_answers_fails_the_connection_in_time() -> None:
    """A listening socket that never speaks (a wedged or black-holed server)."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        engine = make_engine(f"postgresql://postgres@127.0.0.1:{port}/gridhub")
        started = time.monotonic()
        try:
            with pytest.raises(OperationalError), engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        finally:
            engine.dispose()
        assert time.monotonic() - started < PG_CONNECT_TIMEOUT_S + 3
