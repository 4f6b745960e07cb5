"""POST /api/v1/events: the CloudEvents HTTP binding (binary, structured, batch),
with messages made by the official ``cloudevents`` SDK; scopes, limits, errors."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from cloudevents.core.bindings import http as ce_http
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from gateway.app import create_app
from gateway.deps import GatewayDeps
from gateway.publisher import InMemoryPublisher
from routing.district import District
from schemas.envelope import (
    BATCH_CONTENT_TYPE,
    CAP_ALERT,
    CITYMGMT_CASE,
    REPORT_SUBMITTED,
    SENSOR_ALARM,
    STRUCTURED_CONTENT_TYPE,
    decode_kafka,
)
from sinks.tokens import TokenStore
from tests.support.cap_samples import ALERT_XML, CANCEL_XML, edited
from tests.support.demo_district import INSIDE
from tests.support.gateway import TokenFactory, principal_of, with_stores

URL = "/api/v1/events"
SOURCE = "urn:system:citymgmt"
WHEN = datetime(2026, 8, 15, 6, 30, tzinfo=UTC)


@pytest.fixture
def client(deps: GatewayDeps, engine: Engine, district: District) -> Iterator[TestClient]:
    wired = with_stores(deps, engine, max_batch_events=10)
    with TestClient(create_app(wired)) as test_client:
        yield test_client


@pytest.fixture
def system(auth: TokenFactory) -> dict[str, str]:
    return auth("system", scope=SOURCE, name="数字城管平台")


def report_data() -> dict[str, Any]:
    return {"category": "garbage", "description": "垃圾满溢 overflowing bins", "location": INSIDE}


def sdk_event(
    event_id: str = "e-1",
    *,
    source: str = SOURCE,
    type_: str = REPORT_SUBMITTED,
    data: Any = None,
    **extra: Any,
) -> CloudEvent:
    attributes = {
        "id": event_id,
        "source": source,
        "type": type_,
        "time": WHEN,
        "datacontenttype": "application/json",
        **extra,
    }
    return CloudEvent(attributes, report_data() if data is None else data)


def post_binary(client: TestClient, event: CloudEvent, headers: dict[str, str]) -> Any:
    message = ce_http.to_binary(event, JSONFormat())
    return client.post(URL, content=message.body, headers={**message.headers, **headers})


def post_structured(client: TestClient, event: CloudEvent, headers: dict[str, str]) -> Any:
    message = ce_http.to_structured(event, JSONFormat())
    return client.post(URL, content=message.body, headers={**message.headers, **headers})


def post_batch(client: TestClient, docs: list[Any], headers: dict[str, str]) -> Any:
    return client.post(
        URL, content=orjson.dumps(docs), headers={"content-type": BATCH_CONTENT_TYPE, **headers}
    )


def as_doc(event: CloudEvent) -> Any:
    return orjson.loads(JSONFormat().write(event))


# -- the three modes ------------------------------------------------------------------


@pytest.mark.parametrize("post", [post_binary, post_structured])
def test_sdk_event_is_published_structured_on_intake(
    client: TestClient,
    system: dict[str, str],
    publisher: InMemoryPublisher,
    deps: GatewayDeps,
    tokens: TokenStore,
    post: Any,
) -> None:
    response = post(client, sdk_event("e-1"), system)

    assert response.status_code == 202, response.text
    assert response.json() == {
        "id": "e-1",
        "source": SOURCE,
        "type": REPORT_SUBMITTED,
        "status": "accepted",
    }
    [record] = publisher.records
    assert record.topic == deps.topics.intake
    assert record.key == SOURCE.encode()
    assert dict(record.headers)["content-type"] == STRUCTURED_CONTENT_TYPE.encode()
    event = decode_kafka(record.value, record.headers)
    assert (event.id, event.source, event.type) == ("e-1", SOURCE, REPORT_SUBMITTED)
    assert event.time == WHEN
    assert event.data == report_data()
    assert event.extensions["submittedby"] == principal_of(tokens, system)


def test_partitionkey_extension_is_the_kafka_key(
    client: TestClient, system: dict[str, str], publisher: InMemoryPublisher
) -> None:
    response = post_binary(client, sdk_event(partitionkey="990101001001"), system)
    assert response.status_code == 202, response.text
    assert publisher.records[0].key == b"990101001001"


def test_sender_cannot_choose_submittedby(
    client: TestClient, system: dict[str, str], publisher: InMemoryPublisher, tokens: TokenStore
) -> None:
    response = post_structured(client, sdk_event(submittedby="someone else"), system)
    assert response.status_code == 202
    event = decode_kafka(publisher.records[0].value, publisher.records[0].headers)
    assert event.extensions["submittedby"] == principal_of(tokens, system)


def test_binary_headers_are_percent_decoded(
    client: TestClient, auth: TokenFactory, publisher: InMemoryPublisher
) -> None:
    source = "urn:system:传感器 网"
    response = post_binary(client, sdk_event(source=source), auth("system", scope=source))
    assert response.status_code == 202, response.text
    assert decode_kafka(publisher.records[0].value, []).source == source


def test_binary_cap_event_keeps_the_xml(
    client: TestClient, system: dict[str, str], publisher: InMemoryPublisher
) -> None:
    headers = {
        "ce-specversion": "1.0",
        "ce-id": "YJ-2026-0815-001",
        "ce-source": SOURCE,
        "ce-type": CAP_ALERT,
        "content-type": "application/cap+xml",
        **system,
    }
    response = client.post(URL, content=ALERT_XML.encode(), headers=headers)
    assert response.status_code == 202, response.text
    event = decode_kafka(publisher.records[0].value, publisher.records[0].headers)
    assert event.datacontenttype == "application/cap+xml"
    assert event.data == ALERT_XML


def test_references_only_cap_cancel_is_accepted(
    client: TestClient, system: dict[str, str], publisher: InMemoryPublisher
) -> None:
    """A Cancel with ``<references>`` and no ``<info>`` (valid CAP 1.2) follows the
    alerts it names; without ``<references>`` it follows nothing and is refused."""
    info = CANCEL_XML[CANCEL_XML.index("<info>") : CANCEL_XML.rindex("</info>") + len("</info>")]
    bare = edited(CANCEL_XML, info, "")
    doc = {
        "specversion": "1.0",
        "id": "YJ-2026-0815-003",
        "source": SOURCE,
        "type": CAP_ALERT,
        "datacontenttype": "application/cap+xml",
        "data": bare,
    }
    assert _structured(client, doc, system).status_code == 202
    assert post_batch(client, [doc], system).status_code == 200
    assert [decode_kafka(r.value, r.headers).data for r in publisher.records] == [bare, bare]
    references = bare[bare.index("<references>") : bare.index("</references>")]
    unreferenced = edited(bare, references + "</references>", "")
    refused = _structured(client, {**doc, "data": unreferenced}, system)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "data.references"


@pytest.mark.parametrize(
    ("type_", "data"),
    [
        (
            CITYMGMT_CASE,
            {
                "case_number": "CG20260815001",
                "category_code": "0103",
                "kind": "component",
                "description": "雨水井盖破损",
                "grid_code": "990101001001001",
                "occurred_at": "2026-08-15T14:30:00+08:00",
            },
        ),
        (
            SENSOR_ALARM,
            {
                "device_id": "gas-0042",
                "metric": "gas_ppm",
                "reading": 120,
                "threshold": 50,
                "unit": "ppm",
                "location": INSIDE,
                "occurred_at": "2026-08-15T14:30:00+08:00",
            },
        ),
    ],
)
def test_other_inbound_types_are_accepted(
    client: TestClient, system: dict[str, str], type_: str, data: dict[str, Any]
) -> None:
    response = post_structured(client, sdk_event(type_=type_, data=data), system)
    assert response.status_code == 202, response.text


def test_batch_answers_per_event(
    client: TestClient, system: dict[str, str], publisher: InMemoryPublisher
) -> None:
    docs = [as_doc(sdk_event(f"b-{n}")) for n in range(3)]
    response = post_batch(client, docs, system)

    assert response.status_code == 200, response.text
    assert response.json() == [{"id": f"b-{n}", "status": 202, "error": None} for n in range(3)]
    assert sorted(decode_kafka(r.value, r.headers).id for r in publisher.records) == [
        "b-0",
        "b-1",
        "b-2",
    ]


def test_batch_with_refused_events_is_207(
    client: TestClient, system: dict[str, str], publisher: InMemoryPublisher
) -> None:
    good = as_doc(sdk_event("ok"))
    bad_category = as_doc(sdk_event("bad", data={**report_data(), "category": "no_such"}))
    foreign = as_doc(sdk_event("foreign", source="urn:system:other"))
    no_id = {k: v for k, v in as_doc(sdk_event()).items() if k != "id"}
    far = as_doc(sdk_event("far", data={**report_data(), "location": {"lat": 31.2, "lon": 121.5}}))
    also_good = as_doc(sdk_event("ok2"))
    batch = [good, bad_category, foreign, no_id, "not an event", far, also_good]
    response = post_batch(client, batch, system)

    assert response.status_code == 207
    results = response.json()
    assert [(r["id"], r["status"]) for r in results] == [
        ("ok", 202),
        ("bad", 422),
        ("foreign", 403),
        (None, 422),
        (None, 400),
        ("far", 422),
        ("ok2", 202),
    ]
    assert results[5]["error"] == "data.location: outside every grid of this district"
    assert results[0]["error"] is None
    assert "data.category" in results[1]["error"] and "no_such" in results[1]["error"]
    assert results[2]["error"].startswith("source:")
    assert results[3]["error"].startswith("id:")
    assert [decode_kafka(r.value, r.headers).id for r in publisher.records] == ["ok", "ok2"]


def test_batch_limits(client: TestClient, system: dict[str, str]) -> None:
    too_many = post_batch(client, [as_doc(sdk_event(f"n{n}")) for n in range(11)], system)
    assert too_many.status_code == 413
    assert "at most 10" in too_many.json()["detail"]

    huge = as_doc(sdk_event("huge", data={**report_data(), "description": "x" * 9000}))
    response = post_batch(client, [huge, as_doc(sdk_event("small"))], system)
    assert response.status_code == 207
    assert [r["status"] for r in response.json()] == [413, 202]

    assert post_batch(client, [], system).json() == []


@pytest.mark.parametrize("body", [b"{not json", b'{"id": "x"}', b""])
def test_batch_that_is_not_a_batch_is_400(
    client: TestClient, system: dict[str, str], body: bytes
) -> None:
    response = client.post(
        URL, content=body, headers={"content-type": BATCH_CONTENT_TYPE, **system}
    )
    assert response.status_code == 400
    assert response.json()["detail"].startswith("body:")


def test_broker_failure_is_503_single_and_per_event(
    client: TestClient, system: dict[str, str], publisher: InMemoryPublisher
) -> None:
    publisher.fail_with = ConnectionError("broker down")
    single = post_binary(client, sdk_event(), system)
    assert single.status_code == 503
    assert single.headers["retry-after"] == "5"
    batch = post_batch(client, [as_doc(sdk_event("a")), as_doc(sdk_event("b"))], system)
    assert batch.status_code == 207
    assert [r["status"] for r in batch.json()] == [503, 503]


# -- refusals naming the attribute ----------------------------------------------------------


def _structured(client: TestClient, doc: dict[str, Any], headers: dict[str, str]) -> Any:
    return client.post(
        URL, content=orjson.dumps(doc), headers={"content-type": STRUCTURED_CONTENT_TYPE, **headers}
    )


def valid_doc(**changes: Any) -> dict[str, Any]:
    doc = as_doc(sdk_event())
    doc.update(changes)
    return {k: v for k, v in doc.items() if v is not None}


@pytest.mark.parametrize(
    ("doc", "status", "field", "needle"),
    [
        (valid_doc(id=None), 422, "id", "required"),
        (valid_doc(source=None), 422, "source", "required"),
        (valid_doc(specversion=None), 422, "specversion", "required"),
        (valid_doc(specversion="0.3"), 422, "specversion", "1.0"),
        (valid_doc(type="com.example.other"), 422, "type", "unsupported event type"),
        (valid_doc(data=None), 422, "data", "required"),
        (valid_doc(data=[1, 2]), 422, "data", "JSON object"),
        (valid_doc(data={**report_data(), "category": "no_such"}), 422, "data.category", "no_such"),
        (valid_doc(data={"category": "garbage", "location": INSIDE}), 422, "data.description", ""),
        (
            valid_doc(data={**report_data(), "location": {"lat": 31.2, "lon": 121.5}}),
            422,
            "data.location",
            "outside",
        ),
        (
            valid_doc(data={**report_data(), "grid_code": "990101999999999"}),
            422,
            "data.grid_code",
            "",
        ),
        (valid_doc(time="yesterday"), 422, "time", ""),
        (valid_doc(BadName="x"), 422, "BadName", "lower-case"),
        (valid_doc(nested={"a": 1}), 422, "nested", "string, integer or boolean"),
    ],
)
def test_invalid_event_names_the_attribute(
    client: TestClient,
    system: dict[str, str],
    publisher: InMemoryPublisher,
    doc: dict[str, Any],
    status: int,
    field: str,
    needle: str,
) -> None:
    response = _structured(client, doc, system)
    assert response.status_code == status, response.text
    [error] = response.json()["errors"][:1]
    assert error["field"] == field
    assert needle in error["message"]
    assert publisher.records == []


def test_not_a_cloudevent_is_400(client: TestClient, system: dict[str, str]) -> None:
    for body in (b"{oops", b"[1]", b""):
        response = client.post(
            URL, content=body, headers={"content-type": STRUCTURED_CONTENT_TYPE, **system}
        )
        assert response.status_code == 400, body
    binary = client.post(
        URL,
        content=b"{oops",
        headers={
            "ce-specversion": "1.0",
            "ce-id": "1",
            "ce-source": SOURCE,
            "ce-type": REPORT_SUBMITTED,
            "content-type": "application/json",
            **system,
        },
    )
    assert binary.status_code == 400
    assert "invalid JSON" in binary.json()["detail"]


def test_plain_json_without_ce_headers_is_415(client: TestClient, system: dict[str, str]) -> None:
    response = client.post(URL, json=report_data(), headers=system)
    assert response.status_code == 415
    assert STRUCTURED_CONTENT_TYPE in response.json()["detail"]


def test_binary_mode_data_base64_in_structured(
    client: TestClient, system: dict[str, str], publisher: InMemoryPublisher
) -> None:
    import base64

    doc = valid_doc(data=None, datacontenttype="application/cap+xml", type=CAP_ALERT)
    doc["data_base64"] = base64.b64encode(ALERT_XML.encode()).decode()
    response = _structured(client, doc, system)
    assert response.status_code == 202, response.text
    assert decode_kafka(publisher.records[0].value, []).data == ALERT_XML


def test_body_over_the_gateway_limit_is_413(
    deps: GatewayDeps, engine: Engine, district: District, system: dict[str, str]
) -> None:
    from dataclasses import replace

    small = replace(with_stores(deps, engine), max_body_bytes=2048)
    with TestClient(create_app(small)) as test_client:
        big = valid_doc(data={**report_data(), "description": "x" * 1900})
        response = _structured(test_client, big, system)
    assert response.status_code == 413


# -- who may publish what ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scope", "source", "status"),
    [
        (SOURCE, SOURCE, 202),
        (SOURCE, SOURCE + ":district-7", 202),
        (SOURCE, SOURCE + "/sub", 202),
        ("urn:system:", "urn:system:anything", 202),
        (SOURCE, SOURCE + "x", 403),  # a prefix is not enough: a boundary must follow
        (SOURCE, "urn:system:other", 403),
    ],
)
def test_system_token_publishes_only_as_its_source(
    client: TestClient, auth: TokenFactory, scope: str, source: str, status: int
) -> None:
    response = post_binary(client, sdk_event(source=source), auth("system", scope=scope))
    assert response.status_code == status, response.text
    if status == 403:
        assert "source" in response.text


def test_roles(client: TestClient, auth: TokenFactory) -> None:
    event = sdk_event(source="urn:anyone")
    assert post_binary(client, event, {}).status_code == 401
    assert post_binary(client, event, auth("grid_worker")).status_code == 403
    assert post_binary(client, event, auth("operator")).status_code == 403
    unscoped = post_binary(client, event, auth("system"))
    assert unscoped.status_code == 403
    assert "no source scope" in unscoped.json()["detail"]
    assert post_binary(client, event, auth("admin")).status_code == 202
