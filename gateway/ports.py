"""What the gateway needs from sinks and routing, as structural types.

The composition root passes the real ``sinks``/``routing`` objects; these
protocols only name the slice of them the gateway calls, so the gateway can be
tested (and type-checked) against exactly that slice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol


class TokenInfo(Protocol):
    """A verified bearer token (``sinks.tokens.TokenRecord``)."""

    @property
    def id(self) -> object: ...
    @property
    def name(self) -> str: ...
    @property
    def role(self) -> str: ...
    @property
    def scope(self) -> str | None: ...


class TokenVerifier(Protocol):
    """``sinks.tokens.TokenStore`` as the gateway uses it."""

    def verify(self, plaintext: str) -> TokenInfo | None: ...


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


class StatsReader(Protocol):
    """``sinks.stats.CaseStats`` as the gateway uses it."""

    def queue(self, *, department: str | None = None) -> dict[str, Any]: ...
    def sla(self, *, department: str | None = None) -> list[dict[str, Any]]: ...
    def hotspots(
        self, since: datetime, until: datetime, *, limit: int = 20
    ) -> list[dict[str, Any]]: ...
    def departments(self, start: datetime, end: datetime) -> list[dict[str, Any]]: ...
    def grid_workers(self, start: datetime, end: datetime) -> list[dict[str, Any]]: ...


class GridInfo(Protocol):
    @property
    def code(self) -> str: ...


class GridLookup(Protocol):
    def locate(self, lat: float, lon: float) -> GridInfo | None: ...
    def get(self, code: str) -> GridInfo | None: ...
    def geojson(self) -> dict[str, Any]: ...


class CategoryLookup(Protocol):
    def __contains__(self, code: object) -> bool: ...
    def as_json(self) -> Any: ...


class DistrictData(Protocol):
    """``routing.district.District``: the taxonomy and grid registry."""

    @property
    def taxonomy(self) -> CategoryLookup: ...
    @property
    def grids(self) -> GridLookup: ...
    @property
    def departments(self) -> Mapping[str, object]: ...
