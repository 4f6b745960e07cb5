"""Everything the gateway uses, built by the composition root and passed to ``create_app``."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Request

from gateway.ports import CaseReader, DistrictData, TokenVerifier
from gateway.publisher import EventPublisher
from schemas.topics import TopicNames

# Fixed forever: Idempotency-Key -> report id must map the same way across
# restarts and processes, or a retry after a restart would become a new report.
IDEMPOTENCY_NAMESPACE = uuid.UUID("6f1d3c2e-8a4b-5e7f-9c0d-1b2a3f4e5d6c")

DEFAULT_MAX_BODY_BYTES = 256 * 1024


@dataclass(frozen=True)
class GatewayDeps:
    queries: CaseReader
    tokens: TokenVerifier
    district: DistrictData
    publisher: EventPublisher
    topics: TopicNames
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    source: str = "urn:gridhub:gateway"
    idempotency_namespace: uuid.UUID = IDEMPOTENCY_NAMESPACE
    ready_check: Callable[[], bool] | None = None


def get_deps(request: Request) -> GatewayDeps:
    """FastAPI dependency: the deps ``create_app`` stored on the application."""
    deps = request.app.state.deps
    if not isinstance(deps, GatewayDeps):  # pragma: no cover - wiring error
        raise RuntimeError("create_app() did not store GatewayDeps on app.state")
    return deps
