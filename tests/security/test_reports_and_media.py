"""L4, L9 — a grid worker's stated location must lie in (or within 50 m of) the
grid it names; media ids must exist and belong to the caller (or to a case the
caller can see), and a photo is shown only to those who may see it."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient

from routing.placement import GRID_TOLERANCE_M
from sinks.models import case_events
from tests.support.gateway import report_body
from tests.support.images import make_png
from tests.support.security import Attacked
from tests.support.seeded_gateway import CASE_A

GRID = "990101001001001"
REPORTS = "/api/v1/reports"


def upload(client: TestClient, headers: dict[str, str]) -> str:
    answer = client.post(
        "/api/v1/media", files={"file": ("p.png", make_png(), "image/png")}, headers=headers
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def test_l4_a_location_far_from_the_named_grid_is_refused(
    hub: Attacked, client: TestClient
) -> None:
    worker = hub.bearer("grid_worker", GRID)
    shanghai = report_body(grid_code=GRID, location={"lat": 31.23, "lon": 121.47})
    answer = client.post(REPORTS, json=shanghai, headers=worker)
    assert answer.status_code == 422 and "outside grid" in answer.text
    grid = hub.deps.district.grids.get(GRID)
    assert grid is not None
    top = grid.polygon.bounds[3]
    centre = grid.polygon.centroid
    near = report_body(grid_code=GRID, location={"lat": top + 0.0003, "lon": centre.x})  # ~33 m
    assert client.post(REPORTS, json=near, headers=worker).status_code == 202
    far = report_body(grid_code=GRID, location={"lat": top + 0.002, "lon": centre.x})  # ~220 m
    assert client.post(REPORTS, json=far, headers=worker).status_code == 422
    assert GRID_TOLERANCE_M == 50


def test_l4_media_ids_must_be_the_callers_photos(hub: Attacked, client: TestClient) -> None:
    worker = hub.bearer("grid_worker", GRID)
    other = hub.bearer("grid_worker", GRID)
    for bogus in (["../../etc/passwd"], ["x" * 100_000], ["0" * 32]):
        answer = client.post(REPORTS, json=report_body(media=bogus), headers=worker)
        assert answer.status_code == 422, bogus
    theirs = upload(client, other)
    taken = client.post(REPORTS, json=report_body(media=[theirs]), headers=worker)
    assert taken.status_code == 422 and "not a photo of this caller" in taken.text
    mine = upload(client, worker)
    assert client.post(REPORTS, json=report_body(media=[mine]), headers=worker).status_code == 202


def test_l9_a_photo_is_shown_only_to_whoever_may_see_it(hub: Attacked, client: TestClient) -> None:
    department = hub.bearer("department", "chengguan")  # CASE_A's lead
    photo = upload(client, department)
    url = f"/api/v1/media/{photo}"
    assert client.get(url, headers=department).status_code == 200  # the uploader
    assert client.get(url, headers=hub.bearer("leader")).status_code == 404  # no case uses it yet
    commented = client.post(
        f"/api/v1/cases/{CASE_A}/actions",
        json={"action": "comment", "note": "现场照片", "media": [photo]},
        headers=department,
    )
    assert commented.status_code == 200, commented.text
    # The in-memory bus does not write the timeline: record the comment as the
    # writer would, then the case's viewers may see the photo and no one else.
    with hub.engine.begin() as conn:
        conn.execute(
            case_events.insert().values(
                case_id=CASE_A,
                version=99,
                event_id=f"{CASE_A}:99",
                type="commented",
                time=datetime.now(UTC),
                actor="department:x",
                data={"note": "现场照片", "media": [photo]},
            )
        )
    assert client.get(url, headers=hub.bearer("leader")).status_code == 200
    assert client.get(url, headers=hub.bearer("department", "huanbao")).status_code == 404
    assert client.get(url, headers=hub.bearer("grid_worker", "990101003")).status_code == 404
    assert client.get(url, headers=hub.bearer("system", "urn:x:y")).status_code == 404
