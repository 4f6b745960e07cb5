"""M6 — an Open311 api_key stays out of URLs and logs and opens nothing else;
M8 — rate limits that limit: per role, per address for anonymous reads and
failed sign-ins, concurrent streams, uploads; always 429 with Retry-After."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from gateway.ratelimit import LimitPolicy, RateLimits
from gridhub.logging import RedactSecrets
from schemas.feedback import issue_token
from tests.support.images import make_png
from tests.support.security import Attacked, attacked
from tests.support.served import Server

FORM = {"content-type": "application/x-www-form-urlencoded"}
REQUEST = "service_code=garbage&address_id=990101001001001&description=x"


def test_m6_an_api_key_in_the_url_is_refused(hub: Attacked, client: TestClient) -> None:
    key = hub.token("open311", name="12345 hotline client")
    in_url = client.post(f"/open311/v2/requests.json?api_key={key}", content=REQUEST, headers=FORM)
    assert in_url.status_code == 400 and "form body" in in_url.text
    assert hub.publisher.records == []
    in_form = client.post(
        "/open311/v2/requests.json", content=f"api_key={key}&{REQUEST}", headers=FORM
    )
    assert in_form.status_code == 200, in_form.text


def test_m6_an_open311_key_can_only_file_requests(hub: Attacked, client: TestClient) -> None:
    key = {"Authorization": f"Bearer {hub.token('open311')}"}
    for method, path in (
        ("GET", "/api/v1/categories"),
        ("GET", "/api/v1/me/profile"),
        ("GET", "/api/v1/cases"),
        ("POST", "/api/v1/reports"),
        ("GET", "/api/v1/stream/cases"),
    ):
        assert client.request(method, path, headers=key).status_code == 403, path


def test_m6_secrets_never_reach_a_log_line() -> None:
    token = "gh_vUvZXc7B6KjxHPv5s_Pya9tSRyixJVeYtSLb6XQjbJA"
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/1.1" %d',
        ("127.0.0.1:39130", "POST", f"/open311/v2/requests.json?api_key={token}", 200),
        None,
    )
    RedactSecrets().filter(record)
    line = record.getMessage()
    assert token not in line and "api_key=[REDACTED]" in line
    for text in (f"Authorization: Bearer {token}", "postgresql://app:s3cr3t@db/gridhub"):
        record = logging.LogRecord("x", logging.INFO, __file__, 1, text, None, None)
        RedactSecrets().filter(record)
        assert token not in record.getMessage() and "s3cr3t" not in record.getMessage()


def test_m6_feedback_links_never_reach_a_log_line() -> None:
    """A feedback link's token is the reporter's credential, as a bearer token is
    the caller's: the access log keeps the route, not the token."""
    link = issue_token("a-key-of-the-hub", "rep-a1", datetime.now(UTC) + timedelta(days=30))
    for path in (f"/f/{link}", f"/api/v1/feedback/{link}", f"/api/v1/feedback/{link}?lang=en"):
        record = logging.LogRecord(
            "uvicorn.access",
            logging.INFO,
            __file__,
            1,
            '%s - "%s %s HTTP/1.1" %d',
            ("127.0.0.1:39130", "GET", path, 200),
            None,
        )
        RedactSecrets().filter(record)
        line = record.getMessage()
        assert link not in line and "[REDACTED]" in line, line
        assert path.split(link)[0] in line  # which door was used stays readable
    sent = f"您反映的问题已处理，请评价：https://hub.district.example/f/{link} 回复T退订"
    record = logging.LogRecord("sinks.sms", logging.WARNING, __file__, 1, sent, None, None)
    RedactSecrets().filter(record)
    assert link not in record.getMessage()  # nor the worker's line about an SMS


# Every door that needs no token; the forged link is answered 404 while it lasts.
ANONYMOUS_DOORS = (
    "/public/",
    "/api/v1/public/names",
    "/api/v1/public/scorecards",
    "/open311/v2/requests.json",
    "/f/{link}",
    "/api/v1/feedback/{link}",
)


@pytest.mark.parametrize("door", ANONYMOUS_DOORS)
def test_m8_anonymous_doors_are_limited_per_address(tmp_path: Path, door: str) -> None:
    """A flood from one address through any door without a token meets the
    production limit (bursts of 20, 120 a minute): 429 with Retry-After, for
    every such door of that address, while another address is still served."""
    hub = attacked(tmp_path, rate_limits=RateLimits())
    forged = issue_token("not-the-hubs-key", "rep-a1", datetime.now(UTC) + timedelta(days=1))
    url = door.format(link=forged)
    with TestClient(hub.app) as client:
        codes = [client.get(url).status_code for _ in range(130)]
        assert 429 not in codes[:20], codes[:20]  # a visit's burst goes through
        assert codes[-1] == 429, codes[-10:]  # 120 a minute at most, however slow the box
        flooded = client.get(url)
        assert flooded.status_code == 429 and int(flooded.headers["Retry-After"]) >= 1
        for other in ANONYMOUS_DOORS:  # one budget per address, whichever door
            assert client.get(other.format(link=forged)).status_code == 429, other
    with TestClient(hub.app, client=("198.51.100.7", 50000)) as neighbour:
        assert neighbour.get(url).status_code != 429
    hub.engine.dispose()


def test_m8_each_role_has_a_limit_that_limits(tmp_path: Path) -> None:
    hub = attacked(tmp_path, rate_limits=RateLimits())
    with TestClient(hub.app) as client:
        greedy = hub.bearer("operator")
        codes = [client.get("/api/v1/categories", headers=greedy).status_code for _ in range(70)]
        assert codes[:60] == [200] * 60 and 429 in codes  # people: bursts of 60, 20/s on average
        limited = client.get("/api/v1/categories", headers=greedy)
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
        assert client.get("/api/v1/categories", headers=hub.bearer("operator")).status_code == 200
    hub.engine.dispose()


def test_m8_failed_sign_ins_are_limited_per_address_before_any_lookup(tmp_path: Path) -> None:
    hub = attacked(tmp_path, rate_limits=RateLimits(LimitPolicy({"failed_auth": "10/minute"})))
    with TestClient(hub.app) as client:
        guesses = [
            client.get("/api/v1/cases", headers={"Authorization": f"Bearer gh_guess{n:04d}"})
            for n in range(12)
        ]
        assert [g.status_code for g in guesses[:10]] == [401] * 10
        assert guesses[10].status_code == 429 and guesses[10].headers["Retry-After"]
        no_token = client.get("/api/v1/cases")
        assert no_token.status_code == 429  # the address is over its budget
    hub.engine.dispose()


def test_m8_concurrent_streams_per_principal_are_capped(tmp_path: Path) -> None:
    hub = attacked(tmp_path, rate_limits=RateLimits(LimitPolicy(sse_streams=2)))
    server = Server(hub.deps)
    server.start()
    token = hub.bearer("operator")
    try:
        with (
            httpx.Client(base_url=server.base, timeout=10) as http,
            http.stream("GET", "/api/v1/stream/cases", headers=token) as one,
            http.stream("GET", "/api/v1/stream/cases", headers=token) as two,
        ):
            assert (one.status_code, two.status_code) == (200, 200)
            third = http.get("/api/v1/stream/cases", headers=token)
            assert third.status_code == 429 and third.headers["Retry-After"]
    finally:
        server.stop()
        hub.engine.dispose()


def test_m8_uploads_have_a_daily_quota(tmp_path: Path) -> None:
    hub = attacked(tmp_path, rate_limits=RateLimits(LimitPolicy(upload_files_per_day=3)))
    with TestClient(hub.app) as client:
        worker = hub.bearer("grid_worker", "990101001001")
        codes = [
            client.post(
                "/api/v1/media", files={"file": ("p.png", make_png(), "image/png")}, headers=worker
            ).status_code
            for _ in range(4)
        ]
        assert codes == [201, 201, 201, 429]
    hub.engine.dispose()
