"""Which CAP messages the hub accepts (``schemas.cap.accept_cap``): the one rule
the gateway and the intake stage both apply."""

from __future__ import annotations

import pytest

from schemas.cap import CapRefused, accept_cap, follows_references_only

SENDER = "yingji@district-990101.example"
AREA = """<info><category>Safety</category><event>gas leak</event><urgency>Immediate</urgency>
<severity>Extreme</severity><certainty>Observed</certainty>
<area><areaDesc>demo</areaDesc><circle>39.9022,116.383 0.05</circle></area></info>"""
NO_AREA_INFO = """<info><category>Safety</category><event>gas leak</event>
<urgency>Immediate</urgency><severity>Extreme</severity><certainty>Observed</certainty></info>"""


def cap(
    msg_type: str = "Alert", *, body: str = AREA, status: str = "Actual", refs: str = ""
) -> str:
    references = f"<references>{refs}</references>" if refs else ""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>YJ-1</identifier>
<sender>{SENDER}</sender><sent>2026-08-15T14:30:00+08:00</sent><status>{status}</status>
<msgType>{msg_type}</msgType><scope>Public</scope>{references}{body}</alert>"""


REF = f"{SENDER},YJ-0,2026-08-15T14:00:00+08:00"


def refused(content_type: str | None, data: object) -> tuple[str, str]:
    with pytest.raises(CapRefused) as caught:
        accept_cap(content_type, data)
    return caught.value.field, caught.value.reason


def test_an_alert_with_an_area_is_accepted() -> None:
    alert = accept_cap("application/cap+xml", cap())
    assert alert.msg_type == "Alert"
    assert not follows_references_only(alert)


@pytest.mark.parametrize("msg_type", ["Update", "Cancel"])
def test_an_update_or_cancel_with_only_references_is_accepted(msg_type: str) -> None:
    bare = accept_cap("application/cap+xml", cap(msg_type, body="", refs=REF))
    assert bare.info == [] and follows_references_only(bare)
    no_area = accept_cap(None, cap(msg_type, body=NO_AREA_INFO, refs=REF))
    assert follows_references_only(no_area)
    with_area = accept_cap(None, cap(msg_type, refs=REF))
    assert not follows_references_only(with_area)


@pytest.mark.parametrize("msg_type", ["Update", "Cancel"])
def test_an_update_or_cancel_without_references_is_refused(msg_type: str) -> None:
    assert refused(None, cap(msg_type)) == (
        "data.references",
        f"required for msgType {msg_type}",
    )


def test_an_alert_without_an_area_is_refused() -> None:
    assert refused(None, cap(body=NO_AREA_INFO))[0] == "data.area"
    assert refused(None, cap(body=""))[0] == "data.area"


@pytest.mark.parametrize("msg_type", ["Ack", "Error"])
def test_acks_and_errors_report_no_incident(msg_type: str) -> None:
    assert refused(None, cap(msg_type, refs=REF))[0] == "data.msgType"


def test_only_actual_alerts() -> None:
    assert refused(None, cap(status="Exercise")) == (
        "data.status",
        "only Actual alerts open cases, not Exercise",
    )


def test_content_type_and_data_kind() -> None:
    assert refused("application/json", cap())[0] == "datacontenttype"
    assert refused("application/cap+xml; charset=utf-8", {"xml": "no"})[0] == "data"
    assert refused("text/xml", "<not-cap/>")[0] == "data"
    assert accept_cap("text/xml; charset=utf-8", cap()).identifier == "YJ-1"
