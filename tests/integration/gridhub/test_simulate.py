"""``gridhub simulate`` against a real worker: the synthetic district traffic
becomes cases, and the simulated departments and grid workers move them on
(accept, resolve, verify) through gridhub.case-commands."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from gridhub.cli.simulate import simulate
from sinks.db import make_engine, upgrade
from sinks.models import case_events, cases, reports
from tests.fixtures.worker import wait_until

pytestmark = [pytest.mark.kafka]


def test_simulated_traffic_becomes_cases_that_departments_work_on(hub_env, running, tmp_path):
    db_url = f"sqlite:///{tmp_path / 'hub.db'}"
    env = hub_env(db_url)
    upgrade(db_url)
    worker = env.spawn("worker")
    running.append(worker)
    wait_until(lambda: "Ready" in worker.log_path.read_text(errors="replace"), 60, "worker ready")

    settings_env = {k: v for k, v in env.env.items() if k.startswith("GRIDHUB_")}
    result = CliRunner().invoke(
        simulate,
        [
            "--rate", "15",
            "--duration", "12",
            "--seed", "42",
            "--action-delay", "0.5",
            "--accept", "0.8",
            "--verify-pass", "0.8",
        ],
        env=settings_env,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "by source: report" in result.output
    assert "commands sent: accept" in result.output or "accept " in result.output

    engine = make_engine(db_url)

    def count(query):
        with engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def worked_on() -> bool:
        actions = (
            select(func.count())
            .select_from(case_events)
            .where(
                case_events.c.actor.like("simulated-%"),
                case_events.c.type.in_(["accepted", "resolved", "verified"]),
            )
        )
        return count(actions) >= 3

    wait_until(worked_on, 45, "department and grid-worker actions in the timeline")
    assert count(select(func.count()).select_from(cases)) >= 10
    assert count(select(func.count()).select_from(reports)) >= 20
    sources = {row[0] for row in engine.connect().execute(select(reports.c.source_type).distinct())}
    assert {"org.gridhub.report.submitted", "org.gridhub.citymgmt.case"} <= sources
    engine.dispose()
