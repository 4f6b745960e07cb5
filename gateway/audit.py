"""What the gateway writes to the audit log (``sinks.audit``): the reads of
personal data — a case or report answered with a reporter's name or phone, and
cases looked up by a reporter's phone."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from gateway.deps import GatewayDeps
from gateway.ports import TokenInfo
from sinks.audit import PERSONAL_DATA_READ, PERSONAL_DATA_SEARCH, mask_phone


def actor(token: TokenInfo) -> str:
    return f"{token.role}:{token.principal_id}"


def audit_personal_read(
    deps: GatewayDeps, token: TokenInfo, target: str, reports: Iterable[Mapping[str, Any]]
) -> None:
    """Record that ``token`` read the reporters of ``reports`` (those that have one)."""
    if deps.audit is None:
        return
    read = [str(r.get("id")) for r in reports if r.get("reporter")]
    if read:
        deps.audit.record(
            actor(token),
            PERSONAL_DATA_READ,
            target,
            actor_role=token.role,
            detail={"fields": ["reporter"], "reports": read[:50]},
        )


def audit_phone_search(
    deps: GatewayDeps, token: TokenInfo, phone: str, case_ids: Iterable[str]
) -> None:
    """Record that ``token`` looked cases up by a reporter's phone (kept masked)."""
    if deps.audit is None:
        return
    deps.audit.record(
        actor(token),
        PERSONAL_DATA_SEARCH,
        mask_phone(phone),
        actor_role=token.role,
        detail={"fields": ["reporter.phone"], "cases": list(case_ids)[:50]},
    )
