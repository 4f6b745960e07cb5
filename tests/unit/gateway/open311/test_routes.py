"""Open311 GeoReport v2 conformance, written from the spec text (wiki.open311.org
GeoReport_v2 and Service_Discovery): field names, formats, HTTP statuses, XML root
elements and JSON shapes, in both formats; plus how our cases map onto requests."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET
import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine

from gateway.app import create_app
from gateway.deps import GatewayDeps
from gateway.open311.config import Open311Config
from gateway.publisher import InMemoryPublisher
from routing.district import District
from schemas import trace
from schemas.cases import CaseState
from schemas.envelope import REPORT_SUBMITTED
from schemas.publicdata import snap_point
from schemas.reports import Report
from sinks.tokens import TokenStore
from tests.support.demo_district import GRID, INSIDE, OTHER_GRID, seed_case
from tests.support.gateway import TokenFactory, with_stores

V2 = "/open311/v2"
FORM = {"content-type": "application/x-www-form-urlencoded; charset=utf-8"}
# w3c date/time: "Timezone information (either Z ... or an HH:MM offset) must be included".
W3C = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)$")
SERVICE_FIELDS = {
    "service_code",
    "service_name",
    "description",
    "metadata",
    "type",
    "keywords",
    "group",
}
ATTRIBUTE_FIELDS = {
    "variable",
    "code",
    "datatype",
    "required",
    "datatype_description",
    "order",
    "description",
}
DATATYPES = {"string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"}
REQUEST_FIELDS = {
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
}
NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def client(deps: GatewayDeps, engine: Engine, district: District) -> Iterator[TestClient]:
    with TestClient(create_app(with_stores(deps, engine))) as test_client:
        yield test_client


def xml_of(response: Response) -> Element:
    assert response.headers["content-type"] == "text/xml; charset=utf-8"
    # "the root element must be preceded with the XML declaration including the
    # encoding="UTF-8" attribute"
    assert response.text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    root: Element = SafeET.fromstring(response.content)
    return root


def json_of(response: Response) -> Any:
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    return response.json()


def assert_errors(response: Response, status: int, fmt: str = "json") -> list[dict[str, Any]]:
    """Errors: ``[{code, description}]`` / ``<errors><error><code/><description/>``."""
    assert response.status_code == status, response.text
    if fmt == "xml":
        root = xml_of(response)
        assert root.tag == "errors"
        errors = [
            {"code": int(e.findtext("code") or 0), "description": e.findtext("description")}
            for e in root
        ]
        assert all(e.tag == "error" for e in root)
    else:
        errors = json_of(response)
    assert isinstance(errors, list) and errors
    for error in errors:
        assert set(error) == {"code", "description"}
        assert isinstance(error["code"], int)
        assert error["description"]
    return errors


# -- Service discovery --------------------------------------------------------------------


def test_discovery_json(client: TestClient) -> None:
    doc = json_of(client.get(f"{V2}/discovery.json"))
    assert set(doc) == {"changeset", "contact", "key_service", "endpoints"}
    assert doc["changeset"] == "2026-01-05T08:00:00Z"
    [endpoint] = doc["endpoints"]
    assert set(endpoint) == {"specification", "url", "changeset", "type", "formats"}
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"] == "/open311/v2"  # no public URL configured: never the Host header
    assert endpoint["type"] in ("production", "test")
    assert set(endpoint["formats"]) == {"text/xml", "application/json"}


def test_discovery_xml(client: TestClient) -> None:
    root = xml_of(client.get(f"{V2}/discovery.xml"))
    assert root.tag == "discovery"
    assert [child.tag for child in root] == ["changeset", "contact", "key_service", "endpoints"]
    endpoints = root.find("endpoints")
    assert endpoints is not None
    [endpoint] = list(endpoints)
    assert endpoint.tag == "endpoint"
    assert endpoint.findtext("specification") == "http://wiki.open311.org/GeoReport_v2"
    formats = endpoint.find("formats")
    assert formats is not None
    assert [f.tag for f in formats] == ["format", "format"]
    assert {f.text for f in formats} == {"text/xml", "application/json"}


def test_discovery_announces_the_public_url(
    deps: GatewayDeps, engine: Engine, district: District
) -> None:
    config = Open311Config(public_url="https://hub.district.example/open311/v2")
    with TestClient(create_app(with_stores(deps, engine, open311=config))) as c:
        endpoint = c.get(f"{V2}/discovery.json").json()["endpoints"][0]
    assert endpoint["url"] == "https://hub.district.example/open311/v2"


# -- GET Service List / Service Definition ----------------------------------------------------


def test_services_json(client: TestClient, district: District) -> None:
    services = json_of(client.get(f"{V2}/services.json"))
    assert [s["service_code"] for s in services] == list(district.taxonomy.codes())
    for service in services:
        assert set(service) == SERVICE_FIELDS
        assert service["metadata"] is True  # every service has attributes
        assert service["type"] in ("realtime", "batch", "blackbox")
        assert isinstance(service["keywords"], str)
    manhole = services[0]
    assert manhole["service_name"] == "井盖破损缺失"
    assert "manhole" in manhole["keywords"]


def test_services_xml(client: TestClient, district: District) -> None:
    root = xml_of(client.get(f"{V2}/services.xml"))
    assert root.tag == "services"
    assert {child.tag for child in root} == {"service"}
    first = root[0]
    assert {child.tag for child in first} == SERVICE_FIELDS
    assert first.findtext("metadata") == "true"
    assert first.findtext("service_code") == district.taxonomy.codes()[0]


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_service_definition(client: TestClient, fmt: str) -> None:
    response = client.get(f"{V2}/services/manhole_cover.{fmt}")
    assert response.status_code == 200
    if fmt == "json":
        doc = json_of(response)
        assert set(doc) == {"service_code", "attributes"}
        assert doc["service_code"] == "manhole_cover"
        attributes = doc["attributes"]
    else:
        root = xml_of(response)
        assert root.tag == "service_definition"
        assert root.findtext("service_code") == "manhole_cover"
        wrapper = root.find("attributes")
        assert wrapper is not None and {a.tag for a in wrapper} == {"attribute"}
        attributes = [{child.tag: child.text for child in a} for a in wrapper]
    orders = []
    for attribute in attributes:
        assert ATTRIBUTE_FIELDS <= set(attribute) <= ATTRIBUTE_FIELDS | {"values"}
        assert attribute["datatype"] in DATATYPES
        assert str(attribute["variable"]).lower() in ("true", "false")
        assert str(attribute["required"]).lower() in ("true", "false")
        orders.append(int(attribute["order"]))
        lists = attribute["datatype"] in ("singlevaluelist", "multivaluelist")
        assert ("values" in attribute) == lists
    assert sorted(orders) == list(range(1, len(orders) + 1))  # positive, unique
    if fmt == "json":
        crs = next(a for a in attributes if a["code"] == "crs")
        assert crs["values"] == [
            {"key": "wgs84", "name": "WGS84 (GPS)"},
            {"key": "gcj02", "name": "GCJ-02 (Chinese phone map SDKs)"},
        ]
    else:
        crs_xml = root.find("attributes/attribute[code='crs']/values")
        assert crs_xml is not None
        assert [v.findtext("key") for v in crs_xml] == ["wgs84", "gcj02"]


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_unknown_service_code_is_404(client: TestClient, fmt: str) -> None:
    errors = assert_errors(client.get(f"{V2}/services/no_such.{fmt}"), 404, fmt)
    assert errors[0]["code"] == 404
    assert "no_such" in errors[0]["description"]


def test_unknown_format_is_400(client: TestClient) -> None:
    errors = assert_errors(client.get(f"{V2}/services.html"), 400)
    assert "format" in errors[0]["description"]


def test_jurisdiction_id(deps: GatewayDeps, engine: Engine, district: District) -> None:
    config = Open311Config(jurisdiction_id="district-990101.example")
    with TestClient(create_app(with_stores(deps, engine, open311=config))) as c:
        assert c.get(f"{V2}/services.json?jurisdiction_id=district-990101.example").is_success
        # "Optional" means: passed and empty is the same as not passed at all.
        assert c.get(f"{V2}/services.json?jurisdiction_id=").is_success
        errors = assert_errors(c.get(f"{V2}/services.xml?jurisdiction_id=other.gov"), 404, "xml")
    assert "jurisdiction_id" in errors[0]["description"]


# -- POST Service Request ---------------------------------------------------------------------


def post(client: TestClient, fields: dict[str, Any], fmt: str = "json", **headers: str) -> Response:
    return client.post(
        f"{V2}/requests.{fmt}", content=urlencode(fields), headers={**FORM, **headers}
    )


def request_fields(api_key: str, **changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "api_key": api_key,
        "service_code": "manhole_cover",
        "lat": INSIDE["lat"],
        "long": INSIDE["lon"],
        "description": "井盖缺失，行人有危险",
        "first_name": "三",
        "last_name": "张",
        "phone": "13800000000",
        "email": "zhang@example.org",
        "account_id": "acct-7",
    }
    fields.update(changes)
    return {k: v for k, v in fields.items() if v is not None}


def api_key(
    auth: TokenFactory, role: str = "system", scope: str | None = "urn:system:12345"
) -> str:
    return auth(role, scope=scope, name=f"open311-{role}")["Authorization"].split()[1]


def published(publisher: InMemoryPublisher) -> Report:
    """The one report published, straight to the reports topic, keyed by community."""
    [record] = publisher.records
    assert record.topic.endswith("gridhub.reports")
    report = Report.model_validate_json(record.value)
    assert record.key == report.community_code.encode()
    assert report.source_type == REPORT_SUBMITTED
    return report


def test_post_request_json_answers_a_token(
    client: TestClient, auth: TokenFactory, publisher: InMemoryPublisher
) -> None:
    response = post(client, request_fields(api_key(auth)))
    answer = json_of(response)
    assert response.status_code == 200
    [item] = answer
    # service_request_id "should not be returned if token is returned"
    assert set(item) == {"token", "service_notice", "account_id"}
    assert item["account_id"] == "acct-7"
    report = published(publisher)
    assert report.id == item["token"]
    assert report.category == "manhole_cover"
    assert report.description == "井盖缺失，行人有危险"
    assert report.location is not None and report.location.lat == INSIDE["lat"]
    assert report.reporter is not None
    assert (report.reporter.name, report.reporter.phone) == ("张 三", "13800000000")
    assert report.source == "urn:system:12345"


def test_post_request_carries_the_requests_traceparent(
    client: TestClient, auth: TokenFactory, publisher: InMemoryPublisher, tokens: TokenStore
) -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    incoming = f"00-{trace_id}-00f067aa0ba902b7-01"
    key = api_key(auth)
    response = post(client, request_fields(key), traceparent=incoming)
    assert response.status_code == 200, response.text
    report = published(publisher)
    record = tokens.verify(key)
    assert record is not None
    assert report.submitted_by == record.principal_id  # the principal, not a name
    assert report.attributes[trace.TRACE_ID_ATTRIBUTE] == trace_id


def test_post_request_xml(client: TestClient, auth: TokenFactory) -> None:
    root = xml_of(post(client, request_fields(api_key(auth, "grid_worker", None)), "xml"))
    assert root.tag == "service_requests"
    [request] = root
    assert request.tag == "request"
    assert request.findtext("token")
    assert request.find("service_request_id") is None


def test_grid_worker_requests_use_the_open311_source(
    client: TestClient, auth: TokenFactory, publisher: InMemoryPublisher
) -> None:
    assert post(client, request_fields(api_key(auth, "grid_worker", GRID))).status_code == 200
    assert published(publisher).source == "urn:gridhub:open311"


def test_attributes_and_other_ways_to_place_a_request(
    client: TestClient, auth: TokenFactory, publisher: InMemoryPublisher
) -> None:
    key = api_key(auth)
    fields = request_fields(
        key,
        **{
            "attribute[occurred_at]": "2026-01-05T08:00:00+08:00",
            "attribute[crs]": "gcj02",
            "lat": 39.9035,
            "long": 116.3895,
        },
    )
    assert post(client, fields).status_code == 200
    report = published(publisher)
    assert report.occurred_at == datetime(2026, 1, 5, tzinfo=UTC)
    # Placed from GCJ-02: the report's point is in WGS84, a few hundred metres off.
    assert report.location is not None and report.location.crs == "wgs84"
    assert report.location.lat != 39.9035

    for place in (
        {"address_id": OTHER_GRID},
        {"attribute[grid_code]": OTHER_GRID},
        {"address_string": f"东园社区第2网格, 示范街道 ({OTHER_GRID})"},
        {"address_string": "东园社区第2网格门口"},
    ):
        publisher.records.clear()
        response = post(client, request_fields(key, lat=None, long=None, **place))
        assert response.status_code == 200, (place, response.text)
        assert published(publisher).grid_code == OTHER_GRID


def test_same_idempotency_key_same_token(client: TestClient, auth: TokenFactory) -> None:
    fields = request_fields(api_key(auth))
    one = post(client, fields, **{"Idempotency-Key": "k1"}).json()[0]["token"]
    two = post(client, fields, **{"Idempotency-Key": "k1"}).json()[0]["token"]
    three = post(client, fields).json()[0]["token"]
    assert one == two != three


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize(
    ("key", "needle"),
    [(None, "not provided"), ("", "not provided"), ("gh_wrong", "invalid api_key")],
)
def test_missing_or_invalid_api_key_is_403(
    client: TestClient, fmt: str, key: str | None, needle: str
) -> None:
    errors = assert_errors(post(client, request_fields(key or ""), fmt), 403, fmt)
    assert errors[0]["code"] == 403
    assert needle in errors[0]["description"]


def test_api_key_roles_and_scope(client: TestClient, auth: TokenFactory) -> None:
    assert_errors(post(client, request_fields(api_key(auth, "operator", None))), 403)
    assert_errors(post(client, request_fields(api_key(auth, "system", None))), 403)
    out_of_scope = api_key(auth, "grid_worker", OTHER_GRID)
    errors = assert_errors(post(client, request_fields(out_of_scope)), 403)
    assert "scope" in errors[0]["description"]
    assert post(client, request_fields(api_key(auth, "admin", None))).status_code == 200


# The form's own rules are unit-tested in test_requests.py; here, how refusals
# reach the client: the spec's statuses, and placement by the district.
@pytest.mark.parametrize(
    ("changes", "status", "needle"),
    [
        ({"service_code": ""}, 400, "service_code was not provided"),
        ({"service_code": "no_such"}, 404, "not found"),
        ({"lat": None, "long": None}, 400, "location is required"),
        ({"lat": 31.23, "long": 121.47}, 400, "lat/long: outside"),
        ({"lat": None, "long": None, "address_id": "990101999999999"}, 400, "not a grid"),
        ({"attribute[occurred_at]": "2026-01-05T08:00:00"}, 400, "time zone"),
        ({"phone": "call me"}, 400, "phone"),
    ],
)
def test_post_request_errors(
    client: TestClient,
    auth: TokenFactory,
    publisher: InMemoryPublisher,
    changes: dict[str, Any],
    status: int,
    needle: str,
) -> None:
    errors = assert_errors(post(client, request_fields(api_key(auth), **changes)), status)
    assert needle in errors[0]["description"]
    assert publisher.records == []


def test_post_must_be_form_encoded(client: TestClient, auth: TokenFactory) -> None:
    response = client.post(f"{V2}/requests.json", json=request_fields(api_key(auth)))
    errors = assert_errors(response, 400)
    assert "x-www-form-urlencoded" in errors[0]["description"]


def test_service_down_is_a_400_with_code_503(
    client: TestClient, auth: TokenFactory, publisher: InMemoryPublisher
) -> None:
    publisher.fail_with = ConnectionError("broker down")
    response = post(client, request_fields(api_key(auth)), "xml")
    errors = assert_errors(response, 400, "xml")  # "General Service Error" is a 400
    assert errors[0]["code"] == 503
    assert response.headers["retry-after"] == "5"


# -- GET Service Requests / Service Request / tokens ---------------------------------------------


@pytest.fixture
def seeded(engine: Engine) -> dict[str, str]:
    """One case per state mapping, plus one older than the default 90-day window."""
    at = NOW - timedelta(days=2)
    return {
        "open": seed_case(engine, "990101001001-open", at, state=CaseState.OPEN),
        "dispatched": seed_case(engine, "990101001001-disp", at + timedelta(hours=1)),
        "resolved": seed_case(
            engine, "990101001001-reso", at + timedelta(hours=2), state=CaseState.RESOLVED
        ),
        "closed": seed_case(
            engine, "990101001001-clos", at + timedelta(hours=3), state=CaseState.CLOSED
        ),
        "rejected": seed_case(
            engine,
            "990101001001-reje",
            at + timedelta(hours=4),
            state=CaseState.REJECTED,
            reason="不属于受理范围",
            category="garbage",
        ),
        "merged": seed_case(
            engine,
            "990101001001-merg",
            at + timedelta(hours=5),
            state=CaseState.MERGED,
            merged_into="990101001001-disp",
        ),
        "old": seed_case(engine, "990101001001-old", NOW - timedelta(days=120)),
    }


def requests_json(client: TestClient, query: str = "") -> list[dict[str, Any]]:
    response = client.get(f"{V2}/requests.json{query}")
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = json_of(response)
    return found


def test_get_requests_shape_and_status_mapping(client: TestClient, seeded: dict[str, str]) -> None:
    found = requests_json(client)
    by_id = {r["service_request_id"]: r for r in found}
    # Default window: the most recent 90 days (the 120-day-old case is left out); newest first.
    assert list(by_id) == [
        "990101001001-merg",
        "990101001001-reje",
        "990101001001-clos",
        "990101001001-reso",
        "990101001001-disp",
        "990101001001-open",
    ]
    for request in found:
        assert set(request) == REQUEST_FIELDS
        assert request["status"] in ("open", "closed")
        assert W3C.match(request["requested_datetime"]), request["requested_datetime"]
        assert request["requested_datetime"].endswith("+08:00")
        assert W3C.match(request["updated_datetime"])
    status = {rid.split("-")[1]: r["status"] for rid, r in by_id.items()}
    assert status == {
        "open": "open",
        "disp": "open",
        "reso": "open",
        "clos": "closed",
        "reje": "closed",
        "merg": "closed",
    }
    dispatched = by_id["990101001001-disp"]
    assert dispatched["service_code"] == "manhole_cover"
    assert dispatched["service_name"] == "井盖破损缺失"
    assert dispatched["agency_responsible"] == "区市政市容管理委员会"
    assert dispatched["description"] is None  # the reporter's text is not public
    assert dispatched["address_id"] == GRID
    assert dispatched["address"] == "东园社区第1网格, 东园社区, 示范街道"
    assert (dispatched["lat"], dispatched["long"]) == snap_point(39.902, 116.383)
    assert dispatched["expected_datetime"] and W3C.match(dispatched["expected_datetime"])
    assert by_id["990101001001-reje"]["status_notes"] == "不予立案 (rejected)"  # no free text
    assert "990101001001-disp" in by_id["990101001001-merg"]["status_notes"]
    assert "核查" in by_id["990101001001-reso"]["status_notes"]
    assert by_id["990101001001-clos"]["expected_datetime"] is None


def test_get_requests_xml(client: TestClient, seeded: dict[str, str]) -> None:
    root = xml_of(client.get(f"{V2}/requests.xml?status=closed"))
    assert root.tag == "service_requests"
    assert {child.tag for child in root} == {"request"}
    assert len(root) == 3
    first = root[0]
    assert [child.tag for child in first] == [
        "service_request_id",
        "status",
        "status_notes",
        "service_name",
        "service_code",
        "description",
        "agency_responsible",
        "service_notice",
        "requested_datetime",
        "updated_datetime",
        "expected_datetime",
        "address",
        "address_id",
        "zipcode",
        "lat",
        "long",
        "media_url",
    ]
    assert first.findtext("status") == "closed"
    assert first.find("zipcode") is not None and first.findtext("zipcode") == ""


def test_get_requests_filters(client: TestClient, seeded: dict[str, str]) -> None:
    def ids(query: str) -> list[str]:
        return [r["service_request_id"].split("-")[1] for r in requests_json(client, query)]

    assert ids("?status=open") == ["reso", "disp", "open"]
    assert ids("?status=open,closed") == ids("")
    assert ids("?service_code=garbage") == ["reje"]
    assert ids("?service_code=garbage,manhole_cover&status=closed") == ["merg", "reje", "clos"]
    assert ids("?service_code=noise") == []  # a category the taxonomy keeps private
    # service_request_id overrides all other arguments (the old case included).
    assert ids("?service_request_id=990101001001-old,990101001001-open,nope&status=closed") == [
        "open",
        "old",
    ]
    start = (NOW - timedelta(days=2, minutes=-90)).isoformat().replace("+00:00", "Z")
    end = (NOW - timedelta(days=2, minutes=-210)).isoformat()
    assert ids(f"?start_date={start}&end_date={end.replace('+', '%2B')}") == ["clos", "reso"]
    old_window = (NOW - timedelta(days=130)).isoformat().replace("+00:00", "Z")
    assert ids(f"?start_date={old_window}") == ["old"]
    assert ids("?limit=2") == ["merg", "reje"]
    # Optional arguments sent empty are not sent.
    assert ids("?status=&service_code=&start_date=&end_date=&service_request_id=") == ids("")


@pytest.mark.parametrize(
    ("query", "needle"),
    [
        ("?start_date=2026-01-01T00:00:00", "time zone"),
        ("?start_date=yesterday", "ISO 8601"),
        ("?start_date=2026-01-01T00:00:00Z&end_date=2026-06-01T00:00:00Z", "90 days"),
        ("?start_date=2026-02-01T00:00:00Z&end_date=2026-01-01T00:00:00Z", "after"),
        ("?status=pending", "status"),
        ("?service_code=no_such", "no_such"),
        ("?limit=0", "limit"),
        ("?limit=abc", "limit"),
    ],
)
def test_get_requests_errors(client: TestClient, query: str, needle: str) -> None:
    errors = assert_errors(client.get(f"{V2}/requests.json{query}"), 400)
    assert needle in errors[0]["description"]


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_get_one_request(client: TestClient, seeded: dict[str, str], fmt: str) -> None:
    response = client.get(f"{V2}/requests/990101001001-reje.{fmt}")
    assert response.status_code == 200
    if fmt == "json":
        [request] = json_of(response)
        assert set(request) == REQUEST_FIELDS
        assert (request["service_request_id"], request["status"]) == (
            "990101001001-reje",
            "closed",
        )
    else:
        root = xml_of(response)
        assert root.tag == "service_requests"
        assert [r.findtext("service_request_id") for r in root] == ["990101001001-reje"]
    assert_errors(client.get(f"{V2}/requests/990101001001-none.{fmt}"), 404, fmt)


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_tokens(client: TestClient, seeded: dict[str, str], fmt: str) -> None:
    report_id = seeded["dispatched"]
    response = client.get(f"{V2}/tokens/{report_id}.{fmt}")
    assert response.status_code == 200
    if fmt == "json":
        assert json_of(response) == [
            {"service_request_id": "990101001001-disp", "token": report_id}
        ]
    else:
        root = xml_of(response)
        assert root.tag == "service_requests"
        assert root[0].tag == "request"
        assert root[0].findtext("service_request_id") == "990101001001-disp"
        assert root[0].findtext("token") == report_id
    errors = assert_errors(client.get(f"{V2}/tokens/unknown-token.{fmt}"), 404, fmt)
    assert "token" in errors[0]["description"]


def test_reads_are_public_and_personal_data_stays_out(
    client: TestClient, seeded: dict[str, str]
) -> None:
    text = client.get(f"{V2}/requests.json").text + client.get(f"{V2}/requests.xml").text
    assert "13800138000" not in text and "张三" not in text
