"""Webhooks: POSTs of notifications signed to the Standard Webhooks convention,
retried, dead-lettered, concurrent, and sent only where the URL policy allows.

Every request is the notification as JSON (keys sorted) with the headers

- ``webhook-id``: the notification id, the same on every attempt and replay, so
  a receiver drops repeats (also as ``X-GridHub-Delivery``);
- ``webhook-timestamp``: Unix seconds of this attempt;
- ``webhook-signature``: ``v1,<base64 HMAC-SHA256(key, id.timestamp.body)>``, one
  per active secret of the subscription, space-separated (two while a secret is
  being rotated) — check it with the ``standardwebhooks`` package
  (:func:`verify`), which also refuses a timestamp more than 5 minutes off, so a
  captured message cannot be replayed later;
- ``X-GridHub-Event``: the notification's ``event_type``.

Each subscription has its own secret (``whsec_`` + base64 of 32 random bytes,
:func:`new_secret`): no receiver can sign for another. A subscription from the
settings (``GRIDHUB_WEBHOOK_SUBSCRIPTIONS``) signs with a secret derived from
the settings' key and its recipient pattern (:func:`settings_secret`; ``gridhub
webhooks secret PATTERN`` prints it for its receiver).

A 2xx answer delivers. A 5xx, 408 or 429 answer, a timeout or a connection error
is retried after ``base_delay * 2**(attempt-1)`` seconds (capped at
``max_delay``, plus up to ``jitter`` of it at random) until ``max_attempts``
attempts were made; then the delivery is dead-lettered (status ``dead`` with the
last error). Any other answer (4xx, 3xx: the receiver refuses it, retrying will
not help) is dead at once. Only the status code of an answer is kept, never its
body. A URL the policy refuses at send time (:mod:`sinks.urls`: its host now
resolves to an internal address, DNS rebinding) is dead at once, and the
request goes to the address that was checked.

:class:`WebhookSender` runs each delivery as its own task: a slow or failing
receiver holds at most ``per_url_concurrency`` of the ``concurrency`` request
slots (and none while it waits to retry), so other receivers go on being
served. The notifications of one case to one recipient go one at a time, in
the order submitted (:mod:`sinks.ordering`). The durable state is the
:class:`~sinks.outbox.Outbox` row, so the consumer acks a notification once its
row is written, not once it is delivered.
"""

from __future__ import annotations

import asyncio
import base64
import fnmatch
import hashlib
import hmac
import logging
import random
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import orjson
from standardwebhooks import Webhook

from sinks.ordering import KeyedLocks, order_key
from sinks.outbox import Delivery, Outbox
from sinks.retry import backoff_delay
from sinks.urls import UrlPolicy, UrlRefused

log = logging.getLogger(__name__)

ID_HEADER = "webhook-id"
SIGNATURE_HEADER = "webhook-signature"
TIMESTAMP_HEADER = "webhook-timestamp"
DELIVERY_HEADER = "X-GridHub-Delivery"
SECRET_PREFIX = "whsec_"  # noqa: S105 - the Standard Webhooks marker, not a secret
EVENT_HEADER = "X-GridHub-Event"
USER_AGENT = "GridHub-Webhooks/1"
_RETRY_STATUS = frozenset({408, 429})

# The signing secrets of a delivery: (recipient, url) -> secrets, None when no
# subscription sends that recipient there any more.
SecretsFor = Callable[[str, str], "list[str] | None"]


@dataclass(frozen=True)
class WebhookConfig:
    """Who gets webhooks and how hard we try.

    ``subscriptions`` maps a recipient pattern (exact, or ``fnmatch`` style such
    as ``department:*``) to a URL; an exact match wins, then the first pattern in
    order. ``secret`` is the key the settings' subscriptions' secrets derive from
    (and the database's are sealed under); ``policy`` says where requests may go."""

    subscriptions: Mapping[str, str]
    secret: str
    policy: UrlPolicy = field(default_factory=UrlPolicy)
    max_attempts: int = 5
    base_delay: float = 0.5
    timeout: float = 5.0
    max_delay: float = 60.0
    jitter: float = 0.1
    concurrency: int = 32
    per_url_concurrency: int = 4
    max_in_flight: int = 10_000
    stale_after: float = 300.0
    sweep_seconds: float = 60.0

    def __post_init__(self) -> None:
        if self.subscriptions and not self.secret:
            raise ValueError("webhook subscriptions need a signing secret")
        for pattern, url in self.subscriptions.items():
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"webhook URL for {pattern!r} must be http(s): {url!r}")
            try:
                self.policy.check(url)
            except UrlRefused as exc:
                raise ValueError(f"webhook URL for {pattern!r} refused: {exc}") from exc
        if self.max_attempts < 1 or self.concurrency < 1 or self.per_url_concurrency < 1:
            raise ValueError("max_attempts, concurrency and per_url_concurrency must be >= 1")
        if self.timeout <= 0 or self.base_delay < 0 or self.max_delay < 0 or self.jitter < 0:
            raise ValueError("timeout must be > 0; delays and jitter >= 0")
        if self.stale_after <= self.timeout + self.max_delay:
            raise ValueError("stale_after must exceed timeout + max_delay")

    def url_for(self, recipient: str) -> str | None:
        exact = self.subscriptions.get(recipient)
        if exact is not None:
            return exact
        for pattern, url in self.subscriptions.items():
            if fnmatch.fnmatchcase(recipient, pattern):
                return url
        return None

    def settings_secrets(self, recipient: str, url: str) -> list[str] | None:
        """The secret of the settings' subscription that routes ``recipient`` to ``url``."""
        exact = self.subscriptions.get(recipient)
        if exact is not None:
            return [settings_secret(self.secret, recipient)] if exact == url else None
        for pattern, target in self.subscriptions.items():
            if target == url and fnmatch.fnmatchcase(recipient, pattern):
                return [settings_secret(self.secret, pattern)]
        return None

    def retry_delay(self, attempts: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait after the ``attempts``-th failed attempt."""
        return backoff_delay(attempts, self.base_delay, self.max_delay, self.jitter, rand)


# -- signing (Standard Webhooks) ----------------------------------------------------------


def new_secret() -> str:
    """A new subscription secret: ``whsec_`` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def settings_secret(key: str, pattern: str) -> str:
    """The secret of a subscription from the settings: derived from the settings'
    key and the recipient pattern, so each receiver has its own."""
    digest = hmac.new(key.encode("utf-8"), b"settings:" + pattern.encode(), hashlib.sha256)
    return SECRET_PREFIX + base64.b64encode(digest.digest()).decode("ascii")


def signature(secrets_: Iterable[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: one ``v1,<sig>`` per secret, space-separated."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    text = body.decode("utf-8")
    return " ".join(Webhook(secret).sign(msg_id, moment, text) for secret in secrets_)


def verify(secret: str, body: bytes, headers: Mapping[str, str]) -> Any:
    """What a receiver does (``standardwebhooks``): the parsed body, or
    ``standardwebhooks.webhooks.WebhookVerificationError``."""
    return Webhook(secret).verify(body, dict(headers))


def signed_request(
    payload: Mapping[str, Any], secrets_: Iterable[str], now: float | None = None
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one attempt, signed with every secret in ``secrets_``."""
    body = orjson.dumps(dict(payload), option=orjson.OPT_SORT_KEYS)
    msg_id = str(payload.get("id", ""))
    timestamp = int(time.time() if now is None else now)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        ID_HEADER: msg_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secrets_, msg_id, timestamp, body),
        DELIVERY_HEADER: msg_id,
        EVENT_HEADER: str(payload.get("event_type", "")),
    }
    return body, headers


def pinned(url: str, address: str) -> tuple[str, dict[str, str], dict[str, Any]]:
    """``url`` sent to ``address`` (the one the policy checked): the URL with the
    address as its host, the ``Host`` header and the TLS server name of the
    original, so no second name lookup can send the request elsewhere."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    literal = f"[{address}]" if ":" in address else address
    netloc = literal if parts.port is None else f"{literal}:{parts.port}"
    host_header = host if parts.port is None else f"{host}:{parts.port}"
    target = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    extensions: dict[str, Any] = {"sni_hostname": host} if parts.scheme == "https" else {}
    return target, {"Host": host_header}, extensions


# -- sending -----------------------------------------------------------------------------


class Outcome(Enum):
    DELIVERED = "delivered"
    RETRY = "retry"
    REFUSED = "refused"
    DEAD = "dead"


@dataclass(frozen=True)
class Attempt:
    outcome: Outcome
    error: str | None = None


def classify(status_code: int) -> Outcome:
    if 200 <= status_code < 300:
        return Outcome.DELIVERED
    if status_code >= 500 or status_code in _RETRY_STATUS:
        return Outcome.RETRY
    return Outcome.REFUSED


Sleep = Callable[[float], Awaitable[None]]


@dataclass
class WebhookSender:
    """Delivers :class:`~sinks.outbox.Delivery` items concurrently; see the module doc.

    ``submit`` starts a task per delivery (a delivery already in flight here is
    not started twice); ``drain`` waits for them; ``aclose`` cancels what is
    left (those rows stay ``pending`` and the stale sweep resumes them)."""

    config: WebhookConfig
    outbox: Outbox
    client: httpx.AsyncClient | None = None
    secrets_for: SecretsFor | None = None  # beside the settings' subscriptions
    sleep: Sleep = asyncio.sleep
    _tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    _slots: asyncio.Semaphore | None = None
    _per_url: dict[str, asyncio.Semaphore] = field(default_factory=dict)
    _owns_client: bool = False
    _room: asyncio.Event | None = None
    _order: KeyedLocks = field(default_factory=KeyedLocks)

    def _client(self) -> httpx.AsyncClient:
        if self.client is None:
            limits = httpx.Limits(
                max_connections=self.config.concurrency,
                max_keepalive_connections=self.config.concurrency,
            )
            self.client = httpx.AsyncClient(
                limits=limits, timeout=self.config.timeout, follow_redirects=False
            )
            self._owns_client = True
        return self.client

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    def submit(self, deliveries: Iterable[Delivery]) -> int:
        """Start the deliveries not already running here; returns how many started."""
        started = 0
        for delivery in deliveries:
            if delivery.notification_id in self._tasks:
                continue
            task = asyncio.create_task(
                self._run(delivery), name=f"webhook:{delivery.notification_id}"
            )
            self._tasks[delivery.notification_id] = task
            started += 1
        return started

    async def wait_for_room(self) -> None:
        """Back-pressure: return once fewer than ``max_in_flight`` deliveries run."""
        while len(self._tasks) >= self.config.max_in_flight:
            if self._room is None:
                self._room = asyncio.Event()
            self._room.clear()
            await self._room.wait()

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)

    async def aclose(self) -> None:
        for task in list(self._tasks.values()):
            task.cancel()
        await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)
        self._tasks.clear()
        if self._owns_client and self.client is not None:
            await self.client.aclose()
            self.client = None

    async def _run(self, delivery: Delivery) -> None:
        try:
            async with self._order.hold(order_key(delivery.recipient, delivery.payload)):
                await self.deliver(delivery)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("webhook delivery %s failed unexpectedly", delivery.notification_id)
        finally:
            self._tasks.pop(delivery.notification_id, None)
            if self._room is not None:
                self._room.set()

    async def deliver(self, delivery: Delivery) -> Outcome:
        """Attempt until delivered, refused or out of attempts; record the outcome
        (``DELIVERED`` or ``DEAD``)."""
        attempts = delivery.attempts
        while True:
            attempts += 1
            result = await self.attempt(delivery)
            if result.outcome is Outcome.DELIVERED:
                await self._record(self.outbox.mark_delivered, delivery.notification_id, attempts)
                return Outcome.DELIVERED
            error = result.error or "unknown error"
            if result.outcome is Outcome.REFUSED or attempts >= self.config.max_attempts:
                log.warning(
                    "webhook %s to %s dead after %d attempt(s): %s",
                    delivery.notification_id,
                    delivery.url,
                    attempts,
                    error,
                )
                await self._record(self.outbox.mark_dead, delivery.notification_id, attempts, error)
                return Outcome.DEAD
            await self._record(
                self.outbox.record_attempt, delivery.notification_id, attempts, error
            )
            await self.sleep(self.config.retry_delay(attempts))

    def _secrets(self, delivery: Delivery) -> list[str] | None:
        found = self.config.settings_secrets(delivery.recipient, delivery.url)
        if found is None and self.secrets_for is not None:
            found = self.secrets_for(delivery.recipient, delivery.url)
        return found

    async def attempt(self, delivery: Delivery) -> Attempt:
        """One signed POST, within the receiver's and the global request slots."""
        keys = self._secrets(delivery)
        if not keys:
            return Attempt(Outcome.REFUSED, "no subscription with a signing secret for this URL")
        try:
            addresses = await asyncio.to_thread(self.config.policy.resolve, delivery.url)
        except UrlRefused as exc:
            return Attempt(Outcome.REFUSED, f"URL refused: {exc}")
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.config.concurrency)
        per_url = self._per_url.setdefault(
            delivery.url, asyncio.Semaphore(self.config.per_url_concurrency)
        )
        async with per_url, self._slots:
            body, headers = signed_request(delivery.payload, keys)
            target, host, extensions = (
                pinned(delivery.url, addresses[0]) if addresses else (delivery.url, {}, {})
            )
            try:
                async with asyncio.timeout(self.config.timeout):
                    response = await self._client().post(
                        target, content=body, headers={**headers, **host}, extensions=extensions
                    )
            except (TimeoutError, httpx.TimeoutException):
                return Attempt(Outcome.RETRY, f"timeout after {self.config.timeout}s")
            except httpx.TransportError as exc:
                return Attempt(Outcome.RETRY, f"{type(exc).__name__}")
        outcome = classify(response.status_code)
        if outcome is Outcome.DELIVERED:
            return Attempt(outcome)
        # The answer's body is the receiver's, not ours to keep (nor to log).
        return Attempt(outcome, f"HTTP {response.status_code}")

    @staticmethod
    async def _record(fn: Callable[..., None], *args: Any) -> None:
        """Write an outcome; a database error leaves the row pending (the sweep
        re-sends it later with the same delivery id) rather than stopping sends."""
        try:
            await asyncio.to_thread(fn, *args)
        except Exception as exc:
            log.warning("could not record webhook outcome %s: %s", args[0], exc)
