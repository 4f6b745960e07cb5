"""Everything the gateway uses, built by the composition root and passed to
``create_app``; a route asks for it with :data:`Deps`."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Protocol

from fastapi import Depends, Request

from gateway.defaults import (
    ACTION_TIMEOUT,
    EVENTS_MAX_BATCH,
    EVENTS_MAX_EVENT_BYTES,
    MAX_BODY_BYTES,
    PUBLIC_CACHE_SECONDS,
    SSE_HEARTBEAT,
)
from gateway.feed import CaseFeed
from gateway.media import MediaStore
from gateway.open311.config import OPEN311_SOURCE, Open311Config
from gateway.ports import (
    AuditSink,
    BriefReader,
    CaseReader,
    DeliveryAdmin,
    DistrictData,
    FeedbackRecorder,
    InboxMarker,
    MediaOwners,
    PublicReader,
    ServiceRequestReader,
    StatsReader,
    SubscriptionAdmin,
    TokenVerifier,
)
from gateway.publiccache import TtlCache
from gateway.publisher import EventPublisher
from gateway.ratelimit import RateLimits
from gateway.results import CommandResults
from schemas.topics import TopicNames
from sinks.briefs import DEFAULT_TZ as DISTRICT_TZ
from sinks.urls import UrlPolicy

# Fixed forever: Idempotency-Key -> report id must map the same way across
# restarts and processes, or a retry after a restart would become a new report.
IDEMPOTENCY_NAMESPACE = uuid.UUID("6f1d3c2e-8a4b-5e7f-9c0d-1b2a3f4e5d6c")

GATEWAY_SOURCE = "urn:gridhub:gateway"  # the CloudEvents source of phone reports
MEDIA_UPLOAD_PATH = "/api/v1/media"
MULTIPART_OVERHEAD = 64 * 1024  # boundaries and part headers around an upload


class Follower(Protocol):
    """A Kafka follower that runs with the application (command results, case feed)."""

    async def start(self) -> None: ...
    async def stop(self) -> None: ...


class DistrictFollower(Follower, Protocol):
    """``gridhub.district_sync.DistrictSync``: takes newly imported district data."""

    def versions(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class GatewayDeps:
    """The ports first, then the optional parts (a route whose part is missing
    answers 503), then limits and names."""

    queries: CaseReader
    tokens: TokenVerifier
    district: DistrictData
    publisher: EventPublisher
    topics: TopicNames
    command_results: CommandResults | None = None  # answers to case actions
    case_feed: CaseFeed | None = None  # SSE of case events
    media: MediaStore | None = None  # photo uploads
    stats: StatsReader | None = None
    briefs: BriefReader | None = None  # daily briefs on demand
    service_requests: ServiceRequestReader | None = None  # Open311 reads
    subscriptions: SubscriptionAdmin | None = None  # admin webhook subscriptions
    public: PublicReader | None = None  # /api/v1/public/..., /public/
    feedback: FeedbackRecorder | None = None  # reporters' ratings through /f/{token}
    feedback_secret: str = ""  # checks feedback links (the worker signs them)
    deliveries: DeliveryAdmin | None = None  # dead webhook/channel deliveries, re-sent
    district_sync: DistrictFollower | None = None  # applies newly imported district data
    inbox_marker: InboxMarker | None = None  # marks inbox messages read
    rate_limits: RateLimits | None = None  # per role, per address, uploads, SSE; None: none
    audit: AuditSink | None = None  # who read personal data (and changed what)
    media_index: MediaOwners | None = None  # who uploaded which photo
    revocation_followers: tuple[Follower, ...] = ()  # keep the token revocations fresh
    ready_check: Callable[[], bool] | None = None
    webhook_signing: bool = False  # the worker has a webhook secret to sign with
    webhook_policy: UrlPolicy = field(default_factory=UrlPolicy)  # where webhooks may go
    docs: bool = True  # /docs (Swagger UI); off outside dev
    metrics_address: tuple[str, int] | None = None  # /metrics, apart from the API port
    open311: Open311Config = field(default_factory=Open311Config)
    source: str = GATEWAY_SOURCE
    open311_source: str = OPEN311_SOURCE
    idempotency_namespace: uuid.UUID = IDEMPOTENCY_NAMESPACE
    max_body_bytes: int = MAX_BODY_BYTES
    max_batch_events: int = EVENTS_MAX_BATCH
    max_event_bytes: int = EVENTS_MAX_EVENT_BYTES
    action_timeout: float = ACTION_TIMEOUT  # seconds to wait for the case agent's answer
    sse_heartbeat: float = SSE_HEARTBEAT  # seconds between ``: ping`` comments
    tz: str = DISTRICT_TZ  # the district's days, weeks and months
    public_cache: TtlCache = field(default_factory=lambda: TtlCache(PUBLIC_CACHE_SECONDS))

    @property
    def followers(self) -> tuple[Follower, ...]:
        """The followers to start with the application (and stop, in reverse)."""
        parts = (
            self.district_sync,
            self.command_results,
            self.case_feed,
            *self.revocation_followers,
        )
        return tuple(part for part in parts if part is not None)

    def body_limit(self, path: str) -> int:
        """The request body limit for ``path`` (uploads get the media limit)."""
        if self.media is not None and path == MEDIA_UPLOAD_PATH:
            return max(self.max_body_bytes, self.media.max_bytes + MULTIPART_OVERHEAD)
        return self.max_body_bytes


def deps_of(request: Request) -> GatewayDeps:
    """The deps ``create_app`` stored on the application of ``request``."""
    deps = request.app.state.deps
    if not isinstance(deps, GatewayDeps):  # pragma: no cover - wiring error
        raise RuntimeError("create_app() did not store GatewayDeps on app.state")
    return deps


async def get_deps(request: Request) -> GatewayDeps:
    """FastAPI dependency: :func:`deps_of` (async: a plain function would cost a
    thread-pool hop on every request)."""
    return deps_of(request)


Deps = Annotated[GatewayDeps, Depends(get_deps)]
