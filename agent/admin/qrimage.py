"""Reading the payload out of an uploaded QR picture, with OpenCV's detector."""

from __future__ import annotations

import asyncio
import base64

import cv2
import numpy as np

from agent.cashier.qr import render_svg

QUIET_ZONE = 40  # pixels of white added around tightly cropped pictures, which the detector needs


def _decode(image: bytes) -> str | None:
    pixels = cv2.imdecode(np.frombuffer(image, dtype=np.uint8), cv2.IMREAD_COLOR)
    if pixels is None:
        return None
    detector = cv2.QRCodeDetector()
    padded = cv2.copyMakeBorder(pixels, *(QUIET_ZONE,) * 4, cv2.BORDER_CONSTANT, value=(255, 255, 255))
    for candidate in (pixels, padded):
        text, points, _ = detector.detectAndDecode(candidate)
        if points is not None and text:
            return str(text)
    return None


async def decode_qr(image: bytes) -> str | None:
    """The QR's text, or None when the picture is not an image or holds no readable QR code."""
    return await asyncio.to_thread(_decode, image)


def svg_data_uri(payload: str) -> str:
    """The payload re-rendered as a QR, for an ``<img src>`` (an image URL never runs script)."""
    return "data:image/svg+xml;base64," + base64.b64encode(render_svg(payload)).decode()
