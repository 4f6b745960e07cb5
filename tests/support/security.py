"""The gateway as an attacker meets it (tests/security): wired as in production
with its in-process twins — a real SQLite database with seeded cases, real
principals and tokens behind the production token cache and revocation list,
the demo district, every store (Open311, media, audit, subscriptions under a
sealed key), the URL policy and rate limits of production (``dev=False``), and
an in-memory bus that answers case commands like the case agent."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from sqlalchemy import Engine

from gateway.app import create_app
from gateway.deps import GatewayDeps
from gateway.open311.config import Open311Config
from gateway.ratelimit import RateLimits
from routing.district import District
from schemas.envelope import INBOUND_TYPES
from schemas.topics import TopicNames
from sinks.audit import AuditLog
from sinks.db import make_engine, upgrade
from sinks.media import MediaIndex
from sinks.queries import CaseQueries
from sinks.secretbox import SecretBox
from sinks.subscriptions import SubscriptionStore
from sinks.tokens import CachedTokens, Revocations, TokenRecord, TokenStore
from sinks.urls import UrlPolicy
from tests.support.cap_samples import SENDER
from tests.support.gateway import WEBHOOK_KEY, with_stores
from tests.support.seeded_gateway import AgentPublisher, case_work_deps, seed

TOPICS = TopicNames.with_prefix("security.")
EMERGENCY = "urn:district:emergency-centre"
IOT = "urn:vendor:iot-sensors"
CITYMGMT = "urn:district:citymgmt"
IOT_SENDER = "ops@iot-vendor.example"
PUBLIC_URL = "https://hub.district.example/open311/v2"


@dataclass
class Attacked:
    """One gateway under attack, and the handles a test needs."""

    app: FastAPI
    deps: GatewayDeps
    engine: Engine
    store: TokenStore
    revocations: Revocations
    publisher: AgentPublisher

    def token(self, role: str, scope: str | None = None, name: str | None = None, **kw: Any) -> str:
        plaintext, _ = self.record(role, scope, name, **kw)
        return plaintext

    def record(
        self, role: str, scope: str | None = None, name: str | None = None, **kw: Any
    ) -> tuple[str, TokenRecord]:
        return self.store.create(role, name or f"sec-{role}", scope, **kw)

    def bearer(self, role: str, scope: str | None = None, **kw: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role, scope, **kw)}"}

    def system(self, source: str, types: tuple[str, ...], senders: tuple[str, ...] = ()) -> str:
        return self.token("system", source, event_types=types, cap_senders=senders)


def attacked(tmp: Path, *, rate_limits: RateLimits | None = None, **changes: Any) -> Attacked:
    url = f"sqlite:///{tmp / 'attacked.db'}"
    upgrade(url)
    engine = make_engine(url)
    store = TokenStore(engine, "security-tests-pepper-of-32-chars!")
    revocations = Revocations()
    publisher = AgentPublisher(commands_topic=TOPICS.case_commands)
    base = GatewayDeps(
        queries=CaseQueries(engine),
        tokens=CachedTokens(store, revocations),
        district=District.load(),
        publisher=publisher,
        topics=TOPICS,
    )
    deps = case_work_deps(base, engine, tmp, publisher=publisher, rate_limits=rate_limits)
    policy = UrlPolicy(dev=False)
    deps = with_stores(
        deps,
        engine,
        subscriptions=SubscriptionStore(engine, SecretBox(WEBHOOK_KEY), policy),
        audit=AuditLog(engine),
        media_index=MediaIndex(engine),
        webhook_policy=policy,
        docs=False,
        open311=Open311Config(changeset="2026-01-05T08:00:00Z", public_url=PUBLIC_URL),
        max_batch_events=50,
    )
    deps = replace(deps, **changes)
    seed(engine)
    return Attacked(create_app(deps), deps, engine, store, revocations, publisher)


ALL_TYPES = INBOUND_TYPES
EMERGENCY_SENDERS = (SENDER,)
