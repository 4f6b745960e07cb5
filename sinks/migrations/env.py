"""Alembic environment for GridHub's packaged migrations.

Run through :func:`sinks.db.upgrade`, which passes an open connection (inside a
transaction) in ``config.attributes["connection"]``; with only a URL
(``sqlalchemy.url``) an engine is made by :func:`sinks.db.make_engine`. No
logging configuration is touched.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

import sinks.channel_models  # noqa: F401 - registers channel_deliveries on Base.metadata
import sinks.district_loads  # noqa: F401 - registers district_loads on Base.metadata
import sinks.duty_models  # noqa: F401 - registers the case parts' tables on Base.metadata
import sinks.feedback  # noqa: F401 - registers feedback_ratings on Base.metadata
import sinks.outbox_models  # noqa: F401 - registers the outbox tables on Base.metadata
import sinks.subscriptions  # noqa: F401 - registers webhook_subscriptions on Base.metadata
from sinks.db import make_engine
from sinks.models import Base

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite ALTERs via table copy
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    context.configure(
        url=context.config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no connection and no sqlalchemy.url: use sinks.db.upgrade(url)")
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            _run(conn)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
