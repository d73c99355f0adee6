"""The login part of a draft: the person's fills and clicks as profile steps, with the typed credentials
as placeholders, the captcha picture / slider / one-time code recognised, and how success shows.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from agent.recorder.capture import Capture, Exchange, UserEvent
from agent.recorder.decisions import Decision

CAPTCHA_WORDS = re.compile(r"验证码|captcha|verify|vcode|randomcode|checkcode|kaptcha|imgcode|code", re.I)
OTP_WORDS = re.compile(r"短信|手机验证|动态|sms|otp|mobilecode|smscode", re.I)
CAPTCHA_URL = re.compile(r"captcha|kaptcha|verify|vcode|randomcode|checkcode|imgcode|validate", re.I)
REFRESH_TEXT = re.compile(r"换一张|刷新|看不清|refresh", re.I)
IMAGE_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM", b"RIFF")
OTP_VALUE = re.compile(r"\d{4,8}")


def url_glob(url: str) -> str:
    """A glob for an answer's URL that survives other hosts and changing query strings."""
    parts = [p for p in urlsplit(url).path.split("/") if p]
    return "**/" + "/".join(parts[-2:]) + "*" if parts else "**"


def path_of(url: str) -> str:
    return urlsplit(url).path or "/"


def decode_image(value: Any) -> bytes | None:
    if not isinstance(value, str) or len(value) < 100:
        return None
    text = value.split(",", 1)[1] if value.startswith("data:") else value
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if raw.startswith(IMAGE_MAGIC) else None


def image_fields(data: Any, prefix: str = "") -> Iterator[tuple[str, bytes]]:
    """(dotted path, picture) for every base64 picture in a JSON answer."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield from image_fields(value, f"{prefix}{key}.")
    elif isinstance(data, list):
        for index, value in enumerate(data[:20]):
            yield from image_fields(value, f"{prefix}{index}.")
    elif (picture := decode_image(data)) is not None:
        yield prefix.rstrip("."), picture


def picture_area(picture: bytes) -> int:
    """Width x height of a PNG (other formats: size in bytes, good enough to rank background vs piece)."""
    if picture.startswith(b"\x89PNG") and len(picture) >= 24:
        return int.from_bytes(picture[16:20], "big") * int.from_bytes(picture[20:24], "big")
    return len(picture)


@dataclass
class Stage:
    """The events of one login page (documents with the same path, e.g. a form shown again after an error)."""

    path: str
    start: float
    events: dict[tuple[str, str], UserEvent] = field(default_factory=dict)  # first position, last event

    def add(self, event: UserEvent) -> None:
        key = (event.kind, str(event.get("selector")))
        if key in self.events:
            self.events[key].data = event.data  # later value wins, first position stays
        else:
            self.events[key] = UserEvent(event.seq, event.kind, event.doc, event.url, event.at, dict(event.data))


@dataclass
class LoginDraft:
    steps: list[dict[str, Any]]
    success: dict[str, Any]
    error_selector: str | None
    username: str | None
    otp_codes: list[str]
    notes: list[str]
    login_calls: list[Exchange]
    decisions: list[Decision] = field(default_factory=list)


def stages(capture: Capture, success_at: float) -> list[Stage]:
    """Login pages in the order the person went through them, up to the page where the session showed."""
    docs: dict[str, float] = {}
    for event in capture.events:
        docs.setdefault(event.doc, event.at)
    by_path: dict[str, Stage] = {}
    ordered: list[Stage] = []
    for event in capture.events:
        if docs[event.doc] >= success_at:
            continue
        path = path_of(event.url)
        stage = by_path.get(path)
        if stage is None:
            stage = by_path[path] = Stage(path, docs[event.doc])
            ordered.append(stage)
        if event.kind in ("fill", "click", "drag"):
            stage.add(event)
    return ordered


def _describe(event: UserEvent) -> str:
    return " ".join(str(event.get(k) or "") for k in ("id", "name", "placeholder", "label"))


def _captcha_image(capture: Capture, fill: UserEvent) -> dict[str, Any] | None:
    """Where the captcha picture of this stage comes from: a JSON answer, a picture answer or an <img>."""
    before = [x for x in capture.exchanges if x.at <= fill.at]  # a picture may load before the page's script runs
    for exchange in reversed(before):
        found = list(image_fields(exchange.json)) if exchange.json is not None else []
        if len(found) == 1:
            return {"response": url_glob(exchange.url), "field": found[0][0]}
    for exchange in reversed(before):
        if exchange.content_type.startswith("image/") and CAPTCHA_URL.search(exchange.url):
            return {"response": url_glob(exchange.url)}
    pictures = fill.get("pictures") or []
    if pictures:
        return {"selector": pictures[0]["selector"]}
    return None


def _slider(capture: Capture, drag: UserEvent) -> dict[str, Any] | None:
    for exchange in reversed([x for x in capture.exchanges if x.at <= drag.at]):
        found = list(image_fields(exchange.json)) if exchange.json is not None else []
        if len(found) >= 2:
            ranked = sorted(found, key=lambda item: picture_area(item[1]), reverse=True)
            glob = url_glob(exchange.url)
            return {"background": {"response": glob, "field": ranked[0][0]},
                    "piece": {"response": glob, "field": ranked[-1][0]}, "handle": drag.get("selector")}
    pictures = sorted(drag.get("pictures") or [], key=lambda p: p["width"] * p["height"], reverse=True)
    if len(pictures) >= 2:
        step: dict[str, Any] = {"background": {"selector": pictures[0]["selector"]},
                                "piece": {"selector": pictures[-1]["selector"]}, "handle": drag.get("selector")}
        if pictures[0]["shown"] and pictures[0]["shown"] != pictures[0]["width"]:
            step["shown"] = pictures[0]["selector"]
        return step
    return None


DIGITS, LOWER, UPPER = "0123456789", "abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def captcha_alphabet(typed: str) -> tuple[str, str, str | None]:
    """(charset, case, question) from what the person typed: the case they used is the case the page wants."""
    if typed.isdigit():
        return DIGITS, "keep", None
    lower, upper = any(c.islower() for c in typed), any(c.isupper() for c in typed)
    if lower and upper:
        return DIGITS + UPPER + LOWER, "keep", ("the captcha was typed in mixed case: keep (case-sensitive) is "
                                                "guessed; use upper or lower if the page ignores case")
    if lower:
        return DIGITS + LOWER, "lower", None
    return DIGITS + UPPER, "upper", None


def _captcha_step(fill: UserEvent, image: dict[str, Any]) -> dict[str, Any]:
    typed = str(fill.get("value") or "")
    charset, case, _ = captcha_alphabet(typed)
    step: dict[str, Any] = {
        "image": image,
        "input": fill.get("selector"),
        "charset": charset,
        "length": fill.get("maxlength") if fill.get("maxlength") and fill.get("maxlength") <= 12 else len(typed) or None,
        "case": case,
        "attempts": 10,
    }
    pictures = fill.get("pictures") or []
    if pictures:
        step["refresh"] = pictures[0]["selector"]
    if step["length"] is None:
        del step["length"]
    return step


def build_login(capture: Capture, base_url: str, login_url: str, success_url: str, success_at: float) -> LoginDraft:
    notes: list[str] = []
    pages = stages(capture, success_at)
    start = login_url[len(base_url):] if login_url.startswith(base_url) else login_url
    steps: list[dict[str, Any]] = [{"goto": start or "/"}]
    username: str | None = None
    error_selector: str | None = None
    pending_otp: dict[str, Any] | None = None
    otp_codes: list[str] = []
    decisions: list[Decision] = []
    for stage in pages:
        events = sorted(stage.events.values(), key=lambda e: e.seq)
        has_password = any(e.kind == "fill" and e.get("type") == "password" for e in events)
        drags = {str(e.get("selector")) for e in events if e.kind == "drag"}
        for event in events:
            value = str(event.get("value") or "")
            if event.kind == "click":
                if event.get("tag") in ("img", "canvas") or REFRESH_TEXT.search(str(event.get("text") or "")):
                    continue  # a new captcha picture, not a step
                if str(event.get("selector")) in drags:
                    continue
                error_selector = event.get("errorSelector") or error_selector
                if pending_otp is not None:
                    pending_otp["submit"] = event.get("selector")
                    pending_otp = None
                    continue
                steps.append({"click": event.get("selector")})
            elif event.kind == "drag":
                slider = _slider(capture, event)
                if slider is None:
                    notes.append(f"a drag on {event.get('selector')} had no slider pictures: left out")
                    continue
                steps.append({"slider": slider})
            elif event.get("type") == "password" or (value and capture.secrets.placeholder(value)):
                steps.append({"fill": event.get("selector"), "value": "{password}"})
            elif username is not None and value == username:
                steps.append({"fill": event.get("selector"), "value": "{username}"})
            elif CAPTCHA_WORDS.search(_describe(event)) and (image := _captcha_image(capture, event)):
                steps.append({"captcha": _captcha_step(event, image)})
                question = captcha_alphabet(value)[2]
                if question:
                    decisions.append(Decision(f"login.steps.{len(steps) - 1}.captcha.case", question, "keep"))
            elif (OTP_WORDS.search(_describe(event)) or CAPTCHA_WORDS.search(_describe(event))) \
                    and OTP_VALUE.fullmatch(value):
                pending_otp = {"input": event.get("selector")}
                otp_codes.append(value)
                steps.append({"otp": pending_otp})
            elif username is None and has_password and value:
                username = value
                steps.append({"fill": event.get("selector"), "value": "{username}"})
            else:
                steps.append({"fill": event.get("selector"), "value": value})
                notes.append(f"{event.get('selector')} was typed as a literal value: check it is not personal")
    login_calls = [x for x in capture.exchanges
                   if x.at < success_at and x.method == "POST" and x.resource_type in ("xhr", "fetch", "document")]
    refusals = [e for e in capture.events if e.kind == "error" and e.at < success_at and e.get("selector")]
    if refusals:  # a refusal seen showing: where this page tells them
        error_selector = str(refusals[-1].get("selector"))
        notes.append(f"error_selector: {error_selector} showed {refusals[-1].get('text')!r} after a refused attempt")
    elif error_selector:
        decisions.append(Decision("login.error_selector", "no refusal was seen while recording: this element is "
                                  "guessed from its name; make one wrong attempt and check the message shows there",
                                  error_selector))
    else:
        decisions.append(Decision("login.error_selector", "no refusal was seen and no error element found: make one "
                                  "wrong attempt and set error_selector to where the message shows", None))
    return LoginDraft(steps, {"url": url_glob(success_url)}, error_selector, username, otp_codes, notes, login_calls,
                      decisions)
