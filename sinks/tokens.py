"""API bearer tokens: create, verify, revoke, list (DESIGN.md §5 roles, §8).

A token is ``gh_`` + 32 random bytes (URL-safe base64). Only its
HMAC-SHA256 under the server secret is stored, so a leaked table (or backup)
yields no usable token, and verification is a lookup by that hash, which
leaks nothing about the plaintext through timing. The plaintext is returned
once, by :meth:`TokenStore.create`.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, insert, select, update

from sinks.db import is_database_outage
from sinks.models import api_tokens

ROLES = frozenset({"grid_worker", "operator", "department", "system", "leader", "admin"})
TOKEN_PREFIX = "gh_"  # noqa: S105 - a public marker, not a secret
_MAX_TOKEN_LENGTH = 256
# How long a process may keep answering "valid" for a token revoked elsewhere
# (``gridhub token revoke`` writes the database, not the gateway's memory).
TOKEN_CACHE_SECONDS = 5.0
TOKEN_CACHE_ENTRIES = 10_000
# How long a verified token outlives its cache entry while the database is away.
TOKEN_STALE_SECONDS = 15 * 60.0


@dataclass(frozen=True)
class TokenRecord:
    id: str
    name: str
    role: str
    scope: str | None
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def _record(row: Any) -> TokenRecord:
    return TokenRecord(
        id=row.id,
        name=row.name,
        role=row.role,
        scope=row.scope,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


_COLUMNS = (
    api_tokens.c.id,
    api_tokens.c.name,
    api_tokens.c.role,
    api_tokens.c.scope,
    api_tokens.c.created_at,
    api_tokens.c.revoked_at,
)


class TokenStore:
    """Tokens in the ``api_tokens`` table, hashed with ``secret`` (settings' token_secret)."""

    def __init__(self, engine: Engine, secret: str) -> None:
        if not secret:
            raise ValueError("token secret must not be empty")
        self.engine = engine
        self._key = secret.encode("utf-8")

    def hash_token(self, plaintext: str) -> str:
        return hmac.new(self._key, plaintext.encode("utf-8"), hashlib.sha256).hexdigest()

    def create(self, role: str, name: str, scope: str | None = None) -> tuple[str, TokenRecord]:
        """A new token: ``(plaintext, record)``. The plaintext is not stored anywhere."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; expected one of {', '.join(sorted(ROLES))}")
        if not name.strip():
            raise ValueError("token name must not be empty")
        plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
        record = TokenRecord(
            id=secrets.token_hex(6),
            name=name.strip(),
            role=role,
            scope=scope or None,
            created_at=datetime.now(UTC),
            revoked_at=None,
        )
        with self.engine.begin() as conn:
            conn.execute(
                insert(api_tokens).values(
                    id=record.id,
                    name=record.name,
                    role=record.role,
                    scope=record.scope,
                    token_hash=self.hash_token(plaintext),
                    created_at=record.created_at,
                    revoked_at=None,
                )
            )
        return plaintext, record

    def verify(self, plaintext: str) -> TokenRecord | None:
        """The active token's record, or None when unknown, malformed or revoked."""
        if not plaintext.startswith(TOKEN_PREFIX) or len(plaintext) > _MAX_TOKEN_LENGTH:
            return None
        query = select(*_COLUMNS).where(
            api_tokens.c.token_hash == self.hash_token(plaintext), api_tokens.c.revoked_at.is_(None)
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return _record(row) if row is not None else None

    def revoke(self, token_id: str) -> bool:
        """Revoke an active token; False when it is unknown or already revoked."""
        stmt = (
            update(api_tokens)
            .where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC))
        )
        with self.engine.begin() as conn:
            return bool(conn.execute(stmt).rowcount)

    def list(self) -> builtins.list[TokenRecord]:
        """Every token, revoked ones included, oldest first."""
        query = select(*_COLUMNS).order_by(api_tokens.c.created_at, api_tokens.c.id)
        with self.engine.connect() as conn:
            return [_record(row) for row in conn.execute(query)]


class CachedTokens:
    """:meth:`TokenStore.verify` remembered for ``ttl_seconds``: a gateway checks the
    same few tokens thousands of times a second, and the database lookup was most
    of a request's cost.

    The bound: a token revoked in the database stops working in this process at
    most ``ttl_seconds`` later (each hit is re-read from the database once its
    entry is that old). Only valid tokens are remembered, so a new token works at
    once and unknown tokens cannot fill the cache. While the database cannot be
    reached, a token verified in the last ``stale_seconds`` still works. At most
    ``max_entries``
    tokens are kept, the least recently used leave first. Entries are keyed by the
    token's hash, never the plaintext. Thread-safe: FastAPI verifies in its pool.
    """

    def __init__(
        self,
        store: TokenStore,
        ttl_seconds: float = TOKEN_CACHE_SECONDS,
        max_entries: int = TOKEN_CACHE_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
        stale_seconds: float = TOKEN_STALE_SECONDS,
    ) -> None:
        if ttl_seconds < 0 or max_entries < 1:
            raise ValueError("ttl_seconds must be >= 0 and max_entries >= 1")
        self.store = store
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self.stale_seconds = stale_seconds
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, TokenRecord]] = OrderedDict()
        self._lock = threading.Lock()

    def remembered(self, plaintext: str) -> TokenRecord | None:
        """The record of a token verified less than ``ttl_seconds`` ago, without I/O."""
        if not plaintext.startswith(TOKEN_PREFIX) or len(plaintext) > _MAX_TOKEN_LENGTH:
            return None
        return self._fresh(self.store.hash_token(plaintext), self._clock())

    def _fresh(self, key: str, now: float) -> TokenRecord | None:
        with self._lock:
            hit = self._entries.get(key)
            if hit is None or now - hit[0] >= self.ttl_seconds:
                return None
            self._entries.move_to_end(key)
            return hit[1]

    def verify(self, plaintext: str) -> TokenRecord | None:
        if not plaintext.startswith(TOKEN_PREFIX) or len(plaintext) > _MAX_TOKEN_LENGTH:
            return None
        key = self.store.hash_token(plaintext)
        now = self._clock()
        hit = self._fresh(key, now)
        if hit is not None:
            return hit
        try:
            record = self.store.verify(plaintext)
        except Exception as exc:
            if not is_database_outage(exc):
                raise
            # The database is away: a token this process verified in the last
            # ``stale_seconds`` keeps working (nothing can be revoked meanwhile),
            # so phones can still file reports, which only need Kafka.
            with self._lock:
                stale = self._entries.get(key)
            if stale is not None and now - stale[0] < self.stale_seconds:
                return stale[1]
            raise
        with self._lock:
            if record is None:
                self._entries.pop(key, None)
            else:
                self._entries[key] = (now, record)
                self._entries.move_to_end(key)
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
        return record

    def forget(self) -> None:
        """Drop every entry (e.g. after revoking in this process)."""
        with self._lock:
            self._entries.clear()
