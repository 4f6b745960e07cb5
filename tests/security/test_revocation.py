"""M1, M2 — a revoked token stops working everywhere within 5 s: while the
database is away, on an open SSE stream, and over the real revocation topic."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.revocations import KAFKA, DatabaseSweep, KafkaRevocations
from gridhub.cli.tokens import publish_revocations
from gridhub.settings import Settings
from schemas.revocations import Revocation
from schemas.topics import TopicNames
from sinks.tokens import CachedTokens, Revocations, TokenRecord
from tests.fixtures.worker import wait_until
from tests.support.gateway import report_body
from tests.support.security import attacked
from tests.support.served import SSE, Server

BOUND_S = 5.0  # DESIGN.md §8


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_m1_a_token_revoked_during_a_database_outage_is_refused(tmp_path: Path) -> None:
    clock = Clock()
    revocations = Revocations(fresh_seconds=3.0, clock=clock)
    hub = attacked(tmp_path)
    tokens = CachedTokens(hub.store, revocations, clock=clock)
    app = create_app(replace(hub.deps, tokens=tokens))
    fired, fired_record = hub.record("grid_worker", "990101001001")
    kept = hub.token("grid_worker", "990101001001")
    never = hub.token("grid_worker", "990101001001")
    with TestClient(app) as client:
        for token in (fired, kept):
            ok = client.post(
                "/api/v1/reports", json=report_body(), headers={"Authorization": f"Bearer {token}"}
            )
            assert ok.status_code == 202, ok.text
        # The database goes away (a saturated pool counts the same).
        hub.engine.dispose()
        (tmp_path / "attacked.db").rename(tmp_path / "attacked.db.away")
        clock.now += 600
        # Revoked meanwhile: `gridhub token revoke` publishes even with the
        # database away, and the follower confirms the list.
        revocations.revoke_token(fired_record.id)
        revocations.confirm(KAFKA)

        def post(token: str) -> int:
            headers = {"Authorization": f"Bearer {token}"}
            return client.post("/api/v1/reports", json=report_body(), headers=headers).status_code

        assert post(fired) == 401  # revoked: refused, outage or not
        assert post(kept) == 202  # phones keep filing reports through the outage
        assert post(never) == 503  # a token this gateway cannot vouch for: refused
        clock.now += 3.0  # neither the database nor the topic can vouch any more
        assert post(kept) == 503
    (tmp_path / "attacked.db.away").rename(tmp_path / "attacked.db")


def test_m2_an_open_stream_ends_when_its_token_is_revoked(tmp_path: Path) -> None:
    """Revoked in the database only (the topic missed it): the sweep still ends
    the stream within the bound."""
    hub = attacked(tmp_path)
    assert isinstance(hub.deps.tokens, CachedTokens)
    sweep = DatabaseSweep(hub.store, hub.revocations, interval=0.5)
    deps = replace(hub.deps, revocation_followers=(sweep,))
    server = Server(deps)
    server.start()
    plaintext, record = hub.record("leader")
    other = hub.token("leader")
    try:
        with httpx.Client(base_url=server.base, timeout=10) as http:
            headers = {"Authorization": f"Bearer {plaintext}"}
            with http.stream("GET", "/api/v1/stream/cases", headers=headers) as stream:
                assert stream.status_code == 200
                assert hub.store.revoke(record.id)
                revoked_at = time.monotonic()
                ending = SSE(stream).next(1)[0]
                assert ending.get("event") == "end" and '"token"' in ending["data"]
                assert time.monotonic() - revoked_at < BOUND_S
            wait_until(lambda: hub.revocations.revoked(record), BOUND_S, "the sweep")
            assert http.get("/api/v1/cases", headers=headers).status_code == 401
            assert (
                http.get("/api/v1/cases", headers={"Authorization": f"Bearer {other}"}).status_code
                == 200
            )
    finally:
        server.stop()
        hub.engine.dispose()


@pytest.mark.kafka
async def test_m1_a_revocation_reaches_every_gateway_over_the_topic(
    kafka_bootstrap: str, kafka_topics: TopicNames, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command line publishes; two gateway followers (two processes) hear it."""
    followers = [Revocations(), Revocations()]
    running = [
        KafkaRevocations(kafka_bootstrap, kafka_topics.token_revocations, r, poll_seconds=0.2)
        for r in followers
    ]
    for follower in running:
        await follower.start()
    try:
        assert all(r.fresh() for r in followers)  # the (empty) history read: vouched for
        monkeypatch.setenv("GRIDHUB_KAFKA_BOOTSTRAP", kafka_bootstrap)
        monkeypatch.setenv(
            "GRIDHUB_TOPIC_PREFIX", kafka_topics.intake.removesuffix("gridhub.intake")
        )
        settings = Settings()
        started = time.monotonic()
        error = publish_revocations(
            settings,
            [Revocation("token", "t-fired", _now()), Revocation("principal", "p-gone", _now())],
        )
        assert error is None
        record = _record("t-fired", "p-any")
        other = _record("t-other", "p-gone")
        deadline = time.monotonic() + BOUND_S
        while not all(r.revoked(record) and r.revoked(other) for r in followers):
            assert time.monotonic() < deadline, "a gateway did not hear the revocation in time"
            await _tick()
        assert time.monotonic() - started < BOUND_S
        # A gateway started later reads the whole history before its first request.
        late = Revocations()
        newcomer = KafkaRevocations(kafka_bootstrap, kafka_topics.token_revocations, late)
        await newcomer.start()
        try:
            assert late.revoked(record) and late.revoked(other) and late.fresh()
        finally:
            await newcomer.stop()
    finally:
        for follower in running:
            await follower.stop()


def test_the_database_sweep_confirms_the_list(tmp_path: Path) -> None:
    hub = attacked(tmp_path)
    revocations = Revocations()
    sweep = DatabaseSweep(hub.store, revocations)
    _, record = hub.record("operator")
    hub.store.revoke(record.id)
    asyncio.run(sweep.sweep())
    assert revocations.revoked(record) and revocations.fresh()
    hub.engine.dispose()


def _now() -> datetime:
    return datetime.now(UTC)


def _record(token_id: str, principal_id: str) -> TokenRecord:
    return TokenRecord(token_id, principal_id, "x", "operator", None, _now(), None)


async def _tick() -> None:
    await asyncio.sleep(0.05)
