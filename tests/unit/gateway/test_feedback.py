"""/f/{token} and /api/v1/feedback/{token}: the reporter's status in plain words,
one rating once the case is resolved, sent to the case agent as the reporter."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from gateway.app import create_app
from gateway.deps import GatewayDeps
from gateway.publisher import InMemoryPublisher
from schemas.cases import CaseCommand, CaseEventType, CaseState
from schemas.feedback import issue_token
from schemas.policy import REPORTER
from sinks.feedback import FeedbackStore
from sinks.writer import CaseProjectionWriter
from tests.support.cases import CaseStory, make_report

SECRET = "feedback-secret-for-tests"
CASE = "990101001001-c1"
REPORT = "r-feedback-1"


def _link(report_id: str = REPORT, days: int = 30) -> str:
    return issue_token(SECRET, report_id, datetime.now(UTC) + timedelta(days=days))


@pytest.fixture
def story() -> CaseStory:
    report = make_report(REPORT, grid_code="990101001001001", category="road_damage")
    return CaseStory.open(CASE, report=report)


@pytest.fixture
def hub(deps: GatewayDeps, engine: Engine) -> Iterator[TestClient]:
    app = create_app(replace(deps, feedback=FeedbackStore(engine), feedback_secret=SECRET))
    with TestClient(app) as client:
        yield client


def test_the_page_is_served_without_referrer_or_cache(hub: TestClient) -> None:
    page = hub.get(f"/f/{_link()}")
    assert page.status_code == 200 and "feedback.js" in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cache-control"] == "no-store"


def test_status_in_plain_words_then_one_rating(
    hub: TestClient, engine: Engine, story: CaseStory, publisher: InMemoryPublisher
) -> None:
    writer = CaseProjectionWriter(engine)
    writer.write(list(story.events))
    token = _link()
    status = hub.get(f"/api/v1/feedback/{token}").json()
    assert status["state"] == "open" and status["status"]["zh"] == "已受理，正在分派"
    assert status["category"]["name_zh"] == "道路破损" and status["street"]
    assert status["rateable"] is False
    assert hub.post(f"/api/v1/feedback/{token}", json={"score": 5}).status_code == 409

    writer.write([story.dispatch(), story.resolve()])
    assert hub.get(f"/api/v1/feedback/{token}").json()["rateable"] is True
    rated = hub.post(f"/api/v1/feedback/{token}", json={"score": 1, "comment": "没修好"})
    assert rated.status_code == 202 and rated.json() == {"rated": True, "score": 1, "low": True}
    (record,) = publisher.on("test.gridhub.case-commands")
    command = CaseCommand.model_validate(orjson.loads(record.value))
    assert command.case_id == CASE and command.role == REPORTER and command.scope == REPORT
    assert command.actor == f"reporter:{REPORT}" and command.command_id == f"feedback:{REPORT}"
    assert command.body.model_dump()["score"] == 1
    assert command.body.model_dump()["note"] == "没修好"

    again = hub.post(f"/api/v1/feedback/{token}", json={"score": 5})
    assert again.status_code == 409
    after = hub.get(f"/api/v1/feedback/{token}").json()
    assert after["rated"] is True and after["score"] == 1 and after["rateable"] is False


def test_forged_and_expired_links_find_nothing(hub: TestClient) -> None:
    forged = issue_token("another-secret", REPORT, datetime.now(UTC) + timedelta(days=1))
    assert hub.get(f"/api/v1/feedback/{forged}").json()["detail"] == "no such link"
    expired = issue_token(SECRET, REPORT, datetime.now(UTC) - timedelta(seconds=1))
    assert hub.get(f"/api/v1/feedback/{expired}").json()["detail"] == "this link has expired"


def test_a_report_still_in_the_pipeline_is_received(hub: TestClient) -> None:
    status = hub.get(f"/api/v1/feedback/{_link('r-not-yet')}").json()
    assert status["state"] == "received" and status["rateable"] is False


def test_a_bus_failure_undoes_the_rating(
    hub: TestClient, engine: Engine, story: CaseStory, publisher: InMemoryPublisher
) -> None:
    CaseProjectionWriter(engine).write([*story.events, story.dispatch(), story.resolve()])
    publisher.fail_with = RuntimeError("broker down")
    token = _link()
    assert hub.post(f"/api/v1/feedback/{token}", json={"score": 4}).status_code == 503
    publisher.fail_with = None
    assert hub.post(f"/api/v1/feedback/{token}", json={"score": 4}).status_code == 202


def test_without_a_secret_feedback_is_unavailable(client: TestClient) -> None:
    assert client.get(f"/api/v1/feedback/{_link()}").status_code == 503


def test_a_report_merged_away_is_followed_to_its_case(
    hub: TestClient, engine: Engine, story: CaseStory
) -> None:
    other = CaseStory.open("990101001001-c2", report=make_report("r-other"))
    merged = story.step(CaseEventType.MERGED, state=CaseState.MERGED, merged_into=other.case.id)
    CaseProjectionWriter(engine).write([*story.events[:1], merged, *other.events])
    status = hub.get(f"/api/v1/feedback/{_link()}").json()
    assert status["state"] == "open"  # the case it was merged into
