"""End to end on the real broker and PostgreSQL, on the second demo district
(河畔区, Voronoi grids, not rectangles): the loop runs there as on the first, so
nothing assumes the first. Then the district's own data is loaded while worker
and gateway run: a refused grid file names its problems; a valid one (a new grid)
is taken by both without a restart and shown in ``/api/v1/meta`` — a report that
intake dead-lettered there before is redriven and now becomes a case; and an edit
of the routing rules sends the next case to another department."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from typing import Any

import httpx
import pytest
import yaml
from kafka import KafkaProducer
from shapely.geometry import Polygon, shape

from gridhub.dlq import read
from routing.district import default_data_dir
from schemas.envelope import REPORT_SUBMITTED, Envelope, encode_structured
from sinks.db import upgrade
from streams.logic.intake import derived_report_id
from tests.fixtures.worker import wait_http, wait_until
from tests.support.cli import cli_token

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.postgres]

RIVERSIDE = default_data_dir() / "riverside"
WAIT = 45.0


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def gridhub(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gridhub", *args], env=env, capture_output=True, text=True
    )


def test_the_loop_on_another_district_and_its_data_loaded_live(
    hub_env, postgres_url, running, tmp_path
):
    env = hub_env(postgres_url)
    env.env |= {"GRIDHUB_RULES_DIR": str(RIVERSIDE), "GRIDHUB_DISTRICT_POLL_SECONDS": "1"}
    upgrade(postgres_url)
    operator = bearer(cli_token(env.env, "operator", "e2e-op"))
    worker_token = bearer(cli_token(env.env, "grid_worker", "e2e-gw", "990202"))
    chengguan = bearer(cli_token(env.env, "department", "城管", "chengguan"))
    running.append(env.spawn("worker"))
    running.append(env.spawn("gateway"))
    base = f"http://127.0.0.1:{env.env['GRIDHUB_GATEWAY_PORT']}"
    wait_http(f"{base}/readyz", timeout=60)
    http = httpx.Client(base_url=base, timeout=10)
    grids = json.loads((RIVERSIDE / "grids.geojson").read_text(encoding="utf-8"))
    inside = shape(grids["features"][1]["geometry"]).representative_point()

    # -- the loop, on 河畔区 --------------------------------------------------------------
    meta = http.get("/api/v1/meta", headers=operator).json()
    assert meta["district"]["district_code"] == "990202" and meta["district"]["grids"] == 14

    def report(lon: float, lat: float, category: str = "garbage") -> httpx.Response:
        return http.post(
            "/api/v1/reports",
            json={
                "category": category,
                "description": "垃圾满溢",
                "location": {"lat": lat, "lon": lon},
            },
            headers={**worker_token, "Idempotency-Key": str(uuid.uuid4())},
        )

    def case_of(report_id: str) -> dict[str, Any] | None:
        answer = http.get(f"/api/v1/reports/{report_id}", headers=operator)
        case_id = answer.json().get("case_id") if answer.status_code == 200 else None
        return http.get(f"/api/v1/cases/{case_id}", headers=operator).json() if case_id else None

    def state_of(case_id: str) -> str:
        return str(http.get(f"/api/v1/cases/{case_id}", headers=operator).json()["state"])

    sent = report(inside.x, inside.y)
    assert sent.status_code == 202, sent.text
    case = wait_until(lambda: case_of(sent.json()["report_id"]), WAIT, "the case on 河畔区")
    assert case["grid_code"] == grids["features"][1]["properties"]["code"]
    assert case["lead_department"] == "chengguan" and case["state"] == "dispatched"
    act = http.post(
        f"/api/v1/cases/{case['id']}/actions",
        json={"action": "resolve", "note": "清运"},
        headers=chengguan,
    )
    assert act.status_code in (200, 202), act.text
    wait_until(lambda: state_of(case["id"]) == "resolved", WAIT, "resolved")
    act = http.post(
        f"/api/v1/cases/{case['id']}/actions",
        json={"action": "verify", "passed": True},
        headers=worker_token,
    )
    assert act.status_code in (200, 202), act.text
    wait_until(lambda: state_of(case["id"]) == "closed", WAIT, "closed")

    # -- a place no grid covers yet: refused at the door, dead-lettered at intake -------
    community = [
        f for f in grids["features"] if f["properties"]["community_code"] == "990202002002"
    ]
    minx, miny, maxx, maxy = Polygon().union(shape(community[0]["geometry"])).bounds
    east = max(shape(f["geometry"]).bounds[2] for f in grids["features"])
    new_grid = Polygon(
        [
            (east + 0.001, miny),
            (east + 0.004, miny + 0.0005),
            (east + 0.0045, miny + 0.003),
            (east + 0.002, miny + 0.0035),
            (east + 0.0008, miny + 0.002),
        ]
    )
    point = new_grid.representative_point()
    assert report(point.x, point.y).status_code == 422
    event = Envelope(
        id=str(uuid.uuid4()),
        source="urn:system:12345",
        type=REPORT_SUBMITTED,
        datacontenttype="application/json",
        data={
            "category": "garbage",
            "description": "新区垃圾",
            "location": {"lat": point.y, "lon": point.x},
        },
    )
    value, headers = encode_structured(event)
    producer = KafkaProducer(bootstrap_servers=env.env["GRIDHUB_KAFKA_BOOTSTRAP"], acks="all")
    producer.send(env.topics.intake, key=b"hotline", value=value, headers=headers).get(timeout=10)
    producer.close()
    bootstrap = env.env["GRIDHUB_KAFKA_BOOTSTRAP"]
    (letter,) = wait_until(
        lambda: list(read(bootstrap, env.topics.intake_dlq)), WAIT, "the dead letter"
    )
    assert "grid" in letter.reason

    # -- a refused import names its problems; a valid one is taken live ------------------
    added = {
        "type": "Feature",
        "properties": {
            **community[0]["properties"],
            "code": "990202002002009",
            "name": "花市社区第9网格",
        },
        "geometry": json.loads(json.dumps(new_grid.__geo_interface__)),
    }
    overlapping = {**added, "properties": {**added["properties"], "code": "990202002002010"}}
    bad = tmp_path / "bad.geojson"
    bad.write_text(
        json.dumps({**grids, "features": [*grids["features"], added, overlapping]}),
        encoding="utf-8",
    )
    refused = gridhub(env.env, "grids", "import", str(bad))
    assert refused.returncode == 1
    assert (
        "refused: feature 15 (990202002002009): overlaps feature 16 (990202002002010)"
        in refused.stderr
    )
    good = tmp_path / "grids.geojson"
    good.write_text(
        json.dumps({**grids, "features": [*grids["features"], added]}), encoding="utf-8"
    )
    loaded = gridhub(env.env, "grids", "import", str(good))
    assert loaded.returncode == 0, loaded.stderr
    assert "grids version 1 loaded" in loaded.stdout

    def gateway_has_it() -> bool:
        meta = http.get("/api/v1/meta", headers=operator).json()
        return meta["data"]["grids"]["version"] == 1 and meta["district"]["grids"] == 15

    wait_until(gateway_has_it, WAIT, "the gateway to take grids version 1")
    features = http.get("/api/v1/grids", headers=operator).json()["features"]
    assert "990202002002009" in {f["properties"]["code"] for f in features}
    # A grid worker may now be given the new grid (the token command reads the imports).
    newcomer = bearer(cli_token(env.env, "grid_worker", "e2e-gw-new", "990202002002009"))
    assert http.get("/api/v1/me/profile", headers=newcomer).status_code == 200
    now_placed = report(point.x, point.y)
    assert now_placed.status_code == 202, now_placed.text

    redriven = gridhub(env.env, "dlq", "redrive", "--record", f"{letter.partition}/{letter.offset}")
    assert redriven.returncode == 0, redriven.stderr
    hotline = wait_until(
        lambda: case_of(derived_report_id(event)), WAIT, "the redriven report's case"
    )
    assert hotline["grid_code"] == "990202002002009"  # placed by the worker's new grids

    # -- the routing rules edited live: garbage goes to 环保 now -----------------------------
    routing = yaml.safe_load((RIVERSIDE / "routing.yaml").read_text(encoding="utf-8"))
    for rule in routing["rules"]:
        if rule["category"] == "garbage":
            rule["lead"] = "huanbao"
    edited = tmp_path / "routing.yaml"
    edited.write_text(yaml.safe_dump(routing, allow_unicode=True), encoding="utf-8")
    loaded = gridhub(env.env, "rules", "import", "routing", str(edited))
    assert loaded.returncode == 0, loaded.stderr
    wait_until(
        lambda: (
            http.get("/api/v1/meta", headers=operator).json()["data"]["routing"]["version"] == 1
        ),
        WAIT,
        "the gateway to take routing version 1",
    )

    others = iter(grids["features"][4:])  # a new place each try: no merging into the last

    def routed_to_huanbao() -> bool:
        other = shape(next(others)["geometry"]).representative_point()
        sent = report(other.x, other.y)
        case = wait_until(lambda: case_of(sent.json()["report_id"]), WAIT, "a new garbage case")
        return case["lead_department"] == "huanbao"

    # the worker polls every second: the first case after that is routed by the edit
    wait_until(routed_to_huanbao, WAIT, "a garbage case routed to huanbao", interval=1.0)
