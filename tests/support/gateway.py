"""Helpers for the gateway tests: headers carrying real tokens, a phone report's
body, and deps with every optional store on the test database."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from sqlalchemy import Engine

from gateway.deps import GatewayDeps
from gateway.open311.config import Open311Config
from sinks.audit import AuditLog
from sinks.feedback import FeedbackStore
from sinks.open311 import ServiceRequestQueries
from sinks.public import PublicFigures
from sinks.queries import BriefQueries
from sinks.redelivery import Redelivery
from sinks.subscriptions import SubscriptionStore
from sinks.tokens import TokenStore
from tests.support.demo_district import CATEGORY, INSIDE

# ``auth("operator", scope=None, name=None)`` -> headers with a fresh real token.
TokenFactory = Callable[..., dict[str, str]]


def token_factory(tokens: TokenStore) -> TokenFactory:
    """Headers carrying a fresh real token of the role asked for."""

    def make(role: str, scope: str | None = None, name: str | None = None) -> dict[str, str]:
        plaintext, _record = tokens.create(role, name or f"test-{role}", scope=scope)
        return {"Authorization": f"Bearer {plaintext}"}

    return make


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
        audit=AuditLog(engine),
        subscriptions=SubscriptionStore(engine),
        briefs=BriefQueries(engine),
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
