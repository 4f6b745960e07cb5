"""Identity (finding 10, L2, L3) — principals, not names: a namesake reads no
one else's inbox nor shares a scorecard row; people's tokens expire; scopes are
checked when made; the command line manages tokens and principals; reads of
personal data and changes of tokens are audit-logged for leaders."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from gridhub.cli import main
from routing.district import District
from schemas.alerts import Notification
from schemas.policy import scope_problem
from sinks.audit import PERSONAL_DATA_READ, AuditLog
from sinks.db import make_engine
from sinks.models import audit_log, reports
from sinks.outbox import Outbox
from sinks.tokens import TokenStore
from tests.support.security import Attacked
from tests.support.seeded_gateway import CASE_A

CLI_SECRET = "Jq3vP0x9LrT7mW2kZ8sA5dF1gH4yU6nB"


def test_10_a_namesake_reads_no_one_elses_inbox(hub: Attacked, client: TestClient) -> None:
    mine, me = hub.record("grid_worker", "110105001001", name="张网格")
    namesake = hub.token("grid_worker", "990101001002004", name="张网格")
    with hub.engine.begin() as conn:  # rep-a1 is this worker's report
        conn.execute(
            update(reports).where(reports.c.id == "rep-a1").values(submitted_by=me.principal_id)
        )
    Outbox(hub.engine).accept(
        [_note("reporter:rep-a1", "原因：举报人张三住在3号楼")], lambda r: None
    )
    inbox = "/api/v1/me/inbox"
    assert len(client.get(inbox, headers={"Authorization": f"Bearer {mine}"}).json()["items"]) == 1
    assert client.get(inbox, headers={"Authorization": f"Bearer {namesake}"}).json()["items"] == []


def test_10_namesakes_are_two_rows_of_the_scorecard(hub: Attacked, client: TestClient) -> None:
    _, first = hub.record("grid_worker", "110105001001", name="张网格")
    _, second = hub.record("grid_worker", "110105002001", name="张网格")
    with hub.engine.begin() as conn:
        for report_id, who in (("rep-a1", first), ("rep-b1", second)):
            conn.execute(
                update(reports)
                .where(reports.c.id == report_id)
                .values(submitted_by=who.principal_id, received_at=datetime.now(UTC))
            )
    rows = client.get("/api/v1/stats/grid-workers", headers=hub.bearer("leader")).json()["items"]
    mine = [r for r in rows if r["grid_worker"] == "张网格"]
    assert sorted(r["principal_id"] for r in mine) == sorted(
        [first.principal_id, second.principal_id]
    )
    assert all(r["reports"] == 1 for r in mine)


def test_10_actors_on_the_timeline_are_principal_ids(hub: Attacked, client: TestClient) -> None:
    operator, record = hub.record("operator", name="值班员")
    headers = {"Authorization": f"Bearer {operator}"}
    answer = client.post(
        f"/api/v1/cases/{CASE_A}/actions",
        json={"action": "comment", "note": "看一下"},
        headers=headers,
    )
    assert answer.status_code == 200, answer.text
    [command] = hub.publisher.commands()
    assert command.actor == f"operator:{record.principal_id}"


def test_10_peoples_tokens_expire(hub: Attacked, client: TestClient) -> None:
    _, person = hub.record("grid_worker", "990101001001")
    _, system = hub.record("system", "urn:x:y")
    assert person.expires_at is not None
    assert timedelta(days=89) < person.expires_at - person.created_at <= timedelta(days=90)
    assert system.expires_at is None
    expired, _ = hub.store.create("operator", "短期", expires_in=timedelta(seconds=-1))
    answer = client.get("/api/v1/cases", headers={"Authorization": f"Bearer {expired}"})
    assert answer.status_code == 401


def test_l2_scopes_are_checked_when_a_principal_is_made() -> None:
    district = District.load()
    grids, departments = district.grids.codes(), frozenset(district.departments)

    def problem(role: str, scope: str | None, dev: bool = False) -> str | None:
        return scope_problem(role, scope, grids=grids, departments=departments, dev=dev)

    assert problem("grid_worker", None) is not None  # outside dev: no whole-district worker
    assert problem("grid_worker", None, dev=True) is None
    assert problem("grid_worker", "110105001001001") is not None  # not a grid here
    assert problem("grid_worker", "990101001001") is None  # a community of this district
    assert problem("department", "no_such_department") is not None
    assert problem("department", next(iter(departments))) is None
    assert problem("system", "not a uri") is not None
    assert problem("system", "urn:district:citymgmt") is None
    assert problem("operator", "990101") is not None


def test_10_personal_data_reads_are_audited_for_leaders(hub: Attacked, client: TestClient) -> None:
    operator, record = hub.record("operator")
    detail = client.get(f"/api/v1/cases/{CASE_A}", headers={"Authorization": f"Bearer {operator}"})
    assert detail.status_code == 200 and detail.json()["reports"][0]["reporter"]
    leader = hub.bearer("leader")
    entries = client.get(f"/api/v1/audit?action={PERSONAL_DATA_READ}", headers=leader).json()
    assert [(e["actor"], e["target"]) for e in entries] == [
        (f"operator:{record.principal_id}", f"case:{CASE_A}")
    ]
    assert "13900000000" not in str(entries)  # what was read is named, not copied
    assert client.get("/api/v1/audit", headers=hub.bearer("operator")).status_code == 403
    # A leader's own read carries no personal data: nothing to audit.
    client.get(f"/api/v1/cases/{CASE_A}", headers=leader)
    assert len(client.get("/api/v1/audit", headers=leader).json()) == 1


@pytest.mark.kafka
def test_10_the_command_line_manages_principals_and_tokens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kafka_bootstrap: str, kafka_topics
) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("GRIDHUB_DATABASE_URL", url)
    monkeypatch.setenv("GRIDHUB_HOME", str(tmp_path))
    monkeypatch.setenv("GRIDHUB_TOKEN_SECRET", CLI_SECRET)
    monkeypatch.setenv("GRIDHUB_KAFKA_BOOTSTRAP", kafka_bootstrap)
    monkeypatch.setenv("GRIDHUB_TOPIC_PREFIX", kafka_topics.intake.removesuffix("gridhub.intake"))
    cli = CliRunner()

    def run(*args: str, ok: bool = True) -> list[str]:
        result = cli.invoke(main, list(args))
        assert (result.exit_code == 0) is ok, result.output
        return result.output.strip().splitlines()

    out = run(
        "token", "create", "--role", "grid_worker", "--name", "张网格", "--scope", "990101001001"
    )
    plaintext = out[-1]  # the token alone on the last line
    assert plaintext.startswith("gh_") and plaintext not in out[0]
    run("token", "create", "--role", "grid_worker", "--name", "x", "--scope", "1101", ok=False)
    run(
        "token", "create", "--role", "system", "--name", "x", "--scope", "urn:x", ok=False
    )  # --types
    store = TokenStore(make_engine(url), CLI_SECRET)
    record = store.verify(plaintext)
    assert record is not None
    second = run("token", "create", "--principal", record.principal_id)[-1]
    listed = run("token", "list", "--principal", record.principal_id)
    assert len(listed) == 2 and all("active" in line for line in listed)
    rotated = run("token", "rotate", record.id)[-1]
    assert store.verify(plaintext) is None and store.verify(rotated) is not None
    assert any("published" in line for line in run("token", "revoke", store.verify(second).id))
    principal = run("principal", "create", "--role", "leader", "--name", "主任")[-1]
    run("user", "disable", principal)
    assert any(
        f"{principal}\tleader\t主任\t-\tdisabled" in line for line in run("principal", "list")
    )
    with make_engine(url).connect() as conn:
        actions = [row.action for row in conn.execute(select(audit_log.c.action))]
    assert {"token.create", "token.rotate", "token.revoke", "principal.create"} <= set(actions)
    assert "principal.disable" in actions
    assert all(entry["actor"].startswith("cli:") for entry in AuditLog(make_engine(url)).entries())


def _note(recipient: str, body: str) -> Notification:
    return Notification(
        id=f"n:{recipient}",
        recipient=recipient,
        channel="app",
        time=datetime.now(UTC),
        case_id=CASE_A,
        event_type="org.gridhub.case.rejected",
        subject="不予立案",
        body=body,
    )
