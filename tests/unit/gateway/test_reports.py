from __future__ import annotations

import uuid

from fastapi.testclient import TestClient

from gateway.deps import GatewayDeps
from gateway.publisher import InMemoryPublisher
from routing.district import District
from routing.geo import wgs84_to_gcj02
from routing.reports import report_of_submission
from schemas.envelope import REPORT_SUBMITTED, Envelope
from schemas.reports import Report, ReportSubmission
from sinks.tokens import TokenStore
from tests.support.demo_district import CATEGORY, COMMUNITY, GRID, INSIDE, OTHER_GRID
from tests.support.gateway import TokenFactory, principal_of, report_body

URL = "/api/v1/reports"


def test_accepted_report_goes_placed_to_the_reports_topic_keyed_by_community(
    client: TestClient,
    auth: TokenFactory,
    publisher: InMemoryPublisher,
    deps: GatewayDeps,
    tokens: TokenStore,
) -> None:
    worker = auth("grid_worker", name="王网格")
    response = client.post(URL, json=report_body(), headers=worker)

    assert response.status_code == 202, response.text
    body = response.json()
    report_id = body["report_id"]
    assert body == {
        "report_id": report_id,
        "status_url": f"/api/v1/reports/{report_id}",
        "status": "accepted",
    }
    [record] = publisher.records
    assert record.topic == deps.topics.reports == "test.gridhub.reports"
    report = Report.model_validate_json(record.value)
    assert record.key == report.community_code.encode() == GRID[:12].encode()
    assert report.id == report.source_event_id == report_id
    assert (report.source, report.source_type) == ("urn:gridhub:gateway", REPORT_SUBMITTED)
    assert report.grid_code == GRID and report.category == CATEGORY
    assert report.submitted_by == principal_of(tokens, worker)  # the id, not the name
    assert report.reporter is not None and report.reporter.phone == "13800000000"
    assert report.received_at == report.occurred_at  # no occurred_at given: the time received
    assert set(report.attributes) == {"trace_id"}


def test_the_gateway_builds_the_report_the_intake_stage_would(
    client: TestClient,
    auth: TokenFactory,
    publisher: InMemoryPublisher,
    district: District,
    tokens: TokenStore,
) -> None:
    """One rule, one place: the report published is exactly what the worker builds
    from the same submission in a ``report.submitted`` event."""
    body = report_body(occurred_at="2026-11-26T08:40:00+08:00", media=["0" * 32])
    worker = auth("grid_worker", name="王网格")
    client.post(URL, json=body, headers=worker)
    report = Report.model_validate_json(publisher.records[0].value)
    event = Envelope(
        id=report.id,
        source=report.source,
        type=REPORT_SUBMITTED,
        time=report.received_at,
        submittedby=principal_of(tokens, worker),
        traceparent=f"00-{report.attributes['trace_id']}-00f067aa0ba902b7-01",
    )
    submission = ReportSubmission.model_validate({**body, "report_id": report.id})
    placement = district.place(submission.location, submission.grid_code)
    assert report == report_of_submission(event, submission, placement, report.received_at)


def test_same_idempotency_key_gives_the_same_report_id(
    client: TestClient, auth: TokenFactory, publisher: InMemoryPublisher
) -> None:
    headers = {**auth("grid_worker"), "Idempotency-Key": "phone-42-attempt"}
    first = client.post(URL, json=report_body(), headers=headers)
    second = client.post(URL, json=report_body(), headers=headers)
    other = client.post(URL, json=report_body(), headers={**headers, "Idempotency-Key": "x"})

    assert first.status_code == second.status_code == 202
    assert first.json() == second.json()
    assert other.json()["report_id"] != first.json()["report_id"]
    ids = [Report.model_validate_json(r.value).id for r in publisher.records[:2]]
    assert ids == [first.json()["report_id"]] * 2


def test_idempotency_key_is_per_token(client: TestClient, auth: TokenFactory) -> None:
    key = {"Idempotency-Key": "same"}
    one = client.post(URL, json=report_body(), headers={**auth("grid_worker"), **key})
    two = client.post(URL, json=report_body(), headers={**auth("grid_worker"), **key})
    assert one.json()["report_id"] != two.json()["report_id"]


def test_body_report_id_wins_over_idempotency_key(client: TestClient, auth: TokenFactory) -> None:
    chosen = str(uuid.uuid4())
    headers = {**auth("grid_worker"), "Idempotency-Key": "ignored"}
    response = client.post(URL, json=report_body(report_id=chosen), headers=headers)
    assert response.status_code == 202
    assert response.json()["report_id"] == chosen


def test_without_key_or_id_each_post_is_a_new_report(
    client: TestClient, auth: TokenFactory
) -> None:
    headers = auth("grid_worker")
    ids = {client.post(URL, json=report_body(), headers=headers).json()["report_id"] for _ in "ab"}
    assert len(ids) == 2


def test_idempotency_key_longer_than_128_is_refused(client: TestClient, auth: TokenFactory) -> None:
    headers = {**auth("grid_worker"), "Idempotency-Key": "k" * 129}
    response = client.post(URL, json=report_body(), headers=headers)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "header.idempotency-key"


def test_unknown_category_is_422_naming_the_field(client: TestClient, auth: TokenFactory) -> None:
    response = client.post(
        URL, json=report_body(category="no_such_thing"), headers=auth("grid_worker")
    )
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["field"] == "body.category"
    assert "no_such_thing" in error["message"]


def test_location_outside_the_district_is_422(
    client: TestClient, auth: TokenFactory, publisher: InMemoryPublisher
) -> None:
    body = report_body(location={"lat": 31.23, "lon": 121.47})
    response = client.post(URL, json=body, headers=auth("grid_worker"))
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["field"] == "body.location"
    assert "outside every grid" in error["message"]
    assert publisher.records == []


def test_gcj02_location_is_converted_before_the_grid_lookup(
    client: TestClient, auth: TokenFactory, publisher: InMemoryPublisher
) -> None:
    lat, lon = wgs84_to_gcj02(INSIDE["lat"], INSIDE["lon"])
    body = report_body(location={"lat": lat, "lon": lon, "crs": "gcj02"})
    # The GCJ-02 offset is several hundred metres: taken as WGS84 it would miss the grid.
    response = client.post(URL, json=body, headers=auth("grid_worker", scope=GRID))
    assert response.status_code == 202, response.text
    report = Report.model_validate_json(publisher.records[0].value)
    assert report.grid_code == GRID
    assert report.location is not None and report.location.crs == "wgs84"
    assert abs(report.location.lat - INSIDE["lat"]) < 1e-5


def test_unknown_grid_code_is_422(client: TestClient, auth: TokenFactory) -> None:
    body = report_body(location=None, grid_code="990101009009009")
    response = client.post(URL, json=body, headers=auth("grid_worker"))
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["body.grid_code"]


def test_every_district_problem_is_named_at_once(client: TestClient, auth: TokenFactory) -> None:
    body = report_body(category="nope", location={"lat": 1.0, "lon": 1.0})
    response = client.post(URL, json=body, headers=auth("grid_worker"))
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {"body.category", "body.location"}


def test_grid_code_alone_is_enough(client: TestClient, auth: TokenFactory) -> None:
    body = report_body(location=None, grid_code=OTHER_GRID)
    assert client.post(URL, json=body, headers=auth("grid_worker")).status_code == 202


def test_scoped_grid_worker_reports_only_inside_its_scope(
    client: TestClient, auth: TokenFactory, publisher: InMemoryPublisher
) -> None:
    in_grid = auth("grid_worker", scope=GRID)
    assert client.post(URL, json=report_body(), headers=in_grid).status_code == 202
    outside = client.post(
        URL, json=report_body(location=None, grid_code=OTHER_GRID), headers=in_grid
    )
    assert outside.status_code == 403
    assert OTHER_GRID in outside.json()["detail"]
    in_community = auth("grid_worker", scope=COMMUNITY)
    body = report_body(location=None, grid_code=OTHER_GRID)
    assert client.post(URL, json=body, headers=in_community).status_code == 202
    assert len(publisher.records) == 2


def test_admin_may_report(client: TestClient, auth: TokenFactory) -> None:
    assert client.post(URL, json=report_body(), headers=auth("admin")).status_code == 202


def test_publisher_failure_is_503_with_a_clear_message(
    client: TestClient, auth: TokenFactory, publisher: InMemoryPublisher
) -> None:
    publisher.fail_with = ConnectionError("broker down")
    response = client.post(URL, json=report_body(), headers=auth("grid_worker"))
    assert response.status_code == 503
    assert "not accepted" in response.json()["detail"]
    assert response.headers["Retry-After"]


def test_report_not_yet_in_the_database_is_404(client: TestClient, auth: TokenFactory) -> None:
    response = client.get(f"{URL}/{uuid.uuid4()}", headers=auth("operator"))
    assert response.status_code == 404
    assert response.json() == {"detail": "report not found (it may still be in the pipeline)"}


def test_department_may_not_read_reports(client: TestClient, auth: TokenFactory) -> None:
    response = client.get(f"{URL}/{uuid.uuid4()}", headers=auth("department", scope="chengguan"))
    assert response.status_code == 403


def test_the_body_is_checked_like_any_route_checks_it(
    client: TestClient, auth: TokenFactory, publisher: InMemoryPublisher
) -> None:
    headers = auth("grid_worker")
    bad_type = client.post(URL, json=report_body(category=7), headers=headers)
    assert bad_type.status_code == 422
    assert [e["field"] for e in bad_type.json()["errors"]] == ["body.category"]
    nowhere = client.post(URL, json=report_body(location=None), headers=headers)
    assert nowhere.status_code == 422
    assert "location or grid_code is required" in nowhere.json()["errors"][0]["message"]
    for raw in (b"", b"{not json", b"[]"):
        response = client.post(
            URL, content=raw, headers={**headers, "Content-Type": "application/json"}
        )
        assert response.status_code == 422, raw
        assert response.json()["errors"][0]["field"].startswith("body")
    assert publisher.records == []


def test_the_caller_is_checked_before_the_body(client: TestClient, auth: TokenFactory) -> None:
    assert client.post(URL, content=b"{not json").status_code == 401
    response = client.post(URL, json={}, headers=auth("operator"))
    assert response.status_code == 403
    assert "grid_worker" in response.json()["detail"]


def test_a_body_that_is_not_utf8_is_a_422_not_a_crash(
    client: TestClient, auth: TokenFactory
) -> None:
    response = client.post(
        URL,
        content=b"\x80\xff{",
        headers={**auth("grid_worker"), "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body"
