"""What the gateway needs from sinks and routing, as structural types.

The composition root passes the real ``sinks``/``routing`` objects; these
protocols only name the slice of them the gateway calls, so the gateway can be
tested (and type-checked) against exactly that slice.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from datetime import date, datetime
from typing import Any, Literal, Protocol

from routing.placement import Placement, PlacementRefused
from routing.sla import WorkCalendar
from schemas.periods import Period
from schemas.reports import GeoPoint
from sinks.briefs import Brief, BriefNames
from sinks.windows import WindowRule


class TokenInfo(Protocol):
    """A verified bearer token (``sinks.tokens.TokenRecord``): the token's id, and
    its principal's id, display name, role, scope and (systems) what it may publish."""

    @property
    def id(self) -> str: ...
    @property
    def principal_id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def role(self) -> str: ...
    @property
    def scope(self) -> str | None: ...
    @property
    def event_types(self) -> tuple[str, ...]: ...
    @property
    def cap_senders(self) -> tuple[str, ...]: ...


class TokenVerifier(Protocol):
    """``sinks.tokens.TokenStore`` or ``CachedTokens`` as the gateway uses it."""

    def verify(self, plaintext: str) -> TokenInfo | None: ...

    def still_valid(self, record: Any) -> bool: ...


class MediaOwners(Protocol):
    """``sinks.media.MediaIndex``."""

    def record(self, media_id: str, principal_id: str, content_type: str, size: int) -> None: ...
    def owners(self, media_ids: Collection[str]) -> dict[str, str]: ...
    def cases_using(self, media_id: str) -> list[dict[str, Any]]: ...


class AuditSink(Protocol):
    """``sinks.audit.AuditLog``: the one place audited acts are written and read."""

    def record(
        self,
        actor: str,
        action: str,
        target: str | None = None,
        *,
        actor_role: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None: ...

    def entries(
        self,
        *,
        action: str | None = None,
        actor: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]: ...


class CaseReader(Protocol):
    """``sinks.queries.CaseQueries`` as the gateway uses it."""

    def list_cases(
        self,
        *,
        state: str | None = None,
        category: str | None = None,
        grid_code: str | None = None,
        department: str | None = None,
        priority: str | None = None,
        limit: int = 50,
        offset: int = 0,
        street: str | None = None,
        sla_state: str | None = None,
        q: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        grid_prefixes: Sequence[str] | None = None,
        states: Sequence[str] | None = None,
    ) -> tuple[list[dict[str, Any]], int]: ...

    def get_case(self, case_id: str, include_personal: bool) -> dict[str, Any] | None: ...

    def get_case_brief(self, case_id: str) -> dict[str, Any] | None: ...

    def get_report(self, report_id: str, include_personal: bool) -> dict[str, Any] | None: ...

    def inbox(
        self,
        recipients: Sequence[str],
        *,
        reports_by: str | None = None,
        unread_only: bool = False,
        limit: int = 50,
    ) -> list[dict[str, Any]]: ...

    def orders(
        self, *, state: str | None = None, department: str | None = None, limit: int = 200
    ) -> list[dict[str, Any]]: ...

    def extensions(
        self, *, state: str | None = None, department: str | None = None, limit: int = 200
    ) -> list[dict[str, Any]]: ...

    def search(
        self,
        *,
        q: str | None = None,
        phone: str | None = None,
        grid_codes: Sequence[str] = (),
        department: str | None = None,
        limit: int = 50,
    ) -> list[dict[str, Any]]: ...

    def inbox_item(
        self, notification_id: str, recipients: Sequence[str], *, reports_by: str | None = None
    ) -> dict[str, Any] | None: ...


class InboxMarker(Protocol):
    """``sinks.outbox.Outbox``: marks one of a recipient's messages read."""

    def mark_read(self, notification_id: str, recipient: str) -> bool: ...


class StatsReader(Protocol):
    """``sinks.stats.CaseStats`` as the gateway uses it."""

    def queue(self, *, department: str | None = None) -> dict[str, Any]: ...
    def sla(self, *, department: str | None = None) -> list[dict[str, Any]]: ...
    def hotspots(
        self, since: datetime, until: datetime, *, limit: int = 20
    ) -> list[dict[str, Any]]: ...
    def departments(self, start: datetime, end: datetime) -> list[dict[str, Any]]: ...
    def grid_workers(self, start: datetime, end: datetime) -> list[dict[str, Any]]: ...
    def areas(
        self, start: datetime, end: datetime, level: Literal["street", "community"]
    ) -> list[dict[str, Any]]: ...
    def windows(
        self,
        rule: WindowRule,
        *,
        hours: int = 24,
        grid_code: str | None = None,
        category: str | None = None,
        source: str | None = None,
    ) -> dict[str, Any]: ...


class PublicReader(Protocol):
    """``sinks.public.PublicFigures``: figures anyone may read (no personal data)."""

    def scorecards(self, period: Period) -> dict[str, Any]: ...
    def counts(self, period: Period) -> dict[str, Any]: ...
    def stories(self, period: Period, limit: int = 50) -> list[dict[str, Any]]: ...


class FeedbackRecorder(Protocol):
    """``sinks.feedback.FeedbackStore``: one rating per report."""

    def record(
        self, report_id: str, case_id: str, score: int, comment: str | None, now: datetime
    ) -> bool: ...
    def forget(self, report_id: str) -> None: ...
    def get(self, report_id: str) -> dict[str, Any] | None: ...


class DeliveryAdmin(Protocol):
    """``sinks.redelivery.Redelivery``: dead deliveries, and sending them again."""

    def list(
        self, kind: Literal["webhook", "channel"], status: str | None, limit: int
    ) -> list[dict[str, Any]]: ...
    def resend(self, kind: Literal["webhook", "channel"], delivery_id: str) -> bool: ...


class BriefReader(Protocol):
    """``sinks.queries.BriefQueries``: the brief of one local day, week or month, read now."""

    def daily_brief(self, day: date, tz: str, names: BriefNames) -> Brief: ...

    def period_brief(self, period: Period, names: BriefNames) -> Brief: ...


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
        limit: int = 100,
        public: Collection[str] | None = None,
    ) -> list[dict[str, Any]]: ...

    def get(self, case_id: str, public: Collection[str] | None = None) -> dict[str, Any] | None: ...

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
    @property
    def secret(self) -> str | None: ...
    @property
    def rotating_until(self) -> datetime | None: ...


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

    def rotate(self, subscription_id: str) -> SubscriptionInfo | None: ...


# -- the district: taxonomy, grids, departments, placement (routing.district.District) --


class CategoryInfo(Protocol):
    """``routing.taxonomy.Category``: a category of the taxonomy (an Open311 service)."""

    @property
    def code(self) -> str: ...
    @property
    def name_zh(self) -> str: ...
    @property
    def name_en(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def default_priority(self) -> str: ...
    @property
    def keywords(self) -> Sequence[str]: ...
    @property
    def public(self) -> bool: ...


class TaxonomyInfo(Protocol):
    """``routing.taxonomy.Taxonomy``."""

    def __iter__(self) -> Iterator[CategoryInfo]: ...
    def __contains__(self, code: object) -> bool: ...
    def get(self, code: str) -> CategoryInfo | None: ...
    def as_json(self) -> list[dict[str, Any]]: ...


class GridInfo(Protocol):
    """``routing.grids.Grid``."""

    @property
    def code(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def street_name(self) -> str: ...
    @property
    def community_name(self) -> str: ...


class GridsInfo(Protocol):
    """``routing.grids.GridRegistry`` (placing a point is :meth:`DistrictData.place`)."""

    def __iter__(self) -> Iterator[GridInfo]: ...
    def get(self, code: str) -> GridInfo | None: ...
    def geojson(self) -> dict[str, Any]: ...
    def streets(self) -> dict[str, str]: ...
    def named(self, text: str) -> Sequence[GridInfo]: ...


class DepartmentInfo(Protocol):
    """``routing.district.Department``."""

    @property
    def name_zh(self) -> str: ...
    @property
    def name_en(self) -> str: ...


class DistrictData(Protocol):
    """``routing.district.District``: the taxonomy, the grids, the departments, and
    placing a reported place on a grid (:mod:`routing.placement`, the rule every
    door shares with the intake stage)."""

    @property
    def taxonomy(self) -> TaxonomyInfo: ...
    @property
    def grids(self) -> GridsInfo: ...
    @property
    def departments(self) -> Mapping[str, DepartmentInfo]: ...
    @property
    def calendar(self) -> WorkCalendar: ...
    @property
    def sla_scale(self) -> float: ...
    @property
    def hotspots(self) -> WindowRule: ...

    def place(self, location: GeoPoint | None, grid_code: str | None) -> Placement: ...

    def place_many(
        self, places: Sequence[tuple[GeoPoint | None, str | None]]
    ) -> list[Placement | PlacementRefused]: ...
