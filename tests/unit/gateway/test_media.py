"""POST /api/v1/media and GET /api/v1/media/{id}: type by magic bytes, size limit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from gateway.app import create_app
from gateway.deps import GatewayDeps
from gateway.media import MediaStore, sniff
from tests.support.gateway import TokenFactory
from tests.support.seeded_gateway import case_work_deps

MEDIA = "/api/v1/media"
LIMIT = 64 * 1024
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 100
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 100


@pytest.fixture
def ops(deps: GatewayDeps, engine: Engine, tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(case_work_deps(deps, engine, tmp_path, media_max_bytes=LIMIT))
    with TestClient(app) as test_client:
        yield test_client


@pytest.mark.parametrize(
    ("data", "declared", "content_type"),
    [
        (JPEG, "image/jpeg", "image/jpeg"),
        (PNG, "image/png", "image/png"),
        (WEBP, "image/webp", "image/webp"),
        (PNG, "application/octet-stream", "image/png"),
    ],
)
def test_upload_and_read_back(
    ops: TestClient,
    auth: TokenFactory,
    tmp_path: Path,
    data: bytes,
    declared: str,
    content_type: str,
) -> None:
    response = ops.post(
        MEDIA, files={"file": ("photo", data, declared)}, headers=auth("grid_worker")
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["content_type"] == content_type and body["bytes"] == len(data)
    assert len(body["id"]) == 32
    assert len(list((tmp_path / "media").iterdir())) == 1

    for role in ("leader", "department", "operator"):
        got = ops.get(f"{MEDIA}/{body['id']}", headers=auth(role, scope="x"))
        assert got.status_code == 200
        assert got.content == data
        assert got.headers["content-type"] == content_type
        assert got.headers["x-content-type-options"] == "nosniff"
    assert ops.get(f"{MEDIA}/{body['id']}").status_code == 401


@pytest.mark.parametrize(
    ("data", "declared"),
    [
        (b"GIF89a" + b"\x00" * 50, "image/gif"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/png"),  # lies about its type
        (b"%PDF-1.7", "image/jpeg"),
        (PNG, "image/jpeg"),  # a real PNG declared as JPEG
        (b"", "image/png"),
    ],
)
def test_other_content_is_415(
    ops: TestClient, auth: TokenFactory, tmp_path: Path, data: bytes, declared: str
) -> None:
    response = ops.post(MEDIA, files={"file": ("x", data, declared)}, headers=auth("grid_worker"))
    assert response.status_code == 415, response.text
    assert not (tmp_path / "media").exists() or not list((tmp_path / "media").iterdir())


def test_too_large_is_413(ops: TestClient, auth: TokenFactory) -> None:
    big = JPEG + b"\x00" * LIMIT
    response = ops.post(
        MEDIA, files={"file": ("big.jpg", big, "image/jpeg")}, headers=auth("grid_worker")
    )
    assert response.status_code == 413
    way_too_big = JPEG + b"\x00" * (LIMIT + 200 * 1024)  # refused by the body guard
    response = ops.post(
        MEDIA, files={"file": ("big.jpg", way_too_big, "image/jpeg")}, headers=auth("grid_worker")
    )
    assert response.status_code == 413


def test_upload_larger_than_the_general_body_limit_is_fine(
    deps: GatewayDeps, engine: Engine, tmp_path: Path, auth: TokenFactory
) -> None:
    """Uploads have their own limit, above the 256 KiB of other requests."""
    app = create_app(case_work_deps(deps, engine, tmp_path, media_max_bytes=1024 * 1024))
    photo = JPEG + b"\x00" * (600 * 1024)
    with TestClient(app) as client:
        response = client.post(
            MEDIA, files={"file": ("p.jpg", photo, "image/jpeg")}, headers=auth("grid_worker")
        )
        assert response.status_code == 201, response.text
        assert (
            client.post(
                "/api/v1/reports", content=b"x" * (300 * 1024), headers=auth("grid_worker")
            ).status_code
            == 413
        )


def test_unknown_or_malformed_ids_are_404(ops: TestClient, auth: TokenFactory) -> None:
    headers = auth("operator")
    for media_id in ("0" * 32, "..%2F..%2Fetc%2Fpasswd", "ABC", "0" * 31 + "g"):
        assert ops.get(f"{MEDIA}/{media_id}", headers=headers).status_code == 404


def test_roles_that_may_upload(ops: TestClient, auth: TokenFactory) -> None:
    for role, status in (("leader", 403), ("system", 403), ("department", 201), ("operator", 201)):
        response = ops.post(
            MEDIA, files={"file": ("p", PNG, "image/png")}, headers=auth(role, scope="chengguan")
        )
        assert response.status_code == status, role
    assert ops.post(MEDIA, files={"file": ("p", PNG, "image/png")}).status_code == 401


def test_missing_file_is_422(ops: TestClient, auth: TokenFactory) -> None:
    response = ops.post(MEDIA, data={"other": "x"}, headers=auth("grid_worker"))
    assert response.status_code == 422


def test_sniff_and_store(tmp_path: Path) -> None:
    assert sniff(JPEG) == "image/jpeg" and sniff(PNG) == "image/png"
    assert sniff(WEBP) == "image/webp" and sniff(b"RIFF\x00\x00\x00\x00WAVE") is None
    store = MediaStore(tmp_path / "m", 1000)
    stored = store.save(PNG, "image/png")
    assert stored.path.name == f"{stored.id}.png"
    assert store.find(stored.id) == stored
    assert store.find("../" + stored.id) is None
    assert not list((tmp_path / "m").glob(".*.part"))
