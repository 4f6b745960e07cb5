"""Helpers for the gateway tests: headers carrying real tokens, a phone report's
body, and deps with every optional store on the test database."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from sqlalchemy import Engine

from gateway.deps import GatewayDeps
from gateway.open311.config import Open311Config
from schemas.envelope import INBOUND_TYPES
from sinks.audit import AuditLog
from sinks.feedback import FeedbackStore
from sinks.media import MediaIndex
from sinks.open311 import ServiceRequestQueries
from sinks.public import PublicFigures
from sinks.queries import BriefQueries
from sinks.redelivery import Redelivery
from sinks.secretbox import SecretBox
from sinks.subscriptions import SubscriptionStore
from sinks.tokens import TokenRecord, TokenStore
from tests.support.cap_samples import CAP_SENDERS
from tests.support.demo_district import CATEGORY, INSIDE

# The key the test gateway seals webhook secrets under.
WEBHOOK_KEY = "test-webhook-key-of-thirty-two-chars"
# ``auth("operator", scope=None, name=None)`` -> headers with a fresh real token.
TokenFactory = Callable[..., dict[str, str]]


def token_factory(tokens: TokenStore) -> TokenFactory:
    """Headers carrying a fresh real token of the role asked for (a system token
    may publish every inbound type, as the CAP senders of the samples)."""

    def make(role: str, scope: str | None = None, name: str | None = None) -> dict[str, str]:
        plaintext, _record = system_or_token(tokens, role, name or f"test-{role}", scope)
        return {"Authorization": f"Bearer {plaintext}"}

    return make


def principal_of(tokens: TokenStore, headers: dict[str, str]) -> str:
    """The principal id of the token in ``headers``."""
    record = tokens.verify(headers["Authorization"].split()[1])
    assert record is not None, "not a valid token"
    return record.principal_id


def system_or_token(
    tokens: TokenStore, role: str, name: str, scope: str | None = None
) -> tuple[str, TokenRecord]:
    """``tokens.create``; a system principal gets every inbound type and the
    sample CAP senders (tests/support/cap_samples.py)."""
    if role != "system":
        return tokens.create(role, name, scope=scope)
    return tokens.create(
        role, name, scope=scope, event_types=INBOUND_TYPES, cap_senders=CAP_SENDERS
    )


def report_body(**overrides: object) -> dict[str, object]:
    """A valid ``POST /api/v1/reports`` body, in the demo district."""
    body: dict[str, object] = {
        "category": CATEGORY,
        "description": "井盖缺失 manhole cover missing",
        "location": dict(INSIDE),
        "reporter": {"name": "张三", "phone": "13800000000"},
    }
    body.update(overrides)
    return body


def with_stores(deps: GatewayDeps, engine: Engine, **changes: Any) -> GatewayDeps:
    """``deps`` with the stores on ``engine`` (Open311 requests, webhook
    subscriptions, daily briefs, the audit log, public figures, reporters'
    feedback, dead deliveries), webhook signing on, a fixed Open311 changeset and
    small CloudEvents batch limits; ``changes`` override any of them."""
    stores = replace(
        deps,
        service_requests=ServiceRequestQueries(engine),
        subscriptions=SubscriptionStore(engine, SecretBox(WEBHOOK_KEY)),
        briefs=BriefQueries(engine),
        audit=AuditLog(engine),
        media_index=MediaIndex(engine),
        public=PublicFigures(engine, [c.code for c in deps.district.taxonomy if c.public]),
        feedback=FeedbackStore(engine),
        feedback_secret="test-feedback-secret",
        deliveries=Redelivery(engine),
        webhook_signing=True,
        open311=Open311Config(changeset="2026-01-05T08:00:00Z"),
        max_batch_events=5,
        max_event_bytes=8 * 1024,
    )
    return replace(stores, **changes)
