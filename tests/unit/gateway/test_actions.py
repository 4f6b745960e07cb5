"""POST /api/v1/cases/{id}/actions: role rules, scopes, the command sent, and the
200 / 409 / 202 answers (the case agent played by AgentPublisher)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from gateway.app import create_app
from gateway.deps import GatewayDeps
from schemas.cases import CaseCommand, CaseState, CommandResult
from tests.support.gateway import TokenFactory, principal_of
from tests.support.seeded_gateway import (
    CASE_A,
    CASE_B,
    CASE_C,
    GRID_A,
    GRID_B,
    AgentPublisher,
    case_work_deps,
    seed,
)


def url(case_id: str) -> str:
    return f"/api/v1/cases/{case_id}/actions"


COMMENT = {"action": "comment", "note": "看过了"}


@pytest.fixture
def agent(deps: GatewayDeps) -> AgentPublisher:
    return AgentPublisher(commands_topic=deps.topics.case_commands)


@pytest.fixture
def ops(
    deps: GatewayDeps, engine: Engine, tmp_path: Path, agent: AgentPublisher
) -> Iterator[TestClient]:
    seed(engine)
    app = create_app(case_work_deps(deps, engine, tmp_path, publisher=agent, action_timeout=0.3))
    with TestClient(app) as test_client:
        yield test_client


def test_accepted_action_is_200_with_result_and_case(
    ops: TestClient, auth: TokenFactory, agent: AgentPublisher, deps: GatewayDeps, tokens
) -> None:
    operator = auth("operator", name="op-1")
    response = ops.post(
        url(CASE_C), json={"action": "dispatch", "department": "chengguan"}, headers=operator
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["result"]["accepted"] is True and body["result"]["rule"] == "applied"
    assert body["case"]["id"] == CASE_C
    assert body["case"]["reports"][0]["reporter"]["name"] == "张三"  # an operator sees it
    assert "actions" in body["case"]  # what the caller may do next, as in the case detail

    [record] = agent.on(deps.topics.case_commands)
    command = CaseCommand.model_validate_json(record.value)
    assert record.key == command.partition_key == CASE_C[:12].encode()
    assert command.case_id == CASE_C
    assert command.actor == f"operator:{principal_of(tokens, operator)}"  # the id, not "op-1"
    assert command.role == "operator" and command.scope is None
    assert command.time.tzinfo is not None
    assert body["result"]["command_id"] == command.command_id


def test_refused_action_is_409_naming_the_rule(
    ops: TestClient, auth: TokenFactory, agent: AgentPublisher
) -> None:
    agent.answer = lambda c: CommandResult(
        command_id=c.command_id,
        case_id=c.case_id,
        accepted=False,
        rule="reject",
        state=CaseState.DISPATCHED,
        version=3,
        reason="reject: not allowed from dispatched (allowed from open)",
    )
    response = ops.post(
        url(CASE_A), json={"action": "reject", "reason": "dup"}, headers=auth("operator")
    )
    assert response.status_code == 409
    body = response.json()
    assert body["rule"] == "reject" and "not allowed from dispatched" in body["detail"]


def test_late_answer_is_202_and_the_status_url_answers_later(
    ops: TestClient, auth: TokenFactory, agent: AgentPublisher
) -> None:
    agent.answer = lambda c: None
    headers = auth("operator")
    response = ops.post(url(CASE_A), json=COMMENT, headers=headers)
    assert response.status_code == 202
    pending = response.json()
    assert pending["status"] == "pending"
    status_url = pending["status_url"]
    assert status_url == f"/api/v1/cases/{CASE_A}/commands/{pending['command_id']}"
    assert ops.get(status_url, headers=headers).status_code == 202

    [command] = agent.commands()
    agent.results.deliver(
        CommandResult(
            command_id=command.command_id,
            case_id=CASE_A,
            accepted=True,
            rule="applied",
            state=CaseState.DISPATCHED,
            version=4,
        )
    )
    done = ops.get(status_url, headers=headers)
    assert done.status_code == 200 and done.json()["result"]["version"] == 4
    assert agent.results.waiting == 0
    elsewhere = ops.get(f"/api/v1/cases/{CASE_B}/commands/{command.command_id}", headers=headers)
    assert elsewhere.status_code == 404


def test_idempotency_key_is_one_command(
    ops: TestClient, auth: TokenFactory, agent: AgentPublisher
) -> None:
    headers = {**auth("operator"), "Idempotency-Key": "click-1"}
    first = ops.post(url(CASE_A), json=COMMENT, headers=headers)
    again = ops.post(url(CASE_A), json=COMMENT, headers=headers)
    assert first.status_code == again.status_code == 200
    assert first.json()["result"]["command_id"] == again.json()["result"]["command_id"]
    assert len(agent.commands()) == 1  # the retry was answered from the known result
    other_key = ops.post(url(CASE_A), json=COMMENT, headers={**headers, "Idempotency-Key": "x"})
    assert other_key.json()["result"]["command_id"] != first.json()["result"]["command_id"]
    no_key = [ops.post(url(CASE_A), json=COMMENT, headers=auth("operator")) for _ in range(2)]
    assert no_key[0].json()["result"]["command_id"] != no_key[1].json()["result"]["command_id"]


def test_idempotent_retry_after_a_late_answer_is_sent_again(
    ops: TestClient, auth: TokenFactory, agent: AgentPublisher
) -> None:
    headers = {**auth("operator"), "Idempotency-Key": "slow"}
    agent.answer = lambda c: None
    assert ops.post(url(CASE_A), json=COMMENT, headers=headers).status_code == 202
    agent.answer = lambda c: CommandResult(
        command_id=c.command_id,
        case_id=c.case_id,
        accepted=True,
        rule="already_applied",
        state=CaseState.DISPATCHED,
        version=4,
    )
    retry = ops.post(url(CASE_A), json=COMMENT, headers=headers)
    assert retry.status_code == 200 and retry.json()["result"]["rule"] == "already_applied"
    first, second = agent.commands()
    assert first.command_id == second.command_id


# role × action: (role, scope, case, body, expected status)
MATRIX = [
    ("operator", None, CASE_C, {"action": "dispatch", "department": "chengguan"}, 200),
    ("operator", None, CASE_A, {"action": "accept"}, 403),
    ("operator", None, CASE_B, {"action": "verify", "passed": True}, 200),
    ("admin", None, CASE_C, {"action": "reject", "reason": "无效"}, 200),
    ("leader", None, CASE_A, COMMENT, 200),
    ("leader", None, CASE_A, {"action": "escalate"}, 403),
    ("department", "chengguan", CASE_A, {"action": "accept"}, 200),
    ("department", "zhujian", CASE_A, {"action": "resolve", "note": "修好了"}, 200),
    ("department", "huanbao", CASE_A, {"action": "accept"}, 404),
    ("department", "chengguan", CASE_A, {"action": "dispatch"}, 403),
    ("department", "chengguan", CASE_C, COMMENT, 404),
    ("department", None, CASE_A, {"action": "accept"}, 403),
    ("grid_worker", GRID_B, CASE_B, {"action": "verify", "passed": True}, 200),
    ("grid_worker", GRID_B[:12], CASE_B, {"action": "rate", "score": 5}, 200),
    ("grid_worker", GRID_A, CASE_B, {"action": "verify", "passed": True}, 404),
    ("grid_worker", GRID_B, CASE_B, {"action": "resolve"}, 403),
    ("grid_worker", GRID_A, CASE_A, COMMENT, 200),
    ("system", "urn:x", CASE_A, COMMENT, 403),
]


@pytest.mark.parametrize(("role", "scope", "case_id", "body", "status"), MATRIX)
def test_role_matrix(
    ops: TestClient,
    auth: TokenFactory,
    agent: AgentPublisher,
    role: str,
    scope: str | None,
    case_id: str,
    body: dict[str, object],
    status: int,
) -> None:
    response = ops.post(url(case_id), json=body, headers=auth(role, scope=scope))
    assert response.status_code == status, response.text
    commands = agent.commands()
    assert len(commands) == (1 if status == 200 else 0)
    if commands:
        assert commands[0].role == role and commands[0].scope == scope


def test_department_result_hides_personal_data(ops: TestClient, auth: TokenFactory) -> None:
    response = ops.post(
        url(CASE_A), json={"action": "accept"}, headers=auth("department", scope="chengguan")
    )
    assert response.status_code == 200
    assert all("reporter" not in r for r in response.json()["case"]["reports"])


@pytest.mark.parametrize(
    ("case_id", "body", "field"),
    [
        (CASE_C, {"action": "dispatch", "department": "nobody"}, "body.department"),
        (CASE_A, {"action": "merge", "into": "110105001001-none"}, "body.into"),
        (CASE_A, {"action": "merge", "into": CASE_A}, "body.into"),
        (CASE_A, {"action": "verify"}, "body"),
        (CASE_A, {"action": "rate", "score": 6}, "body.score"),
        (CASE_A, {"action": "open"}, "body"),
        (CASE_A, {"action": "comment", "note": "x", "extra": 1}, "body.extra"),
    ],
)
def test_invalid_bodies_are_422(
    ops: TestClient,
    auth: TokenFactory,
    agent: AgentPublisher,
    case_id: str,
    body: dict[str, object],
    field: str,
) -> None:
    response = ops.post(url(case_id), json=body, headers=auth("operator"))
    assert response.status_code == 422, response.text
    assert field in [e["field"] for e in response.json()["errors"]]
    assert agent.commands() == []


def test_unknown_case_is_404(ops: TestClient, auth: TokenFactory, agent: AgentPublisher) -> None:
    for case_id in ("110105001001-nope", "short"):
        response = ops.post(url(case_id), json=COMMENT, headers=auth("operator"))
        assert response.status_code == 404
        assert response.json() == {"detail": "case not found"}
    assert agent.commands() == []


def test_agent_saying_the_case_does_not_exist_is_404(
    ops: TestClient, auth: TokenFactory, agent: AgentPublisher
) -> None:
    agent.answer = lambda c: CommandResult(
        command_id=c.command_id,
        case_id=c.case_id,
        accepted=False,
        rule="exists",
        reason="case does not exist",
    )
    assert ops.post(url(CASE_A), json=COMMENT, headers=auth("operator")).status_code == 404


def test_publish_failure_is_503(ops: TestClient, auth: TokenFactory, agent: AgentPublisher) -> None:
    agent.fail_with = RuntimeError("broker down")
    response = ops.post(url(CASE_A), json=COMMENT, headers=auth("operator"))
    assert response.status_code == 503 and response.headers["Retry-After"]
    assert agent.results.waiting == 0


def test_without_the_results_follower_actions_are_503(
    client: TestClient, auth: TokenFactory, engine: Engine
) -> None:
    seed(engine)
    assert client.post(url(CASE_A), json=COMMENT, headers=auth("operator")).status_code == 503


def test_openapi_documents_the_operations_routes(ops: TestClient) -> None:
    paths = ops.get("/openapi.json").json()["paths"]
    actions = paths["/api/v1/cases/{case_id}/actions"]["post"]
    assert {"200", "202", "404", "409", "429", "503"} <= set(actions["responses"])
    assert "idempotency-key" in {p["name"].lower() for p in actions["parameters"]}
    for path in (
        "/api/v1/media",
        "/api/v1/media/{media_id}",
        "/api/v1/me/tasks",
        "/api/v1/me/inbox",
        "/api/v1/stream/cases",
        "/api/v1/stats/queue",
        "/api/v1/stats/sla",
        "/api/v1/stats/hotspots",
        "/api/v1/stats/departments",
        "/api/v1/stats/grid-workers",
        "/api/v1/cases/{case_id}/commands/{command_id}",
    ):
        assert path in paths, path
    stream = paths["/api/v1/stream/cases"]["get"]["responses"]["200"]["content"]
    assert "text/event-stream" in stream
