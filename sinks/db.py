"""Engines and migrations: the only place that turns a database URL into connections.

Nothing here runs at import time; entrypoints call :func:`make_engine` and
:func:`upgrade`. Two backends are supported:

- SQLite (default, embedded): WAL journal and a ``busy_timeout`` so the worker and
  the gateway can share the file; SQLAlchemy emits ``BEGIN`` itself (the sqlite3
  driver's legacy transaction control is switched off) so SELECTs, DDL and
  SAVEPOINTs run inside real transactions.
- PostgreSQL (production): ``postgresql://`` URLs are rewritten to the psycopg 3
  driver; connections are pre-pinged so a restarted server is survived, a
  connection attempt gives up after ``PG_CONNECT_TIMEOUT_S`` and a request for a
  pooled connection after ``POOL_TIMEOUT_S``, so an unreachable server fails
  calls quickly (the gateway answers 503) instead of hanging them.
"""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path
from typing import Any

import orjson
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000
PG_CONNECT_TIMEOUT_S = 5  # libpq connect_timeout (whole seconds, at least 2)
POOL_TIMEOUT_S = 10.0  # wait for a free pooled connection
# Any constant works: it only has to be the same for every GridHub process.
_PG_MIGRATION_LOCK = 0x6772_6964_6875_62  # "gridhub"


_ESCAPED_NUL = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


def _json_dumps(value: Any) -> str:
    """JSON for JSON columns (and the writer's batch documents): orjson, naive
    datetimes taken as UTC, NUL characters dropped (PostgreSQL cannot store them,
    and one would otherwise block the projection forever)."""
    text = orjson.dumps(value, option=orjson.OPT_NAIVE_UTC).decode()
    if "\\u0000" in text:
        text = _ESCAPED_NUL.sub(r"\1", text)
    return text


def normalise_url(url: str | URL) -> URL:
    """Parse ``url``; plain ``postgresql://`` / ``postgres://`` get the psycopg 3 driver."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ValueError(f"unsupported database {parsed.drivername!r}: use sqlite or postgresql")
    return parsed


def make_engine(url: str | URL, **kwargs: Any) -> Engine:
    """An engine for ``url`` with GridHub's settings; extra ``kwargs`` go to ``create_engine``."""
    parsed = normalise_url(url)
    options: dict[str, Any] = {"pool_pre_ping": True, "json_serializer": _json_dumps}
    if parsed.get_backend_name() == "sqlite":
        options["connect_args"] = {"check_same_thread": False}
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    else:
        options["connect_args"] = {"connect_timeout": PG_CONNECT_TIMEOUT_S}
        options["pool_timeout"] = POOL_TIMEOUT_S
    options.update(kwargs)
    engine = create_engine(parsed, **options)
    if parsed.get_backend_name() == "sqlite":
        _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN, see below
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            _use_wal(cursor)
            cursor.execute("PRAGMA synchronous = NORMAL")  # durable at checkpoints in WAL mode
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # ``sqlite_begin`` execution option: "IMMEDIATE" takes the write lock up front.
        mode = conn.get_execution_options().get("sqlite_begin", "")
        conn.exec_driver_sql(f"BEGIN {mode}".strip())


def _use_wal(cursor: Any) -> None:
    """Switch the file to WAL once. The switch needs the file to itself and SQLite
    may answer "database is locked" at once, without waiting out the busy timeout
    (two processes opening a new database together: worker and gateway at start),
    so it is retried within that timeout; a file already in WAL is left alone."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic configuration for the packaged migrations; no ``alembic.ini`` needed."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(url: str | URL, revision: str = "head") -> None:
    """Migrate the database at ``url`` to ``revision`` (creating a SQLite file's directory).

    Concurrent callers are serialised (an advisory lock on PostgreSQL, an
    immediate transaction on SQLite), so several processes may run it at start."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                conn = conn.execution_options(sqlite_begin="IMMEDIATE")
            with conn.begin():
                if engine.dialect.name == "postgresql":
                    lock = text("SELECT pg_advisory_xact_lock(:key)")
                    conn.execute(lock, {"key": _PG_MIGRATION_LOCK})
                command.upgrade(alembic_config(conn), revision)
    finally:
        engine.dispose()


def is_database_outage(exc: BaseException) -> bool:
    """True for errors that mean "the database cannot be reached" rather than a bug:
    connection refused or lost, server shutting down, pool exhausted."""
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeoutError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated
