"""Photos from phones: stored under a media directory by random id, typed by
their magic bytes (JPEG, PNG and WebP only), never by what the client claims."""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from gateway.defaults import MEDIA_MAX_BYTES

# content type -> file extension
MEDIA_TYPES: dict[str, str] = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/webp": "webp",
}
_ID = re.compile(r"^[0-9a-f]{32}$")


def sniff(head: bytes) -> str | None:
    """The image type of a file from its first bytes, or None if not an allowed one."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


@dataclass(frozen=True)
class StoredMedia:
    id: str
    content_type: str
    bytes: int
    path: Path


class MediaStore:
    """Files ``<dir>/<id>.<ext>``; ids are 128 random bits in hex."""

    def __init__(self, directory: Path, max_bytes: int = MEDIA_MAX_BYTES) -> None:
        if max_bytes < 1:
            raise ValueError("max_bytes must be positive")
        self.directory = Path(directory)
        self.max_bytes = max_bytes

    def save(self, data: bytes, content_type: str) -> StoredMedia:
        """Store ``data`` (already checked) under a new id; written atomically."""
        ext = MEDIA_TYPES[content_type]
        self.directory.mkdir(parents=True, exist_ok=True)
        media_id = secrets.token_hex(16)
        path = self.directory / f"{media_id}.{ext}"
        partial = self.directory / f".{media_id}.part"
        with partial.open("xb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        partial.replace(path)
        return StoredMedia(media_id, content_type, len(data), path)

    def find(self, media_id: str) -> StoredMedia | None:
        if not _ID.match(media_id):
            return None
        for content_type, ext in MEDIA_TYPES.items():
            path = self.directory / f"{media_id}.{ext}"
            if path.is_file():
                return StoredMedia(media_id, content_type, path.stat().st_size, path)
        return None
