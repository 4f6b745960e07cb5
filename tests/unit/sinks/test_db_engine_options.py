"""PostgreSQL engines give up quickly on an unreachable server: a
connection attempt after ``PG_CONNECT_TIMEOUT_S``, a wait for a pooled
connection after ``POOL_TIMEOUT_S``. SQLite files switch to WAL once, waiting
for a file another opener holds."""

from __future__ import annotations

import socket
import sqlite3
import time
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError

from sinks.db import PG_CONNECT_TIMEOUT_S, POOL_TIMEOUT_S, _use_wal, make_engine


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


class LockedAtFirst:
    """A cursor whose file another opener holds for the first ``n`` tries."""

    def __init__(self, n: int, mode: str = "delete") -> None:
        self.left, self.mode = n, mode
        self.sql: list[str] = []

    def execute(self, sql: str) -> LockedAtFirst:
        self.sql.append(sql)
        if self.left:
            self.left -= 1
            raise sqlite3.OperationalError("database is locked")
        if sql.endswith("= WAL"):
            self.mode = "wal"
        return self

    def fetchone(self) -> tuple[str]:
        return (self.mode,)


def test_the_switch_to_wal_waits_for_a_file_another_opener_holds() -> None:
    cursor = LockedAtFirst(3)
    _use_wal(cursor)
    assert cursor.mode == "wal" and cursor.sql[-1] == "PRAGMA journal_mode = WAL"


def test_a_file_already_in_wal_is_left_alone() -> None:
    cursor = LockedAtFirst(0, mode="wal")
    _use_wal(cursor)
    assert cursor.sql == ["PRAGMA journal_mode"]


def test_other_errors_are_not_retried() -> None:
    class Broken(LockedAtFirst):
        def execute(self, sql: str) -> LockedAtFirst:
            raise sqlite3.OperationalError("disk I/O error")

    with pytest.raises(sqlite3.OperationalError, match="disk"):
        _use_wal(Broken(0))
