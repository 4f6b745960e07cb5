"""POST /api/v1/cap: CAP 1.2 XML in, an org.gridhub.cap.alert CloudEvent out;
unsafe or unusable XML refused with the reason."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from gateway.app import create_app
from gateway.deps import GatewayDeps
from gateway.publisher import InMemoryPublisher
from routing.district import District
from schemas.cap import parse_cap
from schemas.envelope import CAP_ALERT, decode_kafka
from sinks.tokens import TokenStore
from tests.support.cap_samples import (
    ALERT_XML,
    BILLION_LAUGHS_XML,
    CANCEL_XML,
    SENDER,
    UPDATE_XML,
    XXE_XML,
)
from tests.support.gateway import TokenFactory, principal_of, with_stores

URL = "/api/v1/cap"
SOURCE = "urn:system:yingji"
CAP = {"content-type": "application/cap+xml"}


@pytest.fixture
def client(deps: GatewayDeps, engine: Engine, district: District) -> Iterator[TestClient]:
    with TestClient(create_app(with_stores(deps, engine))) as test_client:
        yield test_client


@pytest.fixture
def system(auth: TokenFactory) -> dict[str, str]:
    return {**auth("system", scope=SOURCE, name="应急中心"), **CAP}


def test_alert_becomes_a_cap_cloudevent(
    client: TestClient,
    system: dict[str, str],
    publisher: InMemoryPublisher,
    deps: GatewayDeps,
    tokens: TokenStore,
) -> None:
    response = client.post(URL, content=ALERT_XML.encode(), headers=system)

    assert response.status_code == 202, response.text
    assert response.json() == {
        "id": "YJ-2026-0815-001",
        "source": SOURCE,
        "msg_type": "Alert",
        "references": [],
        "status": "accepted",
    }
    [record] = publisher.records
    assert record.topic == deps.topics.intake
    assert record.key == SOURCE.encode()
    event = decode_kafka(record.value, record.headers)
    assert (event.id, event.source, event.type) == ("YJ-2026-0815-001", SOURCE, CAP_ALERT)
    assert event.datacontenttype == "application/cap+xml"
    assert event.data == ALERT_XML
    assert event.time == parse_cap(ALERT_XML).sent
    assert event.extensions["submittedby"] == principal_of(tokens, system)


@pytest.mark.parametrize(
    ("xml", "msg_type", "references"),
    [(UPDATE_XML, "Update", 1), (CANCEL_XML, "Cancel", 2)],
)
def test_update_and_cancel_name_their_references(
    client: TestClient, system: dict[str, str], xml: str, msg_type: str, references: int
) -> None:
    response = client.post(URL, content=xml.encode(), headers=system)
    assert response.status_code == 202, response.text
    assert response.json()["msg_type"] == msg_type
    assert len(response.json()["references"]) == references
    assert response.json()["references"][0].startswith(f"{SENDER},YJ-2026-0815-001,")


@pytest.mark.parametrize("xml", [UPDATE_XML, CANCEL_XML])
def test_update_or_cancel_with_references_only_is_accepted(
    client: TestClient, system: dict[str, str], publisher: InMemoryPublisher, xml: str
) -> None:
    """Valid CAP 1.2 (``<info>`` is optional): a bare Update or Cancel follows the
    alerts it references, so it needs no area of its own."""
    bare = xml[: xml.index("<info>")] + xml[xml.rindex("</info>") + len("</info>") :]
    response = client.post(URL, content=bare.encode(), headers=system)
    assert response.status_code == 202, response.text
    assert response.json()["references"]
    [record] = publisher.records
    assert decode_kafka(record.value, record.headers).data == bare


@pytest.mark.parametrize("content_type", ["application/xml", "text/xml; charset=utf-8"])
def test_plain_xml_content_types(client: TestClient, auth: TokenFactory, content_type: str) -> None:
    headers = {**auth("system", scope=SOURCE), "content-type": content_type}
    assert client.post(URL, content=ALERT_XML.encode(), headers=headers).status_code == 202


def test_admin_publishes_as_the_cap_sender(
    client: TestClient, auth: TokenFactory, publisher: InMemoryPublisher
) -> None:
    response = client.post(URL, content=ALERT_XML.encode(), headers={**auth("admin"), **CAP})
    assert response.status_code == 202
    assert response.json()["source"] == SENDER
    assert decode_kafka(publisher.records[0].value, []).source == SENDER


@pytest.mark.parametrize(
    ("xml", "needle"),
    [
        (XXE_XML, "DOCTYPE refused"),
        (BILLION_LAUGHS_XML, "DOCTYPE refused"),
        ("<alert><unclosed></alert>", "not well-formed"),
        ("<html xmlns='urn:oasis:names:tc:emergency:cap:1.2'/>", "root element"),
        ("<alert xmlns='urn:oasis:names:tc:emergency:cap:1.1'/>", "namespace"),
        ("", "empty"),
    ],
)
def test_unsafe_or_broken_xml_is_400_with_the_reason(
    client: TestClient,
    system: dict[str, str],
    publisher: InMemoryPublisher,
    xml: str,
    needle: str,
) -> None:
    response = client.post(URL, content=xml.encode(), headers=system)
    assert response.status_code == 400, response.text
    assert needle in response.json()["detail"]
    assert publisher.records == []


def test_missing_required_cap_element_is_400(client: TestClient, system: dict[str, str]) -> None:
    xml = ALERT_XML.replace("<sender>", "<!-- no sender --><x>").replace("</sender>", "</x>")
    response = client.post(URL, content=xml.encode(), headers=system)
    assert response.status_code == 400
    assert "sender" in response.json()["detail"]


def test_not_utf8_is_400(client: TestClient, system: dict[str, str]) -> None:
    response = client.post(URL, content=ALERT_XML.encode("gb18030"), headers=system)
    assert response.status_code == 400
    assert "UTF-8" in response.json()["detail"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (("<status>Actual</status>", "<status>Exercise</status>"), "status"),
        (("<msgType>Alert</msgType>", "<msgType>Ack</msgType>"), "msgType"),
        (("<msgType>Alert</msgType>", "<msgType>Update</msgType>"), "references"),
    ],
)
def test_messages_that_open_no_case_are_422(
    client: TestClient, system: dict[str, str], change: tuple[str, str], field: str
) -> None:
    response = client.post(URL, content=ALERT_XML.replace(*change).encode(), headers=system)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == field


def test_alert_without_area_is_422(client: TestClient, system: dict[str, str]) -> None:
    start, end = ALERT_XML.index("<info>"), ALERT_XML.rindex("</info>") + len("</info>")
    xml = ALERT_XML[:start] + ALERT_XML[end:]
    response = client.post(URL, content=xml.encode(), headers=system)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "area"


def test_content_type_and_roles(client: TestClient, auth: TokenFactory) -> None:
    body = ALERT_XML.encode()
    json_type = {**auth("system", scope=SOURCE), "content-type": "application/json"}
    assert client.post(URL, content=body, headers=json_type).status_code == 415
    assert client.post(URL, content=body, headers=CAP).status_code == 401
    assert client.post(URL, content=body, headers={**auth("operator"), **CAP}).status_code == 403
    unscoped = client.post(URL, content=body, headers={**auth("system"), **CAP})
    assert unscoped.status_code == 403
