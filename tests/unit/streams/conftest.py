from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from routing.district import District
from schemas.envelope import REPORT_SUBMITTED, Envelope

GRID = "990101001001001"
WHEN = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def district() -> District:
    return District.load()


def report_envelope(**data: Any) -> Envelope:
    body: dict[str, Any] = {
        "category": "manhole_cover",
        "description": "井盖缺失",
        "grid_code": GRID,
        **data,
    }
    return Envelope(
        id=str(uuid.uuid4()),
        source="urn:test:phone",
        type=REPORT_SUBMITTED,
        time=WHEN,
        datacontenttype="application/json",
        data={k: v for k, v in body.items() if v is not None},
    )
