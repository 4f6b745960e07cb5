"""A 数字城管 case (``org.gridhub.citymgmt.case``): the platform's 部件/事件 code
mapped to a category through ``routing/data/citymgmt_codes.yaml``; the case
number is the report's external reference and, with the source that sent it,
the seed of its id, so a case the platform republishes is the same report and
no other source can claim (or pre-empt) the platform's case numbers."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from routing.district import District
from routing.provenance import CITYMGMT, natural_key
from routing.reports import REPORT_ID_NAMESPACE, build_report
from schemas.envelope import Envelope
from schemas.reports import Report
from schemas.sources import CitymgmtCase
from streams.logic.intake.common import IntakeError, data_model, place


def citymgmt_report_id(source: str, case_number: str) -> str:
    """One 数字城管 case number of one source is one report, however often it is republished."""
    return str(uuid.uuid5(REPORT_ID_NAMESPACE, natural_key(CITYMGMT, source, case_number)))


def normalise_citymgmt(envelope: Envelope, district: District, received_at: datetime) -> Report:
    case = data_model(envelope, CitymgmtCase)
    row = district.sources.citymgmt(case.kind, case.category_code)
    if row is None:
        raise IntakeError(
            f"data.category_code: unknown {case.kind} code {case.category_code!r} "
            "(not in the 数字城管 code table)"
        )
    placement = place(district, case.location, case.grid_code)
    attributes: dict[str, Any] = {
        "case_number": case.case_number,
        "citymgmt_code": case.category_code,
        "citymgmt_kind": case.kind,
        "citymgmt_name": row.name_zh,
    }
    if case.status is not None:
        attributes["citymgmt_status"] = case.status
    return build_report(
        envelope,
        received_at,
        report_id=citymgmt_report_id(envelope.source, case.case_number),
        category=row.category,
        description=case.description,
        location=placement.location,
        grid_code=placement.grid_code,
        occurred_at=case.occurred_at,
        attributes=attributes,
        reporter=case.reporter,
        external_ref=case.case_number,
    )
