"""ddddocr behind an async facade: models load once, inference runs off the event loop.

ddddocr (pinned 1.5.6) loads ONNX models for a second or so and runs them synchronously, so one
solver is shared by every account and each call goes to a single worker thread (the models are not
documented as thread-safe; one thread is plenty for a few captchas a minute).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

from agent.ops import metrics

Kind = Literal["image", "slider"]


def clean_text(raw: str, charset: str, length: int | None, case: str) -> str | None:
    """The OCR text in the expected case, or None when it has foreign characters or the wrong length."""
    text = raw.strip().replace(" ", "")
    if case == "upper":
        text = text.upper()
    elif case == "lower":
        text = text.lower()
    if not text or any(ch not in charset for ch in text):
        return None
    if length is not None and len(text) != length:
        return None
    return text


@dataclass
class CaptchaStats:
    """Answers accepted / refused per account, kept in memory for health pages and tests."""

    accepted: Counter[int] = field(default_factory=Counter)
    refused: Counter[int] = field(default_factory=Counter)

    def record(self, account_id: int, platform: str, kind: Kind, ok: bool) -> None:
        (self.accepted if ok else self.refused)[account_id] += 1
        metrics.captcha_attempted(platform, kind, ok)

    def success_rate(self, account_id: int) -> float | None:
        total = self.accepted[account_id] + self.refused[account_id]
        return None if total == 0 else self.accepted[account_id] / total


class CaptchaSolver:
    """Shared ddddocr models; create once per process and close it at shutdown."""

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ddddocr")
        self._ocr: Any = None
        self._slider: Any = None
        self.stats = CaptchaStats()

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _classify(self, image: bytes) -> str:
        if self._ocr is None:
            import ddddocr

            self._ocr = ddddocr.DdddOcr(show_ad=False)
        return str(self._ocr.classification(image))

    def _slide(self, piece: bytes, background: bytes) -> int:
        if self._slider is None:
            import ddddocr

            self._slider = ddddocr.DdddOcr(det=False, ocr=False, show_ad=False)
        result = self._slider.slide_match(piece, background, simple_target=True)
        return int(result["target"][0])

    async def classify(self, image: bytes) -> str:
        """The text ddddocr reads in a captcha picture (unchecked)."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._classify, image)

    async def slide_x(self, piece: bytes, background: bytes) -> int:
        """The x of the gap in ``background`` where ``piece`` fits, in background pixels."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._slide, piece, background)
