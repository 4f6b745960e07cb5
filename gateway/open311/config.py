"""How ``/open311/v2/`` describes itself (discovery) and formats what it returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gateway.defaults import OPEN311_CONTACT
from sinks.briefs import DEFAULT_TZ

OPEN311_SOURCE = "urn:gridhub:open311"  # the CloudEvents source of requests posted here


@dataclass(frozen=True)
class Open311Config:
    jurisdiction_id: str = ""  # empty: one jurisdiction, the parameter is ignored
    contact: str = OPEN311_CONTACT
    key_service: str = (
        "API keys are GridHub tokens of role system or grid_worker, issued by the "
        "centre's administrator (gridhub token create)."
    )
    changeset: str = "1970-01-01T00:00:00Z"
    endpoint_type: Literal["production", "test"] = "production"
    public_url: str = ""  # from settings (never the Host header); empty: a relative URL
    tz: str = DEFAULT_TZ  # offsets of the datetimes returned
