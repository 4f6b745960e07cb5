"""Everything the gateway uses, built by the composition root and passed to ``create_app``."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Request

from gateway.feed import CaseFeed
from gateway.media import MediaStore
from gateway.ports import CaseReader, DistrictData, StatsReader, TokenVerifier
from gateway.publisher import EventPublisher
from gateway.ratelimit import RateLimiter
from gateway.results import CommandResults
from gateway.systems import SystemsDeps
from schemas.topics import TopicNames

# Fixed forever: Idempotency-Key -> report id must map the same way across
# restarts and processes, or a retry after a restart would become a new report.
IDEMPOTENCY_NAMESPACE = uuid.UUID("6f1d3c2e-8a4b-5e7f-9c0d-1b2a3f4e5d6c")

DEFAULT_MAX_BODY_BYTES = 256 * 1024
MEDIA_UPLOAD_PATH = "/api/v1/media"
MULTIPART_OVERHEAD = 64 * 1024  # boundaries and part headers around an upload


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
    # -- operator/department API, phones, live queue, stats (issue 4) -------------
    command_results: CommandResults | None = None  # answers to case actions
    case_feed: CaseFeed | None = None  # SSE of case events
    media: MediaStore | None = None  # photo uploads
    stats: StatsReader | None = None
    rate_limiter: RateLimiter | None = None  # per token; None: unlimited
    action_timeout: float = 3.0  # seconds to wait for the case agent's answer
    sse_heartbeat: float = 15.0  # seconds between ``: ping`` comments
    # -- other systems (issue 4): CloudEvents/CAP over HTTP, Open311, webhooks -----
    systems: SystemsDeps = SystemsDeps()

    def body_limit(self, path: str) -> int:
        """The request body limit for ``path`` (uploads get the media limit)."""
        if self.media is not None and path == MEDIA_UPLOAD_PATH:
            return max(self.max_body_bytes, self.media.max_bytes + MULTIPART_OVERHEAD)
        return self.max_body_bytes


async def get_deps(request: Request) -> GatewayDeps:
    """FastAPI dependency: the deps ``create_app`` stored on the application
    (async: a plain function would cost a thread-pool hop on every request)."""
    deps = request.app.state.deps
    if not isinstance(deps, GatewayDeps):  # pragma: no cover - wiring error
        raise RuntimeError("create_app() did not store GatewayDeps on app.state")
    return deps
