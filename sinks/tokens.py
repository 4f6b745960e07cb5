"""Principals and their API bearer tokens: create, verify, revoke, rotate, list
(DESIGN.md §5 roles, §8 identity).

A principal is who calls: a unique id, a display name, a role, a scope and, for
a system, the CloudEvents types and CAP senders it may publish. Everything that
joins on "who" (inboxes, scorecards, timeline actors, idempotency keys,
``submitted_by``) joins on the principal id, never on the name, which may repeat.

A token is ``gh_`` + 32 random bytes (URL-safe base64) and belongs to one
principal. Only its HMAC-SHA256 under the server secret is stored, so a leaked
table (or backup) yields no usable token, and verification is a lookup by that
hash, which leaks nothing about the plaintext through timing. The plaintext is
returned once. Tokens of people expire (``person_ttl``, 90 days by default);
system tokens do not. Disabling a principal ends all its tokens.

:class:`CachedTokens` is the gateway's view: see its docstring for how a
revocation reaches every gateway within seconds, database outages included.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert, or_, select, update

from sinks.db import is_database_outage
from sinks.models import api_tokens, principals

ROLES = frozenset({"grid_worker", "operator", "department", "system", "leader", "admin", "open311"})
# Roles held by people: their tokens expire.
PEOPLE = frozenset({"grid_worker", "operator", "department", "leader", "admin"})
TOKEN_PREFIX = "gh_"  # noqa: S105 - a public marker, not a secret
DEFAULT_PERSON_TTL = timedelta(days=90)
_MAX_TOKEN_LENGTH = 256
# A verified token is answered from memory for this long whatever else is known.
TOKEN_CACHE_SECONDS = 2.0
TOKEN_CACHE_ENTRIES = 10_000
# ...and for up to this long while the revocation list is fresh (re-read then, so
# a disabled principal or an expiry is seen even without a revocation record).
TOKEN_MEMORY_SECONDS = 300.0
# The revocation list is "fresh" while one of its sources (the revocation topic
# every gateway follows, the database sweep) confirmed it complete this recently.
REVOCATIONS_FRESH_SECONDS = 3.0
# Unknown tokens are remembered as unknown this long (a flood of bad tokens is
# not a flood of database queries).
UNKNOWN_TOKEN_SECONDS = 30.0

# Check a scope when a principal is created: raises ValueError naming the problem.
ScopeCheck = Callable[[str, str | None], None]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Principal:
    id: str
    name: str
    role: str
    scope: str | None
    event_types: tuple[str, ...]
    cap_senders: tuple[str, ...]
    created_at: datetime
    disabled_at: datetime | None

    @property
    def active(self) -> bool:
        return self.disabled_at is None


@dataclass(frozen=True)
class TokenRecord:
    """A token with its principal's identity (``name`` is the display name)."""

    id: str
    principal_id: str
    name: str
    role: str
    scope: str | None
    created_at: datetime
    revoked_at: datetime | None
    expires_at: datetime | None = None
    event_types: tuple[str, ...] = ()
    cap_senders: tuple[str, ...] = ()
    disabled_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None and self.disabled_at is None

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at


_PRINCIPAL_COLUMNS = (
    principals.c.id,
    principals.c.name,
    principals.c.role,
    principals.c.scope,
    principals.c.event_types,
    principals.c.cap_senders,
    principals.c.created_at,
    principals.c.disabled_at,
)
_TOKEN_COLUMNS = (
    api_tokens.c.id,
    api_tokens.c.principal_id,
    principals.c.name,
    principals.c.role,
    principals.c.scope,
    api_tokens.c.created_at,
    api_tokens.c.revoked_at,
    api_tokens.c.expires_at,
    principals.c.event_types,
    principals.c.cap_senders,
    principals.c.disabled_at,
)


def _principal(row: Any) -> Principal:
    return Principal(
        id=row.id,
        name=row.name,
        role=row.role,
        scope=row.scope,
        event_types=tuple(row.event_types or ()),
        cap_senders=tuple(row.cap_senders or ()),
        created_at=row.created_at,
        disabled_at=row.disabled_at,
    )


def _record(row: Any) -> TokenRecord:
    return TokenRecord(
        id=row.id,
        principal_id=row.principal_id,
        name=row.name,
        role=row.role,
        scope=row.scope,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        expires_at=row.expires_at,
        event_types=tuple(row.event_types or ()),
        cap_senders=tuple(row.cap_senders or ()),
        disabled_at=row.disabled_at,
    )


def _well_formed(plaintext: str) -> bool:
    return plaintext.startswith(TOKEN_PREFIX) and len(plaintext) <= _MAX_TOKEN_LENGTH


class UnknownPrincipal(LookupError):
    """No principal with that id, or it is disabled."""


class TokenStore:
    """Principals and tokens in the database, tokens hashed with ``secret``
    (settings' token_secret). ``scope_check`` validates a new principal's scope
    against the district (``schemas.policy.scope_problem``, wired by the
    composition root); ``person_ttl`` is how long a person's token lives."""

    def __init__(
        self,
        engine: Engine,
        secret: str,
        *,
        person_ttl: timedelta | None = DEFAULT_PERSON_TTL,
        scope_check: ScopeCheck | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        if not secret:
            raise ValueError("token secret must not be empty")
        self.engine = engine
        self._key = secret.encode("utf-8")
        self.person_ttl = person_ttl
        self.scope_check = scope_check
        self._clock = clock

    def hash_token(self, plaintext: str) -> str:
        return hmac.new(self._key, plaintext.encode("utf-8"), hashlib.sha256).hexdigest()

    # -- principals ---------------------------------------------------------------

    def create_principal(
        self,
        role: str,
        name: str,
        scope: str | None = None,
        *,
        event_types: Iterable[str] = (),
        cap_senders: Iterable[str] = (),
    ) -> Principal:
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; expected one of {', '.join(sorted(ROLES))}")
        if not name.strip():
            raise ValueError("a principal's name must not be empty")
        scope = (scope or "").strip() or None
        if self.scope_check is not None:
            self.scope_check(role, scope)
        principal = Principal(
            id=secrets.token_hex(8),
            name=name.strip(),
            role=role,
            scope=scope,
            event_types=tuple(dict.fromkeys(t.strip() for t in event_types if t.strip())),
            cap_senders=tuple(dict.fromkeys(s.strip() for s in cap_senders if s.strip())),
            created_at=self._clock(),
            disabled_at=None,
        )
        with self.engine.begin() as conn:
            conn.execute(
                insert(principals).values(
                    **{
                        **principal.__dict__,
                        "event_types": list(principal.event_types),
                        "cap_senders": list(principal.cap_senders),
                    }
                )
            )
        return principal

    def principal(self, principal_id: str) -> Principal | None:
        query = select(*_PRINCIPAL_COLUMNS).where(principals.c.id == principal_id)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return _principal(row) if row is not None else None

    def principals(self) -> builtins.list[Principal]:
        query = select(*_PRINCIPAL_COLUMNS).order_by(principals.c.created_at, principals.c.id)
        with self.engine.connect() as conn:
            return [_principal(row) for row in conn.execute(query)]

    def names(self, ids: Collection[str]) -> dict[str, str]:
        """Display names by principal id."""
        if not ids:
            return {}
        query = select(principals.c.id, principals.c.name).where(principals.c.id.in_(list(ids)))
        with self.engine.connect() as conn:
            return {str(row.id): str(row.name) for row in conn.execute(query)}

    def disable_principal(self, principal_id: str) -> bool:
        """Disable a principal (every token of it stops working); False if unknown
        or disabled already."""
        now = self._clock()
        with self.engine.begin() as conn:
            done = conn.execute(
                update(principals)
                .where(principals.c.id == principal_id, principals.c.disabled_at.is_(None))
                .values(disabled_at=now)
            ).rowcount
            conn.execute(
                update(api_tokens)
                .where(api_tokens.c.principal_id == principal_id, api_tokens.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
        return bool(done)

    # -- tokens -------------------------------------------------------------------

    def create(
        self,
        role: str,
        name: str,
        scope: str | None = None,
        *,
        event_types: Iterable[str] = (),
        cap_senders: Iterable[str] = (),
        expires_in: timedelta | None = None,
    ) -> tuple[str, TokenRecord]:
        """A new principal with its first token: ``(plaintext, record)``."""
        principal = self.create_principal(
            role, name, scope, event_types=event_types, cap_senders=cap_senders
        )
        return self.issue(principal.id, expires_in=expires_in)

    def issue(
        self, principal_id: str, *, expires_in: timedelta | None = None
    ) -> tuple[str, TokenRecord]:
        """A new token for an active principal. A person's token expires after
        ``expires_in`` (default ``person_ttl``); a system's only with ``expires_in``."""
        principal = self.principal(principal_id)
        if principal is None or not principal.active:
            raise UnknownPrincipal(f"no active principal {principal_id!r}")
        now = self._clock()
        ttl = expires_in if expires_in is not None else None
        if ttl is None and principal.role in PEOPLE:
            ttl = self.person_ttl
        plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
        record = TokenRecord(
            id=secrets.token_hex(6),
            principal_id=principal.id,
            name=principal.name,
            role=principal.role,
            scope=principal.scope,
            created_at=now,
            revoked_at=None,
            expires_at=now + ttl if ttl is not None else None,
            event_types=principal.event_types,
            cap_senders=principal.cap_senders,
        )
        with self.engine.begin() as conn:
            conn.execute(
                insert(api_tokens).values(
                    id=record.id,
                    principal_id=record.principal_id,
                    name=record.name,
                    role=record.role,
                    scope=record.scope,
                    token_hash=self.hash_token(plaintext),
                    created_at=record.created_at,
                    expires_at=record.expires_at,
                    revoked_at=None,
                )
            )
        return plaintext, record

    def _active_query(self) -> Any:
        now = self._clock()
        return (
            select(*_TOKEN_COLUMNS)
            .join(principals, principals.c.id == api_tokens.c.principal_id)
            .where(
                api_tokens.c.revoked_at.is_(None),
                principals.c.disabled_at.is_(None),
                or_(api_tokens.c.expires_at.is_(None), api_tokens.c.expires_at > now),
            )
        )

    def verify(self, plaintext: str) -> TokenRecord | None:
        """The active token's record, or None when unknown, malformed, revoked,
        expired or its principal disabled."""
        if not _well_formed(plaintext):
            return None
        query = self._active_query().where(api_tokens.c.token_hash == self.hash_token(plaintext))
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return _record(row) if row is not None else None

    def still_valid(self, record: TokenRecord) -> bool:
        """Whether the token behind ``record`` is still active (by id)."""
        query = self._active_query().where(api_tokens.c.id == record.id)
        with self.engine.connect() as conn:
            return conn.execute(query).first() is not None

    def get(self, token_id: str) -> TokenRecord | None:
        """A token by id, whatever its state."""
        query = (
            select(*_TOKEN_COLUMNS)
            .join(principals, principals.c.id == api_tokens.c.principal_id)
            .where(api_tokens.c.id == token_id)
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return _record(row) if row is not None else None

    def revoke(self, token_id: str) -> bool:
        """Revoke an active token; False when it is unknown or already revoked."""
        stmt = (
            update(api_tokens)
            .where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
            .values(revoked_at=self._clock())
        )
        with self.engine.begin() as conn:
            return bool(conn.execute(stmt).rowcount)

    def rotate(self, token_id: str) -> tuple[str, TokenRecord]:
        """A new token for the principal of ``token_id``, which is revoked."""
        old = self.get(token_id)
        if old is None or old.revoked_at is not None:
            raise UnknownPrincipal(f"no active token {token_id!r}")
        plaintext, record = self.issue(old.principal_id)
        self.revoke(token_id)
        return plaintext, record

    def list(self, principal_id: str | None = None) -> builtins.list[TokenRecord]:
        """Every token (of one principal), revoked ones included, oldest first."""
        query = (
            select(*_TOKEN_COLUMNS)
            .join(principals, principals.c.id == api_tokens.c.principal_id)
            .order_by(api_tokens.c.created_at, api_tokens.c.id)
        )
        if principal_id is not None:
            query = query.where(api_tokens.c.principal_id == principal_id)
        with self.engine.connect() as conn:
            return [_record(row) for row in conn.execute(query)]

    def revoked_since(self, since: datetime) -> builtins.list[tuple[str, str]]:
        """``(token id, principal id)`` of every token revoked at or after ``since``."""
        query = select(api_tokens.c.id, api_tokens.c.principal_id).where(
            api_tokens.c.revoked_at >= since
        )
        with self.engine.connect() as conn:
            return [(str(row.id), str(row.principal_id)) for row in conn.execute(query)]


# -- the gateway's view: remembered tokens and the revocations it knows of ------------


class Revocations:
    """The revocations this process knows of, and how fresh that knowledge is.

    Two sources feed it: the revocation topic every gateway follows
    (``gateway.revocations``: ``gridhub token revoke`` and friends publish there
    besides writing the database) and a sweep of the database's recently revoked
    tokens. Each calls :meth:`confirm` when it has read everything there was to
    read; the list is *fresh* while one of them did so in the last
    ``fresh_seconds``. Thread-safe."""

    def __init__(
        self,
        fresh_seconds: float = REVOCATIONS_FRESH_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.fresh_seconds = fresh_seconds
        self._clock = clock
        self._tokens: set[str] = set()
        self._principals: set[str] = set()
        self._confirmed: dict[str, float] = {}
        self._lock = threading.Lock()

    def revoke_token(self, token_id: str) -> None:
        with self._lock:
            self._tokens.add(token_id)

    def disable_principal(self, principal_id: str) -> None:
        with self._lock:
            self._principals.add(principal_id)

    def confirm(self, source: str, at: float | None = None) -> None:
        """``source`` has read every revocation made before ``at`` (default now)."""
        with self._lock:
            self._confirmed[source] = self._clock() if at is None else at

    def fresh(self, now: float | None = None) -> bool:
        moment = self._clock() if now is None else now
        with self._lock:
            return any(moment - at < self.fresh_seconds for at in self._confirmed.values())

    def revoked(self, record: TokenRecord) -> bool:
        with self._lock:
            return record.id in self._tokens or record.principal_id in self._principals

    def __len__(self) -> int:
        return len(self._tokens) + len(self._principals)


@dataclass
class _Entry:
    verified_at: float
    record: TokenRecord


@dataclass
class CachedTokens:
    """:meth:`TokenStore.verify` remembered: a gateway checks the same few tokens
    thousands of times a second, and the database lookup was most of a
    request's cost.

    A remembered token is answered without the database while it is neither
    revoked (:class:`Revocations`) nor expired, and either it was verified less
    than ``ttl_seconds`` ago or the revocation list is fresh (then for up to
    ``memory_seconds``). Otherwise it is verified again; if the database is away
    then, the remembered token still works only while the revocation list is
    fresh — the revocation topic keeps it fresh through a database outage — and
    a token this process does not remember is refused (the outage error
    propagates: 503). So a revocation stops a token here within
    ``max(ttl_seconds, fresh_seconds)`` plus the followers' poll interval, with
    or without the database, and with neither the database nor the topic a
    remembered token stops after ``fresh_seconds``.

    Unknown tokens are remembered as unknown for ``unknown_seconds``; at most
    ``max_entries`` tokens are kept (least recently used leave first). Entries
    are keyed by the token's hash, never the plaintext. Thread-safe."""

    store: TokenStore
    revocations: Revocations = field(default_factory=Revocations)
    ttl_seconds: float = TOKEN_CACHE_SECONDS
    memory_seconds: float = TOKEN_MEMORY_SECONDS
    unknown_seconds: float = UNKNOWN_TOKEN_SECONDS
    max_entries: int = TOKEN_CACHE_ENTRIES
    clock: Callable[[], float] = time.monotonic
    wall: Callable[[], datetime] = utc_now
    _entries: OrderedDict[str, _Entry] = field(default_factory=OrderedDict)
    _unknown: OrderedDict[str, float] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.ttl_seconds < 0 or self.max_entries < 1:
            raise ValueError("ttl_seconds must be >= 0 and max_entries >= 1")

    def _usable(self, entry: _Entry, now: float) -> bool:
        record = entry.record
        return not self.revocations.revoked(record) and not record.expired(self.wall())

    def _answer(self, key: str, now: float) -> tuple[TokenRecord | None, _Entry | None]:
        """(record answered from memory, entry kept for an outage); a revoked or
        expired token is forgotten and remembered as unknown."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
        if entry is None:
            return None, None
        if not self._usable(entry, now):
            with self._lock:
                self._entries.pop(key, None)
                self._unknown[key] = now
            return None, None
        age = now - entry.verified_at
        if age < self.ttl_seconds or (age < self.memory_seconds and self.revocations.fresh(now)):
            return entry.record, entry
        return None, entry

    def remembered(self, plaintext: str) -> TokenRecord | None:
        """The record of a token answerable from memory now, without I/O."""
        if not _well_formed(plaintext):
            return None
        record, _ = self._answer(self.store.hash_token(plaintext), self.clock())
        return record

    def known_unknown(self, plaintext: str) -> bool:
        """True for a token looked up lately and found unknown (no I/O)."""
        if not _well_formed(plaintext):
            return True
        key, now = self.store.hash_token(plaintext), self.clock()
        with self._lock:
            at = self._unknown.get(key)
        return at is not None and now - at < self.unknown_seconds

    def verify(self, plaintext: str) -> TokenRecord | None:
        if not _well_formed(plaintext):
            return None
        key = self.store.hash_token(plaintext)
        now = self.clock()
        record, entry = self._answer(key, now)
        if record is not None:
            return record
        if self.known_unknown(plaintext):
            return None
        try:
            record = self.store.verify(plaintext)
        except Exception as exc:
            if not is_database_outage(exc):
                raise
            # The database is away: a token verified before still works while the
            # revocation list is fresh; any other is refused (the error propagates).
            if entry is not None and self.revocations.fresh(now):
                return entry.record
            raise
        with self._lock:
            if record is None or self.revocations.revoked(record):
                self._entries.pop(key, None)
                self._unknown[key] = now
                self._unknown.move_to_end(key)
                while len(self._unknown) > self.max_entries:
                    self._unknown.popitem(last=False)
                return None
            self._entries[key] = _Entry(now, record)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return record

    def still_valid(self, record: TokenRecord) -> bool:
        """Whether a token verified earlier (an open SSE stream's) still holds:
        not revoked, not expired and, unless the revocation list is fresh, still
        active in the database (False while neither can say)."""
        if self.revocations.revoked(record) or record.expired(self.wall()):
            return False
        if self.revocations.fresh():
            return True
        try:
            return self.store.still_valid(record)
        except Exception as exc:
            if not is_database_outage(exc):
                raise
            return False

    def forget(self) -> None:
        """Drop every entry (e.g. after revoking in this process)."""
        with self._lock:
            self._entries.clear()
            self._unknown.clear()
