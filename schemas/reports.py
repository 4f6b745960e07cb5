"""Reports: what a grid worker (or any source) submits, and the one normalised
``Report`` every source becomes (DESIGN.md §2 Collect)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

GRID_CODE_PATTERN = r"^\d{15}$"
CATEGORY_PATTERN = r"^[a-z][a-z0-9_.-]{0,63}$"
MAX_DESCRIPTION = 2000
MAX_MEDIA = 9
MEDIA_ID_PATTERN = r"^[0-9a-f]{32}$"  # an id POST /api/v1/media gave
MediaId = Annotated[str, Field(pattern=MEDIA_ID_PATTERN)]


def community_of(grid_code: str) -> str:
    """The 12-digit community code (district 6 + street 3 + community 3)."""
    return grid_code[:12]


def street_of(grid_code: str) -> str:
    """The 9-digit street code (district 6 + street 3)."""
    return grid_code[:9]


class GeoPoint(BaseModel):
    """A point; ``gcj02`` (as Chinese phone map SDKs give) is converted on intake."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    crs: Literal["wgs84", "gcj02"] = "wgs84"


class Reporter(BaseModel):
    """Personal data: shown only to roles that need it (DESIGN.md §8). An
    ``anonymous`` reporter is hidden from everyone, operators included: the hub
    keeps the phone only to send the feedback link (:func:`shown_reporter`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = Field(default=None, max_length=64)
    phone: str | None = Field(default=None, pattern=r"^\+?[0-9 -]{3,20}$")
    anonymous: bool = Field(default=False, description="hide name and phone from every reader")


def shown_reporter(reporter: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The reporter as a reader who may see personal data sees it: all of it, or
    only that it is anonymous."""
    if not reporter:
        return None
    if reporter.get("anonymous"):
        return {"anonymous": True}
    return {key: value for key, value in reporter.items() if key != "anonymous"}


class ReportSubmission(BaseModel):
    """The body of ``POST /api/v1/reports`` and the data of ``org.gridhub.report.submitted``."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    category: str = Field(pattern=CATEGORY_PATTERN, description="taxonomy code")
    description: str = Field(min_length=1, max_length=MAX_DESCRIPTION)
    location: GeoPoint | None = None
    grid_code: str | None = Field(default=None, pattern=GRID_CODE_PATTERN)
    occurred_at: datetime | None = None
    media: list[MediaId] = Field(default_factory=list, max_length=MAX_MEDIA)
    report_id: UUID | None = Field(default=None, description="client UUID, stable across retries")
    reporter: Reporter | None = None

    @model_validator(mode="after")
    def _needs_a_place(self) -> ReportSubmission:
        if self.location is None and self.grid_code is None:
            raise ValueError("location or grid_code is required")
        return self


class Report(BaseModel):
    """One normalised report, whatever its source; the value on ``gridhub.reports``."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(min_length=1, max_length=128)
    source: str = Field(description="CloudEvents source of the inbound event")
    source_event_id: str
    source_type: str = Field(description="CloudEvents type of the inbound event")
    category: str = Field(pattern=CATEGORY_PATTERN)
    description: str = Field(max_length=MAX_DESCRIPTION)
    location: GeoPoint | None = Field(default=None, description="WGS84 after normalisation")
    grid_code: str = Field(pattern=GRID_CODE_PATTERN)
    community_code: str
    street_code: str
    occurred_at: datetime
    received_at: datetime
    media: list[str] = Field(default_factory=list)
    reporter: Reporter | None = None
    external_ref: str | None = None
    submitted_by: str | None = Field(default=None, description="token name of the submitter")
    attributes: dict[str, Any] = Field(default_factory=dict, description="source-specific facts")


def encode_report(report: Report) -> bytes:
    """A report as the value of its ``gridhub.reports`` record (its JSON): the
    gateway publishes its own reports there, the intake stage everyone else's."""
    return report.model_dump_json().encode()


def report_key(report: Report) -> bytes:
    """The key of its ``gridhub.reports`` record: the community, so a community's
    reports and case commands share a partition (DESIGN.md §5)."""
    return report.community_code.encode()
