"""The role × endpoint matrix: every operation of the OpenAPI document, called
by every kind of caller, is either allowed (the caller gets past sign-in and
the role check: any answer but 401/403) or refused (401 without a token, 403
for a role that may not) exactly as DESIGN.md §8 says — and no operation is
left out of the table. A revoked token is refused everywhere a token is needed.

Scopes are real (a grid worker of one community, a department, a system's
source); answers past the role check (404, 409, 422, 503...) are the route's
business, tested with the route."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from schemas.feedback import issue_token
from tests.support.security import attacked
from tests.support.seeded_gateway import CASE_A

ANON, GRID, OPER, DEPT, LEAD, ADMIN, SYS, O311 = (
    "anonymous",
    "grid_worker",
    "operator",
    "department",
    "leader",
    "admin",
    "system",
    "open311",
)
CALLERS = (ANON, GRID, OPER, DEPT, LEAD, ADMIN, SYS, O311)
EVERYONE = frozenset(CALLERS)
SIGNED_IN = frozenset({GRID, OPER, DEPT, LEAD, ADMIN, SYS})  # an open311 key opens no route
CASE_WORKERS = frozenset({GRID, OPER, DEPT, LEAD, ADMIN})
CENTRE_OR_DEPT = frozenset({OPER, DEPT, LEAD, ADMIN})
CENTRE = frozenset({OPER, LEAD, ADMIN})
SCOPES = {GRID: "990101001001", DEPT: "chengguan", SYS: "urn:matrix:system"}

# (method, OpenAPI path) -> who may call it (DESIGN.md §8).
ALLOWED: dict[tuple[str, str], frozenset[str]] = {
    ("POST", "/api/v1/reports"): frozenset({GRID, ADMIN}),
    ("GET", "/api/v1/reports/{report_id}"): frozenset({GRID, OPER, LEAD, ADMIN}),
    ("POST", "/api/v1/media"): frozenset({GRID, OPER, DEPT, ADMIN}),
    ("GET", "/api/v1/media/{media_id}"): SIGNED_IN,
    ("GET", "/api/v1/cases"): CENTRE_OR_DEPT,
    ("GET", "/api/v1/cases/{case_id}"): CASE_WORKERS,
    ("POST", "/api/v1/cases/{case_id}/actions"): CASE_WORKERS,
    ("POST", "/api/v1/cases/actions"): CASE_WORKERS,  # bulk; each case by the case policy
    ("GET", "/api/v1/cases/{case_id}/commands/{command_id}"): CASE_WORKERS,
    ("GET", "/api/v1/stream/cases"): CASE_WORKERS,
    ("GET", "/api/v1/me/profile"): SIGNED_IN,
    ("GET", "/api/v1/me/tasks"): frozenset({GRID, ADMIN}),
    ("GET", "/api/v1/me/inbox"): SIGNED_IN,
    ("POST", "/api/v1/me/inbox/{notification_id}/read"): SIGNED_IN,
    ("GET", "/api/v1/orders"): CENTRE_OR_DEPT,  # a department: its own orders
    ("GET", "/api/v1/extensions"): CENTRE_OR_DEPT,  # a department: its own requests
    ("GET", "/api/v1/search"): CENTRE_OR_DEPT,  # by phone: operators only, audited
    # Not discovery: the SLA calendar and district data in force, read by the
    # console after sign-in (DESIGN.md §8 lists the doors without a token).
    ("GET", "/api/v1/meta"): SIGNED_IN,
    ("GET", "/api/v1/categories"): SIGNED_IN,
    ("GET", "/api/v1/grids"): SIGNED_IN,
    ("GET", "/api/v1/departments"): SIGNED_IN,
    ("GET", "/api/v1/stats/queue"): CENTRE_OR_DEPT,
    ("GET", "/api/v1/stats/sla"): CENTRE_OR_DEPT,
    ("GET", "/api/v1/stats/hotspots"): CENTRE,
    ("GET", "/api/v1/stats/departments"): CENTRE_OR_DEPT,
    ("GET", "/api/v1/stats/grid-workers"): CENTRE,
    ("GET", "/api/v1/stats/areas"): CENTRE,
    ("GET", "/api/v1/stats/windows"): CENTRE,
    # 三公开: the public figures, for anyone (counted per address).
    ("GET", "/api/v1/public/names"): EVERYONE,
    ("GET", "/api/v1/public/scorecards"): EVERYONE,
    ("GET", "/api/v1/public/counts"): EVERYONE,
    ("GET", "/api/v1/public/stories"): EVERYONE,
    ("GET", "/api/v1/public/bulletin.pdf"): EVERYONE,
    # A reporter's feedback link: the signed token in the path is the credential,
    # a bearer token neither needed nor used (test_feedback_links_answer_to_the_link).
    ("GET", "/api/v1/feedback/{token}"): EVERYONE,
    ("POST", "/api/v1/feedback/{token}"): EVERYONE,
    ("GET", "/api/v1/exports/cases.csv"): CENTRE_OR_DEPT,
    ("GET", "/api/v1/briefs/{day}"): CENTRE,
    ("POST", "/api/v1/events"): frozenset({SYS, ADMIN}),
    ("POST", "/api/v1/cap"): frozenset({SYS, ADMIN}),
    ("GET", "/open311/v2/discovery.{format}"): EVERYONE,
    ("GET", "/open311/v2/services.{format}"): EVERYONE,
    ("GET", "/open311/v2/services/{service_code}.{format}"): EVERYONE,
    ("POST", "/open311/v2/requests.{format}"): frozenset({O311, SYS, GRID, ADMIN}),
    ("GET", "/open311/v2/requests.{format}"): EVERYONE,
    ("GET", "/open311/v2/requests/{service_request_id}.{format}"): EVERYONE,
    ("GET", "/open311/v2/tokens/{token}.{format}"): EVERYONE,
    ("GET", "/api/v1/admin/webhooks"): frozenset({ADMIN}),
    ("POST", "/api/v1/admin/webhooks"): frozenset({ADMIN}),
    ("GET", "/api/v1/admin/webhooks/{subscription_id}"): frozenset({ADMIN}),
    ("DELETE", "/api/v1/admin/webhooks/{subscription_id}"): frozenset({ADMIN}),
    ("POST", "/api/v1/admin/webhooks/{subscription_id}/secret"): frozenset({ADMIN}),
    ("GET", "/api/v1/admin/deliveries/{kind}"): frozenset({ADMIN}),
    ("POST", "/api/v1/admin/deliveries/{kind}/{delivery_id}/resend"): frozenset({ADMIN}),
    ("GET", "/api/v1/audit"): frozenset({LEAD, ADMIN}),
    ("GET", "/healthz"): EVERYONE,
    ("GET", "/readyz"): EVERYONE,
    ("GET", "/schemas/"): EVERYONE,
    ("GET", "/schemas/{name}.json"): EVERYONE,
}
PATH_VALUES = {
    "report_id": "rep-a1",
    "media_id": "0123456789abcdef0123456789abcdef",
    "case_id": CASE_A,
    "command_id": "c-1",
    "day": "2026-12-01",
    "format": "json",
    "service_code": "garbage",
    "service_request_id": CASE_A,
    "token": "rep-a1",
    "subscription_id": "s-1",
    "name": "report",
    "notification_id": "n-1",
    "kind": "webhook",
    "delivery_id": "1",
}
# Pages outside the OpenAPI document: the ones anyone may open, and the shells
# that hold no data (each figure on them is an /api/v1 call with a token).
PAGES = ("/public/", "/f/{token}", "/m/", "/console/", "/d/", "/reports/")
OPEN311_POST = ("POST", "/open311/v2/requests.{format}")
# A link for a real report, signed with a key that is not the hub's.
FORGED_LINK = issue_token("not-the-hubs-key", "rep-a1", datetime.now(UTC) + timedelta(days=30))


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    hub = attacked(Path(tmp_path_factory.mktemp("matrix")))
    # The live feed answers 503 here (not an endless stream): past the role check.
    app = create_app(replace(hub.deps, case_feed=None))
    tokens = {role: hub.token(role, SCOPES.get(role)) for role in CALLERS if role != ANON}
    revoked, record = hub.record(OPER)
    hub.store.revoke(record.id)
    link = issue_token(hub.deps.feedback_secret, "rep-a1", datetime.now(UTC) + timedelta(days=30))
    return {
        "app": app,
        "tokens": tokens,
        "revoked": revoked,
        "openapi": app.openapi(),
        "link": link,
    }


def operations(doc: dict[str, object]) -> set[tuple[str, str]]:
    paths = doc["paths"]
    assert isinstance(paths, dict)
    return {(method.upper(), path) for path, ops in paths.items() for method in ops}


def test_every_operation_of_the_openapi_document_is_in_the_table(matrix) -> None:  # type: ignore[no-untyped-def]
    listed = set(ALLOWED)
    documented = operations(matrix["openapi"])
    assert documented - listed == set(), "operations nobody decided about"
    assert listed - documented == set(), "the table names operations that do not exist"


def call(client: TestClient, method: str, path: str, token: str | None) -> int:
    url = path.format(**PATH_VALUES)
    if (method, path) == OPEN311_POST:  # the key goes in the form body there
        body = f"api_key={token}" if token else ""
        headers = {"content-type": "application/x-www-form-urlencoded"}
        return client.request(method, url, content=body, headers=headers).status_code
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.request(method, url, headers=headers).status_code


@pytest.mark.parametrize(("method", "path"), sorted(ALLOWED))
def test_each_cell_is_allowed_or_refused_as_designed(matrix, method: str, path: str) -> None:  # type: ignore[no-untyped-def]
    allowed = ALLOWED[(method, path)]
    wrong: list[str] = []
    with TestClient(matrix["app"]) as client:
        for caller in CALLERS:
            status = call(client, method, path, matrix["tokens"].get(caller))
            if caller in allowed:
                ok = status not in (401, 403)
            else:
                ok = status == (
                    403 if (method, path) == OPEN311_POST else 401 if caller == ANON else 403
                )
            if not ok:
                wrong.append(f"{caller}: {status}")
        if allowed != EVERYONE:  # a revoked token: refused wherever a token is needed
            status = call(client, method, path, matrix["revoked"])
            if status not in (401, 403):
                wrong.append(f"revoked: {status}")
    assert wrong == [], f"{method} {path}"


@pytest.mark.parametrize("page", PAGES)
def test_pages_open_for_anyone_and_hold_no_data(matrix, page: str) -> None:  # type: ignore[no-untyped-def]
    with TestClient(matrix["app"]) as client:
        answer = client.get(page.format(token=FORGED_LINK))
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    assert "Content-Security-Policy" in answer.headers


def test_feedback_links_answer_to_the_link_not_to_a_bearer(matrix) -> None:  # type: ignore[no-untyped-def]
    """A forged or unknown link is 404 whoever calls — an admin's token opens no
    one's feedback — and a valid link works with no token at all."""
    with TestClient(matrix["app"]) as client:
        for caller in CALLERS:
            token = matrix["tokens"].get(caller)
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            for method, body in (("GET", None), ("POST", {"score": 1})):
                answer = client.request(
                    method, f"/api/v1/feedback/{FORGED_LINK}", json=body, headers=headers
                )
                assert answer.status_code == 404, (caller, method, answer.status_code)
        valid = client.get(f"/api/v1/feedback/{matrix['link']}")
        assert valid.status_code == 200, valid.text
        assert valid.json()["status"]["en"]  # the case in plain words
