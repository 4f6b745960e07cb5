"""``POST /api/v1/media`` (photo upload from phones) and ``GET /api/v1/media/{id}``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, HTTPException, Path, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from pydantic import BaseModel

from gateway.auth import SignedIn, Uploader
from gateway.deps import Deps, GatewayDeps
from gateway.errors import ErrorOut
from gateway.media import MEDIA_TYPES, MediaStore, sniff
from gateway.routes.common import AUTH_ERRORS, INVALID

router = APIRouter(prefix="/api/v1", tags=["media"])

MEDIA_NOT_FOUND = "media not found"
_SNIFF_BYTES = 16


class MediaOut(BaseModel):
    id: str
    content_type: str
    bytes: int


def _store(deps: GatewayDeps) -> MediaStore:
    if deps.media is None:
        raise HTTPException(status_code=503, detail="media uploads are not configured")
    return deps.media


@router.post(
    "/media",
    status_code=201,
    response_model=MediaOut,
    summary="Upload a photo (JPEG, PNG or WebP); reference its id in reports and actions",
    responses={
        **AUTH_ERRORS,
        **INVALID,
        413: {"model": ErrorOut, "description": "file too large"},
        415: {"model": ErrorOut, "description": "not a JPEG, PNG or WebP image"},
        503: {"model": ErrorOut, "description": "uploads are not configured here"},
    },
)
async def upload_media(
    file: Annotated[UploadFile, File(description="the image, as a multipart file part")],
    deps: Deps,
    token: Uploader,
) -> MediaOut:
    store = _store(deps)
    data = await file.read(store.max_bytes + 1)
    await file.close()
    if len(data) > store.max_bytes:
        raise HTTPException(
            status_code=413, detail=f"file exceeds the limit of {store.max_bytes} bytes"
        )
    if not data:
        raise HTTPException(status_code=415, detail="the file is empty")
    detected = sniff(data[:_SNIFF_BYTES])
    allowed = ", ".join(MEDIA_TYPES)
    if detected is None:
        raise HTTPException(
            status_code=415, detail=f"the file is not an image of an allowed type ({allowed})"
        )
    declared = (file.content_type or "").split(";")[0].strip().lower()
    if declared not in ("", "application/octet-stream", detected):
        raise HTTPException(
            status_code=415,
            detail=f"the file is {detected} but was sent as {declared}",
        )
    stored = await run_in_threadpool(store.save, data, detected)
    return MediaOut(id=stored.id, content_type=stored.content_type, bytes=stored.bytes)


@router.get(
    "/media/{media_id}",
    summary="A stored photo",
    response_class=FileResponse,
    responses={
        **AUTH_ERRORS,
        **INVALID,
        200: {"content": {t: {} for t in MEDIA_TYPES}, "description": "the image"},
        404: {"model": ErrorOut, "description": MEDIA_NOT_FOUND},
        503: {"model": ErrorOut, "description": "uploads are not configured here"},
    },
)
def get_media(
    media_id: Annotated[str, Path(min_length=1, max_length=64)],
    deps: Deps,
    token: SignedIn,
) -> FileResponse:
    found = _store(deps).find(media_id)
    if found is None:
        raise HTTPException(status_code=404, detail=MEDIA_NOT_FOUND)
    return FileResponse(
        found.path,
        media_type=found.content_type,
        headers={
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, max-age=86400, immutable",
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )
