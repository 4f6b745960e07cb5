"""The notification outbox in the database: inbox rows and webhook deliveries.

:meth:`Outbox.accept` takes a batch of notifications from ``gridhub.notifications``
in ONE transaction, before the consumer acks them:

- ``app`` / ``sms`` notifications get an ``inbox`` row (insert, repeats ignored);
- notifications whose recipient has a webhook subscription get a
  ``notification_deliveries`` row, status ``pending`` (insert, repeats ignored);
  a ``webhook``-channel notification with no subscription is recorded ``dead``
  with that reason, never dropped silently.

It returns the deliveries this process should now make: the rows it has just
created, and pending rows nobody has touched for ``stale_after`` seconds (whose
sender died), claimed by moving their ``updated_at``. A notification already
delivered or dead — or pending and being retried by a live sender — is skipped:
that is what makes the sender idempotent across replays and workers.
:meth:`Outbox.claim_stale` is the periodic sweep of the same orphans.

Works on SQLite and PostgreSQL; every method is synchronous and thread-safe
(each call checks out its own connection).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Table, select, update
from sqlalchemy.dialects import postgresql, sqlite

from schemas.alerts import Notification
from sinks.outbox_models import (
    STATUS_DEAD,
    STATUS_DELIVERED,
    STATUS_PENDING,
    inbox,
    notification_deliveries,
)

INBOX_CHANNELS = frozenset({"app", "sms"})
NO_SUBSCRIPTION = "no webhook subscription for this recipient"

UrlFor = Callable[[str], str | None]
_LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)  # a resent delivery is stale at once


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Delivery:
    """One webhook delivery to make: the notification (as JSON) and where to POST it."""

    notification_id: str
    recipient: str
    url: str
    payload: dict[str, Any]
    attempts: int = 0


class Outbox:
    """The ``inbox`` and ``notification_deliveries`` tables on one engine."""

    def __init__(self, engine: Engine) -> None:
        if engine.dialect.name not in ("sqlite", "postgresql"):
            raise ValueError(f"unsupported database dialect {engine.dialect.name!r}")
        self.engine = engine
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert

    # -- intake ------------------------------------------------------------------

    def accept(
        self,
        notifications: Sequence[Notification],
        url_for: UrlFor,
        *,
        now: datetime | None = None,
        stale_after: float = 300.0,
    ) -> list[Delivery]:
        """Store a batch (inbox + deliveries) and return the deliveries to make now."""
        now = now or utc_now()
        unique = list({n.id: n for n in notifications}.values())
        inbox_rows = [_inbox_row(n) for n in unique if n.channel in INBOX_CHANNELS]
        delivery_rows: list[dict[str, Any]] = []
        for n in unique:
            url = url_for(n.recipient)
            if url is not None:
                delivery_rows.append(_delivery_row(n, url, STATUS_PENDING, None, now))
            elif n.channel == "webhook":
                delivery_rows.append(_delivery_row(n, "", STATUS_DEAD, NO_SUBSCRIPTION, now))
        if not inbox_rows and not delivery_rows:
            return []
        with self.engine.begin() as conn:
            self._insert_ignore(conn, inbox, inbox_rows, "notification_id")
            created = self._insert_ignore(
                conn, notification_deliveries, delivery_rows, "notification_id"
            )
            pending_ids = [
                r["notification_id"] for r in delivery_rows if r["status"] == STATUS_PENDING
            ]
            existing = [i for i in pending_ids if i not in created]
            claimed = self._claim(conn, existing, now, stale_after) if existing else set()
            wanted = [i for i in pending_ids if i in created or i in claimed]
            return self._deliveries(conn, wanted)

    def _insert_ignore(
        self, conn: Connection, table: Table, rows: list[dict[str, Any]], key: str
    ) -> set[str]:
        if not rows:
            return set()
        stmt = self._insert(table).on_conflict_do_nothing(index_elements=[key])
        result = conn.execute(stmt.returning(table.c[key]), rows)
        return {str(v) for v in result.scalars().all()}

    def _claim(
        self, conn: Connection, ids: Sequence[str], now: datetime, stale_after: float
    ) -> set[str]:
        """Pending rows among ``ids`` untouched for ``stale_after`` s, now ours."""
        cutoff = now - timedelta(seconds=stale_after)
        t = notification_deliveries
        stmt = (
            update(t)
            .where(
                t.c.notification_id.in_(list(ids)),
                t.c.status == STATUS_PENDING,
                t.c.updated_at < cutoff,
            )
            .values(updated_at=now)
            .returning(t.c.notification_id)
        )
        return {str(v) for v in conn.execute(stmt).scalars().all()}

    @staticmethod
    def _deliveries(conn: Connection, ids: Sequence[str]) -> list[Delivery]:
        if not ids:
            return []
        t = notification_deliveries
        rows = conn.execute(
            select(t.c.notification_id, t.c.recipient, t.c.url, t.c.payload, t.c.attempts).where(
                t.c.notification_id.in_(list(ids))
            )
        ).all()
        by_id = {
            str(r.notification_id): Delivery(
                notification_id=str(r.notification_id),
                recipient=str(r.recipient),
                url=str(r.url),
                payload=dict(r.payload),
                attempts=int(r.attempts),
            )
            for r in rows
        }
        return [by_id[i] for i in ids if i in by_id]

    def claim_stale(
        self, *, now: datetime | None = None, stale_after: float = 300.0, limit: int = 500
    ) -> list[Delivery]:
        """The sweep: pending deliveries whose sender went quiet, claimed for this process."""
        now = now or utc_now()
        cutoff = now - timedelta(seconds=stale_after)
        t = notification_deliveries
        with self.engine.begin() as conn:
            candidates = [
                str(v)
                for v in conn.execute(
                    select(t.c.notification_id)
                    .where(t.c.status == STATUS_PENDING, t.c.updated_at < cutoff)
                    .order_by(t.c.updated_at)
                    .limit(limit)
                ).scalars()
            ]
            if not candidates:
                return []
            claimed = self._claim(conn, candidates, now, stale_after)
            return self._deliveries(conn, [i for i in candidates if i in claimed])

    # -- outcomes -------------------------------------------------------------------

    def record_attempt(
        self, notification_id: str, attempts: int, error: str, *, now: datetime | None = None
    ) -> None:
        """A failed attempt that will be retried: the row stays pending (and fresh)."""
        self._finish(notification_id, STATUS_PENDING, attempts, error, now)

    def mark_delivered(
        self, notification_id: str, attempts: int, *, now: datetime | None = None
    ) -> None:
        self._finish(notification_id, STATUS_DELIVERED, attempts, None, now)

    def mark_dead(
        self, notification_id: str, attempts: int, error: str, *, now: datetime | None = None
    ) -> None:
        """Dead letter: no more attempts; the payload and last error stay for an operator."""
        self._finish(notification_id, STATUS_DEAD, attempts, error, now)

    def _finish(
        self,
        notification_id: str,
        status: str,
        attempts: int,
        error: str | None,
        now: datetime | None,
    ) -> None:
        t = notification_deliveries
        values: dict[str, Any] = {
            "status": status,
            "attempts": attempts,
            "updated_at": now or utc_now(),
        }
        if error is not None:
            values["last_error"] = error[:2000]
        with self.engine.begin() as conn:
            conn.execute(
                update(t)
                .where(t.c.notification_id == notification_id, t.c.status == STATUS_PENDING)
                .values(**values)
            )

    def delivery(self, notification_id: str) -> dict[str, Any] | None:
        """One delivery row as a dict (status, attempts, last_error, ...), or None."""
        t = notification_deliveries
        with self.engine.connect() as conn:
            row = (
                conn.execute(select(t).where(t.c.notification_id == notification_id))
                .mappings()
                .first()
            )
        return dict(row) if row is not None else None

    def rows(self, *, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Webhook deliveries, most recently touched first (``status``: only those)."""
        t = notification_deliveries
        query = select(t).order_by(t.c.updated_at.desc()).limit(limit)
        if status is not None:
            query = query.where(t.c.status == status)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def resend(self, notification_id: str) -> bool:
        """A dead webhook delivery goes back to pending, stale at once, so the next
        sweep sends it again from its first attempt. False when it is not dead (or
        was dead for want of a subscription: there is nowhere to send it)."""
        t = notification_deliveries
        with self.engine.begin() as conn:
            result = conn.execute(
                update(t)
                .where(
                    t.c.notification_id == notification_id,
                    t.c.status == STATUS_DEAD,
                    t.c.url != "",
                )
                .values(status=STATUS_PENDING, attempts=0, updated_at=_LONG_AGO)
                .execution_options(preserve_rowcount=True)
            )
            return bool(result.rowcount)

    # -- the inbox --------------------------------------------------------------------

    def inbox_for(
        self, recipient: str, *, unread_only: bool = False, limit: int = 50
    ) -> list[dict[str, Any]]:
        """A recipient's messages, newest first."""
        query = select(inbox).where(inbox.c.recipient == recipient)
        if unread_only:
            query = query.where(inbox.c.read_at.is_(None))
        query = query.order_by(inbox.c.time.desc(), inbox.c.notification_id).limit(limit)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def mark_read(
        self, notification_id: str, recipient: str, *, now: datetime | None = None
    ) -> bool:
        """Mark one of ``recipient``'s messages read; False if it is not theirs or unknown."""
        with self.engine.begin() as conn:
            result = conn.execute(
                update(inbox)
                .where(
                    inbox.c.notification_id == notification_id,
                    inbox.c.recipient == recipient,
                    inbox.c.read_at.is_(None),
                )
                .values(read_at=now or utc_now())
                .execution_options(preserve_rowcount=True)
            )
            return bool(result.rowcount)


def _inbox_row(n: Notification) -> dict[str, Any]:
    return {
        "notification_id": n.id,
        "recipient": n.recipient,
        "channel": n.channel,
        "case_id": n.case_id,
        "event_type": n.event_type,
        "subject": n.subject,
        "body": n.body,
        "data": n.data,
        "time": n.time,
        "read_at": None,
    }


def _delivery_row(
    n: Notification, url: str, status: str, error: str | None, now: datetime
) -> dict[str, Any]:
    return {
        "notification_id": n.id,
        "recipient": n.recipient,
        "url": url,
        "status": status,
        "attempts": 0,
        "last_error": error,
        "payload": n.model_dump(mode="json"),
        "created_at": now,
        "updated_at": now,
    }
