"""Notification channels beside webhooks: e-mail (:mod:`sinks.email`), group
robots (:mod:`sinks.robots`) and SMS (:mod:`sinks.sms`), behind one interface,
:class:`Channel`, each send recorded in ``channel_deliveries``.

Life of a delivery, as for webhooks (:mod:`sinks.outbox`, :mod:`sinks.webhooks`):

- :meth:`ChannelOutbox.accept` stores, in one transaction before the consumer
  acks, one ``pending`` row per notification × target the notify rules name
  (``routing.notify``); repeats of a notification find their rows (the id is
  derived from notification, channel and address) and change nothing;
- :class:`ChannelSender` sends each as its own task, through the channel's
  rate limit (a token bucket per channel), one case's messages to one address
  in order (:mod:`sinks.ordering`), retried with back-off
  (:func:`sinks.retry.backoff_delay`) on ``RETRY`` answers, dead-lettered
  (``dead`` with the last error) after ``max_attempts`` or at once on ``REFUSED``;
- a pending row nobody touched for ``stale_after`` seconds is claimed again by
  the sweep (a crashed sender), and an admin can send a dead one again
  (:meth:`ChannelOutbox.resend`), which the sweep then picks up.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Engine, select, update
from sqlalchemy.dialects import postgresql, sqlite

from schemas.alerts import Notification
from sinks.channel_models import channel_deliveries
from sinks.ordering import KeyedLocks, order_key
from sinks.outbox_models import STATUS_DEAD, STATUS_DELIVERED, STATUS_PENDING
from sinks.retry import backoff_delay
from sinks.webhooks import Attempt, Outcome

log = logging.getLogger(__name__)

LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)  # a resent row is stale at once


class TargetLike(Protocol):
    """``routing.notify.Target``."""

    @property
    def channel(self) -> str: ...
    @property
    def address(self) -> str: ...
    @property
    def format(self) -> str: ...


TargetsOf = Callable[[Notification], Sequence[TargetLike]]


@dataclass(frozen=True)
class ChannelDelivery:
    id: str
    notification_id: str
    channel: str
    target: str
    format: str
    payload: dict[str, Any]
    attempts: int = 0

    @property
    def notification(self) -> Notification:
        return Notification.model_validate(self.payload)


class Channel(Protocol):
    """One way of telling people: sends one delivery, says how it went."""

    @property
    def name(self) -> str: ...

    async def send(self, delivery: ChannelDelivery) -> Attempt: ...


def delivery_id(notification_id: str, channel: str, address: str) -> str:
    digest = hashlib.sha256(f"{channel}\n{address}".encode()).hexdigest()[:16]
    return f"{notification_id}|{channel}|{digest}"


def utc_now() -> datetime:
    return datetime.now(UTC)


class ChannelOutbox:
    """The ``channel_deliveries`` table on one engine (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert

    def accept(
        self,
        notifications: Sequence[Notification],
        targets_of: TargetsOf,
        *,
        now: datetime | None = None,
        stale_after: float = 300.0,
    ) -> list[ChannelDelivery]:
        """Store the deliveries the rules ask for; return those to make now."""
        now = now or utc_now()
        rows: list[dict[str, Any]] = []
        for n in {n.id: n for n in notifications}.values():
            payload = n.model_dump(mode="json")
            for target in targets_of(n):
                payload_with = {**payload, "_format": target.format}
                rows.append(
                    {
                        "id": delivery_id(n.id, target.channel, target.address),
                        "notification_id": n.id,
                        "channel": target.channel,
                        "target": target.address,
                        "status": STATUS_PENDING,
                        "attempts": 0,
                        "last_error": None,
                        "payload": payload_with,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
        if not rows:
            return []
        t = channel_deliveries
        with self.engine.begin() as conn:
            stmt = self._insert(t).on_conflict_do_nothing(index_elements=["id"])
            created = {str(v) for v in conn.execute(stmt.returning(t.c.id), rows).scalars()}
            others = [r["id"] for r in rows if r["id"] not in created]
            claimed = self._claim(conn, others, now, stale_after) if others else set()
            return self._load(conn, [r["id"] for r in rows if r["id"] in created | claimed])

    @staticmethod
    def _claim(conn: Any, ids: Sequence[str], now: datetime, stale_after: float) -> set[str]:
        t = channel_deliveries
        cutoff = now - timedelta(seconds=stale_after)
        stmt = (
            update(t)
            .where(t.c.id.in_(list(ids)), t.c.status == STATUS_PENDING, t.c.updated_at < cutoff)
            .values(updated_at=now)
            .returning(t.c.id)
        )
        return {str(v) for v in conn.execute(stmt).scalars()}

    @staticmethod
    def _load(conn: Any, ids: Sequence[str]) -> list[ChannelDelivery]:
        if not ids:
            return []
        t = channel_deliveries
        rows = conn.execute(select(t).where(t.c.id.in_(list(ids)))).mappings()
        by_id = {
            str(r["id"]): ChannelDelivery(
                id=str(r["id"]),
                notification_id=str(r["notification_id"]),
                channel=str(r["channel"]),
                target=str(r["target"]),
                format=str((r["payload"] or {}).get("_format", "")),
                payload={k: v for k, v in dict(r["payload"]).items() if k != "_format"},
                attempts=int(r["attempts"]),
            )
            for r in rows
        }
        return [by_id[i] for i in ids if i in by_id]

    def claim_stale(
        self, *, now: datetime | None = None, stale_after: float = 300.0, limit: int = 500
    ) -> list[ChannelDelivery]:
        now = now or utc_now()
        t = channel_deliveries
        cutoff = now - timedelta(seconds=stale_after)
        with self.engine.begin() as conn:
            ids = [
                str(v)
                for v in conn.execute(
                    select(t.c.id)
                    .where(t.c.status == STATUS_PENDING, t.c.updated_at < cutoff)
                    .order_by(t.c.updated_at, t.c.created_at)
                    .limit(limit)
                ).scalars()
            ]
            claimed = self._claim(conn, ids, now, stale_after) if ids else set()
            return self._load(conn, [i for i in ids if i in claimed])

    def _finish(self, delivery_id: str, status: str, attempts: int, error: str | None) -> None:
        t = channel_deliveries
        values: dict[str, Any] = {"status": status, "attempts": attempts, "updated_at": utc_now()}
        if error is not None:
            values["last_error"] = error[:2000]
        with self.engine.begin() as conn:
            conn.execute(
                update(t)
                .where(t.c.id == delivery_id, t.c.status == STATUS_PENDING)
                .values(**values)
            )

    def record_attempt(self, delivery_id: str, attempts: int, error: str) -> None:
        self._finish(delivery_id, STATUS_PENDING, attempts, error)

    def mark_delivered(self, delivery_id: str, attempts: int) -> None:
        self._finish(delivery_id, STATUS_DELIVERED, attempts, None)

    def mark_dead(self, delivery_id: str, attempts: int, error: str) -> None:
        self._finish(delivery_id, STATUS_DEAD, attempts, error)

    def rows(self, *, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        t = channel_deliveries
        query = select(t).order_by(t.c.updated_at.desc()).limit(limit)
        if status is not None:
            query = query.where(t.c.status == status)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def resend(self, delivery_id: str) -> bool:
        """A dead delivery goes back to pending, stale at once: the next sweep sends
        it again from its first attempt. False when it is not dead."""
        t = channel_deliveries
        with self.engine.begin() as conn:
            result = conn.execute(
                update(t)
                .where(t.c.id == delivery_id, t.c.status == STATUS_DEAD)
                .values(status=STATUS_PENDING, attempts=0, updated_at=LONG_AGO)
                .execution_options(preserve_rowcount=True)
            )
            return bool(result.rowcount)


# -- sending ----------------------------------------------------------------------------


@dataclass
class TokenBucket:
    """``rate`` sends per second on average, ``burst`` at once."""

    rate: float
    burst: int
    clock: Callable[[], float] = time.monotonic
    _tokens: float = -1.0
    _at: float = 0.0

    def wait(self) -> float:
        """Take a token: 0 when one was free, else the seconds until one is."""
        now = self.clock()
        if self._tokens < 0:
            self._tokens, self._at = float(self.burst), now
        self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1:
            self._tokens -= 1
            return 0.0
        return (1 - self._tokens) / self.rate


@dataclass(frozen=True)
class ChannelLimits:
    rate_per_second: float = 1.0
    burst: int = 5
    max_attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 60.0
    jitter: float = 0.1
    stale_after: float = 300.0
    sweep_seconds: float = 60.0


Sleep = Callable[[float], Any]


@dataclass
class ChannelSender:
    """Sends channel deliveries: each its own task, through its channel's rate
    limit, retried and dead-lettered (see the module doc)."""

    channels: Mapping[str, Channel]
    outbox: ChannelOutbox
    limits: Mapping[str, ChannelLimits] = field(default_factory=dict)
    sleep: Callable[[float], Any] = asyncio.sleep
    _tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    _buckets: dict[str, TokenBucket] = field(default_factory=dict)
    _order: KeyedLocks = field(default_factory=KeyedLocks)

    def _limits(self, channel: str) -> ChannelLimits:
        return self.limits.get(channel, ChannelLimits())

    def submit(self, deliveries: Sequence[ChannelDelivery]) -> int:
        started = 0
        for delivery in deliveries:
            if delivery.id in self._tasks:
                continue
            self._tasks[delivery.id] = asyncio.create_task(
                self._run(delivery), name=f"channel:{delivery.id}"
            )
            started += 1
        return started

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)

    async def aclose(self) -> None:
        for task in list(self._tasks.values()):
            task.cancel()
        await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)
        self._tasks.clear()

    async def _run(self, delivery: ChannelDelivery) -> None:
        try:
            key = order_key(f"{delivery.channel}:{delivery.target}", delivery.payload)
            async with self._order.hold(key):
                await self.deliver(delivery)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("channel delivery %s failed unexpectedly", delivery.id)
        finally:
            self._tasks.pop(delivery.id, None)

    async def _take_token(self, channel: str) -> None:
        limits = self._limits(channel)
        bucket = self._buckets.setdefault(
            channel, TokenBucket(limits.rate_per_second, limits.burst)
        )
        while (wait := bucket.wait()) > 0:
            await self.sleep(wait)

    async def deliver(self, delivery: ChannelDelivery) -> Outcome:
        limits = self._limits(delivery.channel)
        channel = self.channels.get(delivery.channel)
        if channel is None:
            await self._record(
                self.outbox.mark_dead, delivery.id, delivery.attempts, "no such channel here"
            )
            return Outcome.DEAD
        attempts = delivery.attempts
        while True:
            attempts += 1
            await self._take_token(delivery.channel)
            try:
                result = await channel.send(delivery)
            except Exception as exc:  # a channel bug must not lose the delivery
                result = Attempt(Outcome.RETRY, f"{type(exc).__name__}: {exc}")
            if result.outcome is Outcome.DELIVERED:
                await self._record(self.outbox.mark_delivered, delivery.id, attempts)
                return Outcome.DELIVERED
            error = result.error or "unknown error"
            if result.outcome is not Outcome.RETRY or attempts >= limits.max_attempts:
                log.warning("%s delivery %s dead: %s", delivery.channel, delivery.id, error)
                await self._record(self.outbox.mark_dead, delivery.id, attempts, error)
                return Outcome.DEAD
            await self._record(self.outbox.record_attempt, delivery.id, attempts, error)
            await self.sleep(
                backoff_delay(attempts, limits.base_delay, limits.max_delay, limits.jitter)
            )

    @staticmethod
    async def _record(fn: Callable[..., None], *args: Any) -> None:
        try:
            await asyncio.to_thread(fn, *args)
        except Exception as exc:
            log.warning("could not record channel outcome %s: %s", args[0], exc)
