"""The hand-written migrations build exactly the schema of ``sinks.models``."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

import sinks.channel_models  # noqa: F401 - and the channel deliveries
import sinks.district_loads  # noqa: F401 - and the district data loads
import sinks.duty_models  # noqa: F401 - the case parts' tables
import sinks.feedback  # noqa: F401 - and the feedback ratings
import sinks.outbox_models  # noqa: F401 - the outbox tables are on Base.metadata too
import sinks.subscriptions  # noqa: F401 - and webhook_subscriptions
from sinks.db import alembic_config, make_engine, upgrade
from sinks.models import Base


def _diff(engine: Engine) -> list[tuple[str, object]]:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))


def test_upgrade_head_equals_models(db_url: str) -> None:
    upgrade(db_url)
    upgrade(db_url)  # a second run is a no-op
    engine = make_engine(db_url)
    try:
        assert _diff(engine) == []
        with engine.connect() as conn:
            assert conn.scalar(text("SELECT version_num FROM alembic_version")) == "0006"
        assert set(inspect(engine).get_table_names()) == {
            "alembic_version",
            "api_tokens",
            "audit_log",
            "media",
            "principals",
            "case_events",
            "case_extensions",
            "case_orders",
            "case_tasks",
            "cases",
            "channel_deliveries",
            "district_loads",
            "feedback_ratings",
            "inbox",
            "notification_deliveries",
            "reports",
            "webhook_subscriptions",
        }
    finally:
        engine.dispose()


def test_compare_sees_a_difference(db_url: str) -> None:
    """Guards the test above against comparing nothing."""
    upgrade(db_url)
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP INDEX ix_cases_grid_code"))
        diff = _diff(engine)
        assert [d[0] for d in diff] == ["add_index"]
    finally:
        engine.dispose()


def test_downgrade_to_base_and_back(db_url: str) -> None:
    upgrade(db_url)
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), "base")
        assert set(inspect(engine).get_table_names()) == {"alembic_version"}
        upgrade(db_url)
        assert _diff(engine) == []
    finally:
        engine.dispose()


def test_sqlite_file_directory_is_created(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'deep' / 'er' / 'gridhub.db'}"
    upgrade(url)
    assert (tmp_path / "deep" / "er" / "gridhub.db").is_file()
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.scalar(text("PRAGMA journal_mode")) == "wal"
            assert conn.scalar(text("PRAGMA busy_timeout")) == 30000
    finally:
        engine.dispose()


def test_concurrent_upgrades_are_serialised(db_url: str) -> None:
    """Worker and gateway may both migrate at start."""
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: upgrade(db_url), range(4)))
    engine = make_engine(db_url)
    try:
        assert _diff(engine) == []
    finally:
        engine.dispose()


def test_tokens_become_principals_and_unique_names_become_ids(db_url: str) -> None:
    """0005: each token its own principal; what joined on a name that one token
    had joins on that principal's id; a name two tokens share stays a name."""
    upgrade(db_url, "0004")
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            for token_id, name in (("t1", "zhang"), ("t2", "li"), ("t3", "li")):
                conn.execute(
                    text(
                        "INSERT INTO api_tokens (id, name, role, scope, token_hash, created_at) "
                        "VALUES (:id, :name, 'grid_worker', NULL, :hash, CURRENT_TIMESTAMP)"
                    ),
                    {"id": token_id, "name": name, "hash": token_id * 20},
                )
            for report_id, by in (("r1", "zhang"), ("r2", "li")):
                conn.execute(
                    text(
                        "INSERT INTO reports (id, case_id, source, source_type, source_event_id, "
                        "category, description, grid_code, occurred_at, received_at, media, "
                        "submitted_by, attributes) VALUES (:id, 'c', 's', 't', :id, 'garbage', "
                        "'d', '990101001001001', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, '[]', "
                        ":by, '{}')"
                    ),
                    {"id": report_id, "by": by},
                )
        upgrade(db_url)
        with engine.connect() as conn:
            owners = dict(conn.execute(text("SELECT id, principal_id FROM api_tokens")).all())
            names = dict(conn.execute(text("SELECT id, name FROM principals")).all())
            by = dict(conn.execute(text("SELECT id, submitted_by FROM reports")).all())
        assert owners == {"t1": "t1", "t2": "t2", "t3": "t3"}
        assert names == {"t1": "zhang", "t2": "li", "t3": "li"}
        assert by == {"r1": "t1", "r2": "li"}
    finally:
        engine.dispose()
