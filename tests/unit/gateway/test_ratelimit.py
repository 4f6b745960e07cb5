"""Rate limits on the ``limits`` library: per role (per principal), per address
for anonymous reads and failed sign-ins, uploads, SSE slots; 429 with Retry-After."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from gateway.app import create_app
from gateway.deps import GatewayDeps
from gateway.ratelimit import (
    ANONYMOUS,
    DEFAULT_LIMITS,
    FAILED_AUTH,
    LimitPolicy,
    RateLimits,
    SteadyMemoryStorage,
    StreamSlots,
    retry_after,
)
from tests.support.gateway import TokenFactory
from tests.support.seeded_gateway import case_work_deps


def test_a_key_is_limited_and_others_are_not() -> None:
    limits = RateLimits(LimitPolicy({"operator": "3/minute"}))
    assert [limits.hit("operator", "p1") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limits.hit("operator", "p1")
    assert 1.0 <= wait <= 60.0
    assert limits.hit("operator", "p2") == 0.0
    assert limits.test("operator", "p1") > 0  # testing counts nothing, and says so


def test_counting_starts_no_thread_per_request(monkeypatch: pytest.MonkeyPatch) -> None:
    """Upstream's memory storage started a timer thread every ~10 ms of traffic, each
    start blocking the gateway's event loop; here one sweeper expires old windows."""
    limits = RateLimits(LimitPolicy({"operator": "1000/second"}))
    # Upstream's storage starts one timer as it is made: once that has ended, its
    # next hit would start another.
    limits._limiter.storage.timer.join(timeout=5)
    starts: list[str] = []
    real_start = threading.Thread.start

    def counted(thread: threading.Thread) -> None:
        starts.append(thread.name)
        real_start(thread)

    monkeypatch.setattr(threading.Thread, "start", counted)
    for n in range(200):
        assert limits.hit("operator", f"p{n % 7}") == 0.0
    assert starts == []


def test_the_sweeper_expires_old_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(SteadyMemoryStorage, "SWEEP_SECONDS", 0.05)
    limits = RateLimits(LimitPolicy({"operator": "2/second"}))
    limits.hit("operator", "p1")
    storage = limits._limiter.storage
    assert isinstance(storage, SteadyMemoryStorage) and any(storage.events.values())
    deadline = time.monotonic() + 5
    while any(storage.events.values()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(storage.events.values())  # the one-second window expired and was swept


def test_every_role_has_a_default_that_limits() -> None:
    limits = RateLimits()
    for key in ("grid_worker", "operator", "department", "leader", "admin", "system"):
        assert limits.describe(key), key
    assert "per 1 minute" in limits.describe(FAILED_AUTH)
    assert set(DEFAULT_LIMITS) >= {ANONYMOUS, FAILED_AUTH}


def test_a_share_divides_each_limit_between_processes() -> None:
    shared = RateLimits(LimitPolicy({"operator": "10/minute"}, sse_streams=4), share=2)
    assert [shared.hit("operator", "p") for _ in range(5)] == [0.0] * 5
    assert shared.hit("operator", "p") > 0
    assert shared.streams.limit == 2


def test_a_cost_counts_bytes_against_the_upload_quota() -> None:
    limits = RateLimits(LimitPolicy(upload_bytes_per_day=1000))
    assert limits.hit("upload_bytes", "p", 600) == 0.0
    assert limits.hit("upload_bytes", "p", 600) > 0  # would pass 1000: refused, not counted
    assert limits.hit("upload_bytes", "p", 400) == 0.0


def test_a_bad_limit_string_is_named() -> None:
    with pytest.raises(ValueError, match="system"):
        RateLimits(LimitPolicy({"system": "lots"}))


def test_stream_slots() -> None:
    slots = StreamSlots(2)
    assert slots.acquire("a") and slots.acquire("a")
    assert not slots.acquire("a")
    assert slots.acquire("b")
    slots.release("a")
    assert slots.acquire("a")
    assert slots.held("a") == 2


def test_retry_after_is_whole_seconds() -> None:
    assert [retry_after(s) for s in (0.01, 1.0, 1.2)] == ["1", "1", "2"]


def test_429_with_retry_after_per_principal(
    deps: GatewayDeps, engine: Engine, tmp_path: Path, auth: TokenFactory
) -> None:
    limits = RateLimits(LimitPolicy({"operator": "3/minute"}))
    app = create_app(case_work_deps(deps, engine, tmp_path, rate_limits=limits))
    first, second = auth("operator"), auth("operator")
    with TestClient(app) as client:
        codes = [client.get("/api/v1/cases", headers=first).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        limited = client.get("/api/v1/stats/queue", headers=first)  # every route shares it
        assert limited.status_code == 429
        assert int(limited.headers["Retry-After"]) >= 1
        assert "rate limit" in limited.json()["detail"]
        assert client.get("/api/v1/cases", headers=second).status_code == 200
        assert client.get("/healthz").status_code == 200
