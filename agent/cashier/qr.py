"""The picture of an order's QR code: rendered from the code's payload, or the image uploaded for it."""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache

import segno

from agent.codes import code_artwork
from agent.db import Database

# Uploaded pictures are served only as these types; anything else would let an upload pose as a page.
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "image/svg+xml"})


@dataclass(frozen=True, slots=True)
class QrPicture:
    body: bytes
    content_type: str


@lru_cache(maxsize=512)
def render_svg(payload: str) -> bytes:
    """A vector QR that stays sharp at any size (crispEdges keeps module borders from blurring)."""
    buffer = io.BytesIO()
    segno.make(payload, error="m", micro=False).save(
        buffer, kind="svg", scale=1, border=4, xmldecl=False, omitsize=True, dark="#000", light="#fff"
    )
    return buffer.getvalue().replace(b"<svg ", b'<svg shape-rendering="crispEdges" ', 1)


def image_media_type(image: bytes, declared: str | None) -> str:
    """The declared type when it is an allowed image type, else what the bytes say, else octet-stream."""
    declared = (declared or "").split(";", 1)[0].strip().lower()
    if declared in IMAGE_TYPES:
        return declared
    for magic, media_type in _MAGIC:
        if image.startswith(magic):
            return media_type
    if image[:4] == b"RIFF" and image[8:12] == b"WEBP":
        return "image/webp"
    return "application/octet-stream"


async def code_picture(db: Database, code_id: int) -> QrPicture | None:
    """The code's picture: rendered payload first (always crisp), the uploaded image otherwise."""
    artwork = await code_artwork(db, code_id)
    if artwork is None:
        return None
    if artwork.payload:
        return QrPicture(render_svg(artwork.payload), "image/svg+xml")
    if artwork.image is not None:
        return QrPicture(artwork.image, image_media_type(artwork.image, artwork.image_type))
    return None
