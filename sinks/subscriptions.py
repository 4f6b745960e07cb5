"""Webhook subscriptions configured by an admin (``/api/v1/admin/webhooks``), in the database.

A subscription says: POST the notifications addressed to ``recipient`` to ``url``.
``recipient`` is a recipient name or an ``fnmatch`` pattern over the recipients of
``gridhub.notifications`` (``duty_office``, ``department:<code>``,
``reporter:<report id>``...; ``system:<source>`` is reserved for source systems).
One subscription per recipient pattern (the outbox makes one delivery per
notification). Requests are signed with the worker's webhook secret, as for the
subscriptions in the settings.

:class:`SubscriptionStore` is the admin side (create, list, delete);
:class:`DbSubscriptions` is the worker side: the active subscriptions, read
again at most every ``reload_seconds`` (the last good copy is kept while the
database is unreachable). :func:`url_for` looks a recipient up in several
tables: exact names first, in table order, then patterns. Table: migration
``sinks/migrations/versions/0003_webhook_subscriptions.py``.
"""

from __future__ import annotations

import builtins
import fnmatch
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Boolean, Engine, String, Table, Text, delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from sinks.models import Base

log = logging.getLogger(__name__)

MAX_RECIPIENT = 256
MAX_URL = 2048
MAX_DESCRIPTION = 500
# A recipient name or pattern: no spaces or control characters.
RECIPIENT_PATTERN = r"^[A-Za-z0-9_*?\[\]!:./@#+=-]{1,256}$"
_RECIPIENT = re.compile(RECIPIENT_PATTERN)
DEFAULT_RELOAD_SECONDS = 10.0


class WebhookSubscription(Base):
    """POST the notifications for ``recipient`` (a name or a pattern) to ``url``."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    recipient: Mapped[str] = mapped_column(String(MAX_RECIPIENT), unique=True)
    url: Mapped[str] = mapped_column(String(MAX_URL))
    active: Mapped[bool] = mapped_column(Boolean)
    description: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String)
    created_at: Mapped[datetime]


webhook_subscriptions: Table = Base.metadata.tables["webhook_subscriptions"]


class DuplicateSubscription(ValueError):
    """A subscription for that recipient pattern exists already."""


@dataclass(frozen=True)
class SubscriptionRecord:
    id: str
    recipient: str
    url: str
    active: bool
    description: str | None
    created_by: str
    created_at: datetime


def check_subscription(recipient: str, url: str) -> None:
    """Raise ``ValueError`` naming what is wrong with a recipient pattern or URL."""
    if not _RECIPIENT.match(recipient):
        raise ValueError(
            f"recipient {recipient[:64]!r} must be 1-{MAX_RECIPIENT} characters of letters, "
            "digits and _*?[]!:./@#+=- (e.g. department:shizheng or system:<source>)"
        )
    if not url.startswith(("http://", "https://")) or len(url) > MAX_URL:
        raise ValueError(f"url must be an http(s) URL of at most {MAX_URL} characters")


class SubscriptionStore:
    """The ``webhook_subscriptions`` table (SQLite and PostgreSQL); thread-safe."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create(
        self,
        recipient: str,
        url: str,
        *,
        created_by: str,
        active: bool = True,
        description: str | None = None,
    ) -> SubscriptionRecord:
        """A new subscription; :class:`DuplicateSubscription` if the recipient has one."""
        check_subscription(recipient, url)
        record = SubscriptionRecord(
            id=secrets.token_hex(8),
            recipient=recipient,
            url=url,
            active=active,
            description=(description or None) and description[:MAX_DESCRIPTION],
            created_by=created_by,
            created_at=datetime.now(UTC),
        )
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(webhook_subscriptions).values(**record.__dict__))
        except IntegrityError as exc:
            raise DuplicateSubscription(
                f"a subscription for {recipient!r} exists already (delete it first)"
            ) from exc
        return record

    def list(self, *, active_only: bool = False) -> builtins.list[SubscriptionRecord]:
        """Every subscription, oldest first."""
        t = webhook_subscriptions
        query = select(t).order_by(t.c.created_at, t.c.id)
        if active_only:
            query = query.where(t.c.active.is_(True))
        with self.engine.connect() as conn:
            return [SubscriptionRecord(**dict(row)) for row in conn.execute(query).mappings()]

    def get(self, subscription_id: str) -> SubscriptionRecord | None:
        t = webhook_subscriptions
        with self.engine.connect() as conn:
            row = conn.execute(select(t).where(t.c.id == subscription_id)).mappings().first()
        return SubscriptionRecord(**dict(row)) if row is not None else None

    def delete(self, subscription_id: str) -> bool:
        t = webhook_subscriptions
        with self.engine.begin() as conn:
            result = conn.execute(
                delete(t).where(t.c.id == subscription_id).execution_options(preserve_rowcount=True)
            )
            return bool(result.rowcount)

    def active(self) -> dict[str, str]:
        """Active subscriptions as ``recipient pattern -> URL``, oldest first."""
        return {record.recipient: record.url for record in self.list(active_only=True)}


def url_for(recipient: str, *tables: Mapping[str, str]) -> str | None:
    """The URL for ``recipient``: an exact entry of any table (in table order)
    wins over a pattern; then the first matching pattern, tables in order."""
    for table in tables:
        url = table.get(recipient)
        if url is not None:
            return url
    for table in tables:
        for pattern, url in table.items():
            if fnmatch.fnmatchcase(recipient, pattern):
                return url
    return None


class DbSubscriptions:
    """The worker's view of the admin's subscriptions, reloaded at most every
    ``reload_seconds`` when asked (from a thread: it may read the database)."""

    def __init__(
        self,
        engine: Engine,
        *,
        reload_seconds: float = DEFAULT_RELOAD_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = SubscriptionStore(engine)
        self.reload_seconds = reload_seconds
        self._clock = clock
        self._table: dict[str, str] = {}
        self._loaded_at: float | None = None
        self._lock = threading.Lock()

    def current(self) -> Mapping[str, str]:
        """The active subscriptions, read again if the copy is older than ``reload_seconds``
        (replaced whole on reload, never changed in place)."""
        with self._lock:
            now = self._clock()
            if self._loaded_at is None or now - self._loaded_at >= self.reload_seconds:
                self._loaded_at = now
                try:
                    self._table = self.store.active()
                except Exception as exc:  # keep the last good copy; try again later
                    log.warning("could not read webhook subscriptions: %s", exc)
            return self._table

    def url_for(self, recipient: str) -> str | None:
        return url_for(recipient, self.current())
