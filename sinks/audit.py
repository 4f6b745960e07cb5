"""The audit log (DESIGN.md §8): who read personal data, and who changed tokens,
principals or webhook subscriptions — one sink for every audited act, written
where the act happens (the gateway's routes, the ``gridhub token`` and
``gridhub principal`` commands) and read by leaders and admins
(``GET /api/v1/audit``).

``actor`` is ``<role>:<principal id>`` for API callers and ``cli:<os user>`` for
the command line; ``action`` is a dotted verb (:data:`PERSONAL_DATA_READ`,
``token.create``, ``subscription.delete``, :data:`PERSONAL_DATA_SEARCH`...);
``detail`` never holds a secret or the personal data itself, only what was read
(field names) or changed; a phone number searched for is kept masked
(:func:`mask_phone`).
A write that fails raises: an act that must be audited does not go unrecorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, insert, select

from sinks.models import audit_log

PERSONAL_DATA_READ = "personal_data.read"
# Cases looked up by a reporter's phone number (operators only): target is the
# number masked, detail the cases it found.
PERSONAL_DATA_SEARCH = "personal_data.search"
TOKEN_CREATE = "token.create"  # noqa: S105 - an action name
TOKEN_REVOKE = "token.revoke"  # noqa: S105 - an action name
TOKEN_ROTATE = "token.rotate"  # noqa: S105 - an action name
PRINCIPAL_CREATE = "principal.create"
PRINCIPAL_DISABLE = "principal.disable"
SUBSCRIPTION_CREATE = "subscription.create"
SUBSCRIPTION_DELETE = "subscription.delete"
SUBSCRIPTION_ROTATE = "subscription.rotate_secret"
MAX_ENTRIES = 500


def mask_phone(phone: str) -> str:
    """A phone number as the log keeps it: enough to recognise, not to dial."""
    digits = phone.strip()
    return digits[:3] + "*" * max(len(digits) - 7, 0) + digits[-4:] if len(digits) > 7 else "***"


class AuditLog:
    """The ``audit_log`` table (SQLite and PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record(
        self,
        actor: str,
        action: str,
        target: str | None = None,
        *,
        actor_role: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(audit_log).values(
                    time=datetime.now(UTC),
                    actor=actor[:200],
                    actor_role=actor_role,
                    action=action,
                    target=target[:300] if target else None,
                    detail=dict(detail or {}),
                )
            )

    def entries(
        self,
        *,
        action: str | None = None,
        actor: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Newest first."""
        query = select(audit_log).order_by(audit_log.c.time.desc(), audit_log.c.id.desc())
        if action is not None:
            query = query.where(audit_log.c.action == action)
        if actor is not None:
            query = query.where(audit_log.c.actor == actor)
        if since is not None:
            query = query.where(audit_log.c.time >= since)
        query = query.limit(max(0, min(limit, MAX_ENTRIES)))
        with self.engine.connect() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]
