"""What the doors for other systems need (CloudEvents and CAP over HTTP, Open311,
webhook subscriptions), built by the composition root and carried in
``GatewayDeps.systems``. Structural types, as in :mod:`gateway.ports`."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

DEFAULT_MAX_BATCH_EVENTS = 500
DEFAULT_MAX_EVENT_BYTES = 64 * 1024
OPEN311_SOURCE = "urn:gridhub:open311"


class ServiceRequestReader(Protocol):
    """``sinks.open311.ServiceRequestQueries``."""

    def find(
        self,
        *,
        ids: Sequence[str] | None = None,
        categories: Collection[str] | None = None,
        states: Collection[str] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 1000,
    ) -> list[dict[str, Any]]: ...

    def get(self, case_id: str) -> dict[str, Any] | None: ...

    def case_of_report(self, report_id: str) -> str | None: ...


class SubscriptionInfo(Protocol):
    """``sinks.subscriptions.SubscriptionRecord``."""

    @property
    def id(self) -> str: ...
    @property
    def recipient(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def active(self) -> bool: ...
    @property
    def description(self) -> str | None: ...
    @property
    def created_by(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...


class SubscriptionAdmin(Protocol):
    """``sinks.subscriptions.SubscriptionStore``; ``create`` raises
    ``sinks.subscriptions.DuplicateSubscription`` or ``ValueError``."""

    def create(
        self,
        recipient: str,
        url: str,
        *,
        created_by: str,
        active: bool = True,
        description: str | None = None,
    ) -> SubscriptionInfo: ...

    def list(self, *, active_only: bool = False) -> Sequence[SubscriptionInfo]: ...

    def get(self, subscription_id: str) -> SubscriptionInfo | None: ...

    def delete(self, subscription_id: str) -> bool: ...


@dataclass(frozen=True)
class Open311Config:
    """Service discovery and formatting of ``/open311/v2/``."""

    jurisdiction_id: str = ""  # empty: one jurisdiction, the parameter is ignored
    contact: str = "GridHub social-governance information centre (社会治理信息中心)"
    key_service: str = (
        "API keys are GridHub tokens of role system or grid_worker, issued by the "
        "centre's administrator (gridhub token create)."
    )
    changeset: str = "1970-01-01T00:00:00Z"
    endpoint_type: Literal["production", "test"] = "production"
    public_url: str = ""  # empty: the URL the client called
    tz: str = "Asia/Shanghai"  # offsets of the datetimes returned


@dataclass(frozen=True)
class SystemsDeps:
    """Optional parts: a route whose part is missing answers 503."""

    service_requests: ServiceRequestReader | None = None
    subscriptions: SubscriptionAdmin | None = None
    webhook_signing: bool = False  # the worker has a webhook secret to sign with
    open311: Open311Config = field(default_factory=Open311Config)
    open311_source: str = OPEN311_SOURCE
    max_batch_events: int = DEFAULT_MAX_BATCH_EVENTS
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES
