"""Webhook subscriptions configured by an admin (``/api/v1/admin/webhooks``), in the database.

A subscription says: POST the notifications addressed to ``recipient`` to ``url``.
``recipient`` is a recipient name or an ``fnmatch`` pattern over the recipients of
``gridhub.notifications`` (``duty_office``, ``department:<code>``,
``reporter:<report id>``...; ``system:<source>`` is reserved for source systems).
One subscription per recipient pattern (the outbox makes one delivery per
notification).

Each subscription has its own signing secret (Standard Webhooks ``whsec_...``,
:mod:`sinks.webhooks`), shown once when it is made or rotated and stored sealed
under the settings' key (:mod:`sinks.secretbox`), so no receiver can sign for
another. Rotating keeps the previous secret active for ``ROTATION_OVERLAP``
(messages are signed with both), so a receiver can switch without a gap. The
URL must pass the hub's URL policy (:mod:`sinks.urls`: https only and no
internal address outside dev).

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
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import Boolean, Engine, String, Table, Text, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from sinks.models import Base
from sinks.secretbox import SecretBox
from sinks.urls import UrlPolicy, UrlRefused
from sinks.webhooks import new_secret

log = logging.getLogger(__name__)

MAX_RECIPIENT = 256
MAX_URL = 2048
MAX_DESCRIPTION = 500
# A recipient name or pattern: no spaces or control characters.
RECIPIENT_PATTERN = r"^[A-Za-z0-9_*?\[\]!:./@#+=-]{1,256}$"
_RECIPIENT = re.compile(RECIPIENT_PATTERN)
DEFAULT_RELOAD_SECONDS = 10.0
ROTATION_OVERLAP = timedelta(hours=24)


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
    secret: Mapped[str | None] = mapped_column(Text)  # sealed (sinks.secretbox)
    previous_secret: Mapped[str | None] = mapped_column(Text)  # sealed, while rotating
    previous_until: Mapped[datetime | None]


webhook_subscriptions: Table = Base.metadata.tables["webhook_subscriptions"]


class DuplicateSubscription(ValueError):
    """A subscription for that recipient pattern exists already."""


@dataclass(frozen=True)
class SubscriptionRecord:
    """A subscription; ``secret`` is the plaintext signing secret, set only in the
    answer of :meth:`SubscriptionStore.create` and :meth:`~SubscriptionStore.rotate`."""

    id: str
    recipient: str
    url: str
    active: bool
    description: str | None
    created_by: str
    created_at: datetime
    secret: str | None = None
    rotating_until: datetime | None = None


def check_subscription(recipient: str, url: str, policy: UrlPolicy | None = None) -> None:
    """Raise ``ValueError`` naming what is wrong with a recipient pattern or URL
    (``policy``: the URL policy; default dev's, which only wants http(s))."""
    if not _RECIPIENT.match(recipient):
        raise ValueError(
            f"recipient {recipient[:64]!r} must be 1-{MAX_RECIPIENT} characters of letters, "
            "digits and _*?[]!:./@#+=- (e.g. department:shizheng or system:<source>)"
        )
    if not url.startswith(("http://", "https://")) or len(url) > MAX_URL:
        raise ValueError(f"url must be an http(s) URL of at most {MAX_URL} characters")
    try:
        (policy or UrlPolicy()).resolve(url)
    except UrlRefused as exc:
        raise ValueError(f"url refused: {exc}") from exc


def _record(row: object) -> SubscriptionRecord:
    fields = dict(row)  # type: ignore[call-overload]
    return SubscriptionRecord(
        id=fields["id"],
        recipient=fields["recipient"],
        url=fields["url"],
        active=fields["active"],
        description=fields["description"],
        created_by=fields["created_by"],
        created_at=fields["created_at"],
        rotating_until=fields.get("previous_until") if fields.get("previous_secret") else None,
    )


class SubscriptionStore:
    """The ``webhook_subscriptions`` table (SQLite and PostgreSQL); thread-safe.
    ``box`` seals the secrets (without one, subscriptions cannot be made);
    ``policy`` is the URL policy new subscriptions must pass."""

    def __init__(
        self, engine: Engine, box: SecretBox | None = None, policy: UrlPolicy | None = None
    ) -> None:
        self.engine = engine
        self.box = box
        self.policy = policy or UrlPolicy()

    def _box(self) -> SecretBox:
        if self.box is None:
            raise ValueError("webhook secrets cannot be stored: no key (GRIDHUB_WEBHOOK_SECRET)")
        return self.box

    def create(
        self,
        recipient: str,
        url: str,
        *,
        created_by: str,
        active: bool = True,
        description: str | None = None,
    ) -> SubscriptionRecord:
        """A new subscription with a new secret (in the answer, and nowhere else in
        plaintext); :class:`DuplicateSubscription` if the recipient has one."""
        check_subscription(recipient, url, self.policy)
        box = self._box()
        secret = new_secret()
        record = SubscriptionRecord(
            id=secrets.token_hex(8),
            recipient=recipient,
            url=url,
            active=active,
            description=(description or None) and description[:MAX_DESCRIPTION],
            created_by=created_by,
            created_at=datetime.now(UTC),
        )
        row = {k: v for k, v in record.__dict__.items() if k not in ("secret", "rotating_until")}
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(webhook_subscriptions).values(**row, secret=box.seal(secret)))
        except IntegrityError as exc:
            raise DuplicateSubscription(
                f"a subscription for {recipient!r} exists already (delete it first)"
            ) from exc
        return replace(record, secret=secret)

    def rotate(
        self, subscription_id: str, *, overlap: timedelta = ROTATION_OVERLAP
    ) -> SubscriptionRecord | None:
        """A new secret for a subscription; the current one stays active beside it
        for ``overlap`` (both sign each message). None if there is no such subscription."""
        box = self._box()
        t = webhook_subscriptions
        secret = new_secret()
        with self.engine.begin() as conn:
            row = conn.execute(select(t).where(t.c.id == subscription_id)).mappings().first()
            if row is None:
                return None
            until = datetime.now(UTC) + overlap
            conn.execute(
                update(t)
                .where(t.c.id == subscription_id)
                .values(
                    secret=box.seal(secret),
                    previous_secret=row["secret"],
                    previous_until=until if row["secret"] else None,
                )
            )
        return replace(_record(row), secret=secret, rotating_until=until if row["secret"] else None)

    def secrets(self, now: datetime | None = None) -> dict[str, list[str]]:
        """The active signing secrets of every active subscription by URL pattern
        key ``recipient``: the current one first, then the previous one while it
        is still within its overlap. Subscriptions without a secret sign nothing."""
        box = self._box()
        moment = now or datetime.now(UTC)
        t = webhook_subscriptions
        found: dict[str, list[str]] = {}
        with self.engine.connect() as conn:
            rows = conn.execute(select(t).where(t.c.active.is_(True))).mappings()
            for row in rows:
                keys = [box.open(row["secret"])] if row["secret"] else []
                until = row["previous_until"]
                if row["previous_secret"] and until is not None and until > moment:
                    keys.append(box.open(row["previous_secret"]))
                found[row["recipient"]] = keys
        return found

    def list(self, *, active_only: bool = False) -> builtins.list[SubscriptionRecord]:
        """Every subscription, oldest first."""
        t = webhook_subscriptions
        query = select(t).order_by(t.c.created_at, t.c.id)
        if active_only:
            query = query.where(t.c.active.is_(True))
        with self.engine.connect() as conn:
            return [_record(row) for row in conn.execute(query).mappings()]

    def get(self, subscription_id: str) -> SubscriptionRecord | None:
        t = webhook_subscriptions
        with self.engine.connect() as conn:
            row = conn.execute(select(t).where(t.c.id == subscription_id)).mappings().first()
        return _record(row) if row is not None else None

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
        box: SecretBox | None = None,
        reload_seconds: float = DEFAULT_RELOAD_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = SubscriptionStore(engine, box)
        self.reload_seconds = reload_seconds
        self._clock = clock
        self._table: dict[str, str] = {}
        self._secrets: dict[str, list[str]] = {}
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
                    table = self.store.active()
                    secrets = self.store.secrets() if self.store.box is not None else {}
                except Exception as exc:  # keep the last good copy; try again later
                    log.warning("could not read webhook subscriptions: %s", exc)
                else:
                    self._table, self._secrets = table, secrets
            return self._table

    def url_for(self, recipient: str) -> str | None:
        return url_for(recipient, self.current())

    def secrets_for(self, recipient: str, url: str) -> list[str] | None:
        """The signing secrets of the subscription that sends ``recipient``'s
        notifications to ``url`` (None: no such subscription here)."""
        table = self.current()
        with self._lock:
            secrets = dict(self._secrets)
        return match_secrets(recipient, url, table, secrets)


def match_secrets(
    recipient: str,
    url: str,
    table: Mapping[str, str],
    secrets: Mapping[str, list[str]],
) -> list[str] | None:
    """The secrets of the pattern of ``table`` that routes ``recipient`` to ``url``."""
    exact = table.get(recipient)
    if exact is not None:
        return list(secrets.get(recipient, [])) if exact == url else None
    for pattern, target in table.items():
        if target == url and fnmatch.fnmatchcase(recipient, pattern):
            return list(secrets.get(pattern, []))
    return None
