"""Per-token rate limits: the token bucket, and 429 with Retry-After on every
authenticated route."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from gateway.app import create_app
from gateway.deps import GatewayDeps
from gateway.ratelimit import RateLimiter, retry_after
from tests.support.gateway import TokenFactory
from tests.support.seeded_gateway import case_work_deps


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_a_burst_then_the_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=2.0, burst=3, clock=clock)
    assert [limiter.acquire("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.acquire("a") == pytest.approx(0.5)
    assert limiter.acquire("b") == 0.0  # buckets are per key
    clock.now += 0.5
    assert limiter.acquire("a") == 0.0
    assert limiter.acquire("a") > 0
    clock.now += 100  # refills up to the burst, not beyond
    assert [limiter.acquire("a") for _ in range(4)][-1] > 0


def test_bucket_table_is_pruned() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=1.0, burst=1, clock=clock)
    for n in range(10_001):
        limiter.acquire(f"k{n}")
    clock.now += 5
    limiter.acquire("new")
    assert len(limiter._buckets) == 1


def test_retry_after_is_whole_seconds() -> None:
    assert [retry_after(s) for s in (0.01, 1.0, 1.2)] == ["1", "1", "2"]
    with pytest.raises(ValueError):
        RateLimiter(rate=0, burst=1)


def test_429_with_retry_after_per_token(
    deps: GatewayDeps, engine: Engine, tmp_path: Path, auth: TokenFactory
) -> None:
    limiter = RateLimiter(rate=0.5, burst=3)
    app = create_app(case_work_deps(deps, engine, tmp_path, rate_limiter=limiter))
    first, second = auth("operator"), auth("operator")
    with TestClient(app) as client:
        codes = [client.get("/api/v1/cases", headers=first).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        limited = client.get("/api/v1/stats/queue", headers=first)  # every route shares it
        assert limited.status_code == 429
        assert int(limited.headers["Retry-After"]) >= 1
        assert "rate limit" in limited.json()["detail"]
        assert client.get("/api/v1/cases", headers=second).status_code == 200
        assert client.get("/api/v1/cases").status_code == 401  # no token: nothing to count
        assert client.get("/healthz").status_code == 200
