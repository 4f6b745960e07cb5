"""The gateway's token cache: a verified token is answered from memory for
``ttl_seconds``, and longer only while the revocation list is fresh; a revoked
token stops at once when the list hears of it, within ``ttl_seconds`` from the
database otherwise; during a database outage only a fresh list vouches for a
remembered token, and an unknown one is refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from sinks.db import make_engine, upgrade
from sinks.tokens import CachedTokens, Revocations, TokenStore


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
    cache = CachedTokens(store, ttl_seconds=2.0, clock=clock)
    plaintext, record = store.create("operator", "leaver")
    assert cache.verify(plaintext) == record
    assert store.revoke(record.id)
    clock.now += 1.5
    assert cache.verify(plaintext) == record  # the bound without a revocation list: 2 s
    clock.now += 0.5
    assert cache.remembered(plaintext) is None
    assert cache.verify(plaintext) is None
    assert cache.verify(plaintext) is None  # and stays refused (remembered as unknown)
    assert store.lookups == 2


def test_a_revocation_heard_of_stops_the_token_at_once(store: CountingStore, clock: Clock) -> None:
    revocations = Revocations(clock=clock)
    cache = CachedTokens(store, revocations, clock=clock)
    plaintext, record = store.create("operator", "leaver")
    other, kept = store.create("operator", "stayer")
    assert cache.verify(plaintext) == record and cache.verify(other) == kept
    revocations.revoke_token(record.id)  # heard on the topic before the database has it
    assert cache.remembered(plaintext) is None
    assert cache.verify(plaintext) is None  # the list wins: no lookup revives it
    assert store.lookups == 2
    revocations.disable_principal(kept.principal_id)  # a disabled principal: all its tokens
    assert cache.remembered(other) is None


def test_a_fresh_list_lets_a_token_be_answered_from_memory_longer(
    store: CountingStore, clock: Clock
) -> None:
    revocations = Revocations(fresh_seconds=3.0, clock=clock)
    cache = CachedTokens(store, revocations, ttl_seconds=2.0, clock=clock)
    plaintext, record = store.create("operator", "busy")
    cache.verify(plaintext)
    clock.now += 60
    revocations.confirm("kafka")
    assert cache.remembered(plaintext) == record
    clock.now += 3  # the list went stale: ask the database again
    assert cache.remembered(plaintext) is None
    assert cache.verify(plaintext) == record
    assert store.lookups == 2


def test_unknown_tokens_are_remembered_as_unknown_for_a_while(
    store: CountingStore, clock: Clock
) -> None:
    cache = CachedTokens(store, clock=clock, unknown_seconds=30)
    assert cache.verify("gh_unknown") is None
    assert cache.verify("gh_unknown") is None  # a flood of bad tokens is not a flood of queries
    assert store.lookups == 1
    assert cache.verify("not-a-gridhub-token") is None  # malformed: no lookup at all
    assert store.lookups == 1
    clock.now += 30
    assert cache.verify("gh_unknown") is None
    assert store.lookups == 2
    plaintext, record = store.create("leader", "new")
    assert cache.verify(plaintext) == record  # a new token works at once


def test_an_expired_token_is_refused_from_memory_too(engine: Engine, clock: Clock) -> None:
    from datetime import UTC, datetime, timedelta

    now = [datetime(2026, 12, 1, tzinfo=UTC)]
    store = CountingStore(engine, "s3cret", clock=lambda: now[0])
    cache = CachedTokens(store, clock=clock, wall=lambda: now[0])
    plaintext, record = store.create("grid_worker", "short", expires_in=timedelta(hours=1))
    assert cache.verify(plaintext) == record
    now[0] += timedelta(hours=1)
    assert cache.remembered(plaintext) is None
    assert cache.verify(plaintext) is None


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
        self._check()
        return super().verify(plaintext)

    def still_valid(self, record):  # type: ignore[no-untyped-def]
        self._check()
        return super().still_valid(record)

    def _check(self) -> None:
        if self.away:
            from sqlalchemy.exc import OperationalError

            raise OperationalError("SELECT", {}, ConnectionRefusedError("connection refused"))


def test_while_the_database_is_away_only_a_fresh_revocation_list_vouches(
    engine: Engine, clock: Clock
) -> None:
    """So a phone can file reports (which only need Kafka) during an outage, and
    a token revoked meanwhile (heard of on the revocation topic) cannot."""
    from sqlalchemy.exc import OperationalError

    store = AwayStore(engine, "s3cret")
    revocations = Revocations(fresh_seconds=3.0, clock=clock)
    cache = CachedTokens(store, revocations, ttl_seconds=2.0, clock=clock)
    known, record = store.create("grid_worker", "zhang")
    revoked, gone = store.create("grid_worker", "leaver")
    unknown, _ = store.create("grid_worker", "never-seen")
    assert cache.verify(known) == record and cache.verify(revoked) == gone
    store.away = True
    clock.now += 600
    revocations.revoke_token(gone.id)
    revocations.confirm("kafka")  # the topic is followed: the list is fresh
    assert cache.verify(known) == record
    assert cache.still_valid(record)
    assert cache.verify(revoked) is None  # revoked during the outage: refused
    with pytest.raises(OperationalError):
        cache.verify(unknown)  # never verified here: the outage shows (503)
    clock.now += 3  # neither the database nor the topic can vouch any more
    with pytest.raises(OperationalError):
        cache.verify(known)
    assert not cache.still_valid(record)
