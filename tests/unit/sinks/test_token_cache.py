"""The gateway's token cache: verified tokens are remembered for a few seconds,
so a revocation in the database bites within that bound; nothing else is cached."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from sinks.db import make_engine, upgrade
from sinks.tokens import CachedTokens, TokenStore


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountingStore(TokenStore):
    """A real store that counts its database lookups."""

    lookups = 0

    def verify(self, plaintext: str):  # type: ignore[no-untyped-def]
        self.lookups += 1
        return super().verify(plaintext)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'tokens.db'}"
    upgrade(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture
def store(engine: Engine) -> CountingStore:
    return CountingStore(engine, "s3cret")


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_a_verified_token_is_answered_from_memory_within_the_ttl(
    store: CountingStore, clock: Clock
) -> None:
    cache = CachedTokens(store, ttl_seconds=5.0, clock=clock)
    plaintext, record = store.create("grid_worker", "zhang")
    assert cache.remembered(plaintext) is None  # not verified yet
    assert cache.verify(plaintext) == record
    clock.now += 4.9
    assert cache.verify(plaintext) == record
    assert cache.remembered(plaintext) == record
    assert store.lookups == 1


def test_a_revoked_token_stops_working_once_its_entry_is_ttl_old(
    store: CountingStore, clock: Clock
) -> None:
    cache = CachedTokens(store, ttl_seconds=5.0, clock=clock)
    plaintext, record = store.create("operator", "leaver")
    assert cache.verify(plaintext) == record
    assert store.revoke(record.id)
    clock.now += 4.0
    assert cache.verify(plaintext) == record  # the documented bound: up to 5 s more
    clock.now += 1.0
    assert cache.remembered(plaintext) is None
    assert cache.verify(plaintext) is None
    assert cache.verify(plaintext) is None  # and stays refused
    assert store.lookups == 3


def test_unknown_tokens_are_not_remembered_so_a_new_token_works_at_once(
    store: CountingStore, clock: Clock
) -> None:
    cache = CachedTokens(store, clock=clock)
    assert cache.verify("gh_unknown") is None
    assert cache.verify("gh_unknown") is None
    assert store.lookups == 2
    assert cache.verify("not-a-gridhub-token") is None  # malformed: no lookup at all
    assert store.lookups == 2
    plaintext, record = store.create("leader", "new")
    assert cache.verify(plaintext) == record


def test_the_cache_keeps_at_most_max_entries_least_recently_used_first(
    store: CountingStore, clock: Clock
) -> None:
    cache = CachedTokens(store, max_entries=2, clock=clock)
    first, second, third = (store.create("grid_worker", f"w{n}")[0] for n in range(3))
    cache.verify(first)
    cache.verify(second)
    cache.verify(first)  # first is now the most recently used
    cache.verify(third)  # evicts second
    assert cache.remembered(first) is not None
    assert cache.remembered(third) is not None
    assert cache.remembered(second) is None


def test_a_zero_ttl_always_asks_the_database(store: CountingStore, clock: Clock) -> None:
    cache = CachedTokens(store, ttl_seconds=0, clock=clock)
    plaintext, _ = store.create("admin", "root")
    cache.verify(plaintext)
    cache.verify(plaintext)
    assert store.lookups == 2
    with pytest.raises(ValueError):
        CachedTokens(store, max_entries=0)


class AwayStore(CountingStore):
    """The database stops answering once ``away`` is set."""

    away = False

    def verify(self, plaintext: str):  # type: ignore[no-untyped-def]
        if self.away:
            from sqlalchemy.exc import OperationalError

            raise OperationalError("SELECT", {}, ConnectionRefusedError("connection refused"))
        return super().verify(plaintext)


def test_while_the_database_is_away_a_recently_verified_token_still_works(
    engine: Engine, clock: Clock
) -> None:
    """So a phone can file reports (which only need Kafka) during an outage."""
    from sqlalchemy.exc import OperationalError

    store = AwayStore(engine, "s3cret")
    cache = CachedTokens(store, ttl_seconds=5.0, clock=clock, stale_seconds=600.0)
    known, record = store.create("grid_worker", "zhang")
    unknown, _ = store.create("grid_worker", "never-seen")
    assert cache.verify(known) == record
    store.away = True
    clock.now += 60
    assert cache.verify(known) == record
    with pytest.raises(OperationalError):
        cache.verify(unknown)  # never verified here: the outage shows (503)
    clock.now += 600
    with pytest.raises(OperationalError):
        cache.verify(known)  # verified too long ago
