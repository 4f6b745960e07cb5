"""One renderer, two formats: the same payload as GeoReport v2 JSON and XML."""

from __future__ import annotations

import defusedxml.ElementTree as SafeET
import orjson

from gateway.open311.render import Format, errors, render

PAYLOAD = [
    {
        "service_code": "noise",
        "metadata": True,
        "description": None,
        "attributes": [{"code": "crs", "values": [{"key": "wgs84"}, {"key": "gcj02"}]}],
        "note": "bad\x01char",
    }
]


def test_json_is_the_payload() -> None:
    response = render(Format.JSON, "services", PAYLOAD)
    assert response.media_type == "application/json; charset=utf-8"
    assert orjson.loads(response.body) == PAYLOAD


def test_xml_names_list_items_by_their_list() -> None:
    response = render(Format.XML, "services", PAYLOAD)
    assert response.media_type == "text/xml; charset=utf-8"
    assert response.body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n')
    root = SafeET.fromstring(response.body)
    assert root.tag == "services"
    [service] = root
    assert service.tag == "service"
    assert service.findtext("metadata") == "true"
    assert service.find("description") is not None and service.findtext("description") == ""
    values = service.findall("attributes/attribute/values/value/key")
    assert [v.text for v in values] == ["wgs84", "gcj02"]
    assert service.findtext("note") == "badchar"  # no control characters in XML


def test_errors_in_both_formats() -> None:
    as_json = errors(Format.JSON, 404, [(404, "not found")], {"Retry-After": "5"})
    assert as_json.status_code == 404 and as_json.headers["retry-after"] == "5"
    assert orjson.loads(as_json.body) == [{"code": 404, "description": "not found"}]
    root = SafeET.fromstring(errors(Format.XML, 400, [(503, "down")]).body)
    assert [(e.tag, e.findtext("code"), e.findtext("description")) for e in root] == [
        ("error", "503", "down")
    ]
