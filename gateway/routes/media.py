"""``POST /api/v1/media`` (photo upload from phones) and ``GET /api/v1/media/{id}``.

Every upload is recorded with its uploader (``sinks.media``) and counted against
the uploader's daily quota (files and bytes, ``gateway.ratelimit``; 429 beyond).
A photo is shown to its uploader, or to a caller who can see a case that uses it
(404 to anyone else); a report or an action may reference only such photos
(:func:`check_media_ids`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, HTTPException, Path, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from pydantic import BaseModel

from gateway.auth import SignedIn, Uploader, too_many
from gateway.deps import Deps, GatewayDeps
from gateway.errors import ErrorOut, invalid_fields
from gateway.media import MEDIA_TYPES, MediaStore, sniff
from gateway.ports import TokenInfo
from gateway.ratelimit import UPLOAD_BYTES, UPLOAD_FILES
from gateway.routes.cases import visible
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
        429: {"model": ErrorOut, "description": "daily upload quota used up (Retry-After)"},
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
    limits = deps.rate_limits
    if limits is not None:
        who = str(token.principal_id)
        for key, cost in ((UPLOAD_FILES, 1), (UPLOAD_BYTES, len(data))):
            wait = limits.hit(key, who, cost)
            if wait > 0:
                raise too_many(wait, f"daily upload quota: {limits.describe(key)}")
    stored = await run_in_threadpool(store.save, data, detected)
    if deps.media_index is not None:
        await run_in_threadpool(
            deps.media_index.record,
            stored.id,
            str(token.principal_id),
            stored.content_type,
            stored.bytes,
        )
    return MediaOut(id=stored.id, content_type=stored.content_type, bytes=stored.bytes)


def may_see_media(deps: GatewayDeps, token: TokenInfo, media_id: str) -> bool:
    """The uploader, or a caller who can see a case that uses the photo."""
    index = deps.media_index
    if index is None:
        return True
    if index.owners([media_id]).get(media_id) == str(token.principal_id):
        return True
    return any(visible(token, case) for case in index.cases_using(media_id))


def check_media_ids(deps: GatewayDeps, token: TokenInfo, media_ids: list[str]) -> None:
    """422 naming the first photo a report or action may not reference: unknown,
    or another principal's that the caller cannot see in any case."""
    index = deps.media_index
    if index is None or not media_ids:
        return
    owners = index.owners(media_ids)
    me = str(token.principal_id)
    for position, media_id in enumerate(media_ids):
        owner = owners.get(media_id)
        if owner is None:
            raise invalid_fields(
                [(("body", "media", str(position)), "no such photo (upload it first)", media_id)]
            )
        if owner != me and not any(visible(token, c) for c in index.cases_using(media_id)):
            raise invalid_fields(
                [(("body", "media", str(position)), "not a photo of this caller", media_id)]
            )


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
    if found is None or not may_see_media(deps, token, media_id):
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
