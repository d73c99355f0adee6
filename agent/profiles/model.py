"""The profile format: what a platform's back office looks like to mapay, as validated data.

One YAML file per platform under ``profiles/``. Field docs here are the reference; docs/profiles.md walks
through them. Everything is declarative so a recorder can write it and a maintainer can read it.
"""

from __future__ import annotations

import contextlib
import re
from datetime import timedelta, timezone, tzinfo
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from agent.profiles.basics import Condition, Request, Strict, exactly_one
from agent.profiles.template import placeholders
from agent.profiles.transactions_model import (
    Amount,
    ApiSource,
    ChannelField,
    Fields,
    PaidAt,
    TableSource,
    Transactions,
)

# Placeholders every template may use, beside the profile's own captures.
LOGIN_VALUES = frozenset({"username", "password", "password_md5", "now", "uuid"})
WINDOW_VALUES = frozenset({"since", "until", "page", "page_size", "offset", "now", "uuid"})
_FIXED_ZONES = {"Asia/Shanghai": timezone(timedelta(hours=8), "Asia/Shanghai")}

__all__ = [  # the transaction models live in transactions_model.py; the profile format is read from here
    "Amount", "ApiSource", "ChannelField", "Condition", "Fields", "PaidAt", "Profile", "Request", "Strict",
    "TableSource", "Transactions",
]


class ImageSource(Strict):
    """Where a captcha picture comes from: an answer the page receives, or an <img> on the page."""

    response: str | None = None
    """URL glob of the answer carrying the picture (its body, or a base64 ``field`` of its JSON)."""
    field: str | None = None
    selector: str | None = None
    """An <img>: its data: URL is decoded, any other picture is screenshotted."""

    @model_validator(mode="after")
    def _source(self) -> ImageSource:
        exactly_one(self, ("response", "selector"))
        if self.field is not None and self.response is None:
            raise ValueError("field needs response")
        return self


class CaptchaStep(Strict):
    """Read an image captcha with OCR and type it; the login is retried with a fresh one when refused."""

    image: ImageSource
    input: str
    charset: str = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    length: int | None = Field(default=None, ge=1, le=12)
    case: Literal["upper", "lower", "keep"] = "keep"
    refresh: str | None = None
    """Element clicked for a new picture when the OCR result fails the charset/length check."""
    attempts: int = Field(default=8, ge=1, le=30)


class SliderStep(Strict):
    """Solve a jigsaw slider: find the gap's x (ddddocr slide_match) and drag the handle there."""

    background: ImageSource
    piece: ImageSource
    handle: str
    shown: str | None = None
    """The displayed background <img>, to scale x when the page shows it at another size."""
    offset: int = 0
    attempts: int = Field(default=6, ge=1, le=30)


class OtpStep(Strict):
    """A one-time code (SMS) a person must type: waits for the input, fills the delivered code."""

    input: str
    submit: str | None = None


class Wait(Strict):
    """Something that shows a step is done: a URL, an element, or an answer (optionally checked)."""

    url: str | None = None
    element: str | None = None
    response: str | None = None
    ok: Condition | None = None
    timeout_seconds: float = Field(default=15.0, gt=0, le=120)

    @model_validator(mode="after")
    def _one_signal(self) -> Wait:
        exactly_one(self, ("url", "element", "response"))
        if self.ok is not None and self.response is None:
            raise ValueError("ok needs response")
        return self


STEP_ACTIONS = ("goto", "fill", "click", "captcha", "slider", "otp", "wait", "hook")


class Step(Strict):
    """One login action; exactly one of the action keys is set."""

    goto: str | None = None
    fill: str | None = None
    value: str | None = None
    click: str | None = None
    captcha: CaptchaStep | None = None
    slider: SliderStep | None = None
    otp: OtpStep | None = None
    wait: Wait | None = None
    hook: str | None = None
    name: str | None = None
    """Label used in errors and snapshots (defaults to the action and its target)."""

    @model_validator(mode="after")
    def _one_action(self) -> Step:
        action = exactly_one(self, STEP_ACTIONS)
        if (action == "fill") != (self.value is not None):
            raise ValueError("value goes with fill, and fill needs a value")
        return self

    @property
    def action(self) -> str:
        return next(name for name in STEP_ACTIONS if getattr(self, name) is not None)

    def label(self, index: int) -> str:
        if self.name:
            return f"login.{self.name}"
        target = getattr(self, self.action)
        detail = target if isinstance(target, str) else self.action
        return f"login[{index}].{self.action}({detail})"


class ErrorPatterns(Strict):
    """Regexes that classify the text of the page's login error message, tried in this order."""

    otp: str = "短信|动态码|校验码"
    captcha: str = "验证码|滑块|拼图"
    auth: str = "密码|锁定|冻结|账号不存在|用户名|用户不存在"


class Capture(Strict):
    """A session value (token) read after login: from an answer's JSON, localStorage or a cookie."""

    response: str | None = None
    path: str | None = None
    local_storage: str | None = None
    cookie: str | None = None

    @model_validator(mode="after")
    def _one_place(self) -> Capture:
        exactly_one(self, ("response", "local_storage", "cookie"))
        if (self.response is None) != (self.path is None):
            raise ValueError("response and path go together")
        return self


class Login(Strict):
    """How to log in by driving the login page as a person would."""

    steps: list[Step] = Field(min_length=1)
    success: Wait
    error_selector: str | None = None
    """Element where the page shows a refusal (wrong password, wrong captcha...)."""
    human_check: str | None = None
    """Element that, once visible, means the page asks for what only a person can do (a captcha kind the solver
    cannot read, a risk check): the login stops as needs_human at once, for 人工接管, instead of retrying."""
    errors: ErrorPatterns = ErrorPatterns()
    element_timeout_seconds: float = Field(default=8.0, gt=0, le=120)
    """How long a step waits for its element (or captcha picture) before the page counts as changed."""

    @field_validator("steps")
    @classmethod
    def _starts_with_goto(cls, steps: list[Step]) -> list[Step]:
        if steps[0].goto is None:
            raise ValueError("the first step must be a goto (a retried login starts from a fresh page)")
        return steps


class Refresh(Strict):
    """Renew a token shortly before it expires, without a new login."""

    request: Request
    ok: Condition
    captures: dict[str, str]
    """Session value name -> JSON path in the refresh answer."""
    before_expiry_seconds: float = Field(default=60.0, ge=0)


class Expired(Strict):
    """How answers say the session is gone."""

    status: list[int] = Field(default_factory=lambda: [401])
    when: list[Condition] = Field(default_factory=list)
    url: str | None = None
    """Table pages: being sent to a URL matching this glob (the login page) means expired."""


class Session(Strict):
    captures: dict[str, Capture] = Field(default_factory=dict)
    expires_at: str | None = None
    """Name of a capture holding the session's expiry in epoch ms (enables ``refresh``)."""
    refresh: Refresh | None = None
    expired: Expired = Expired()


class Hooks(Strict):
    """Code for what the format cannot say: a module with named async functions."""

    module: str
    """Dotted module path, e.g. ``agent.profiles.hooks.lakala``."""
    values: list[str] = Field(default_factory=list)
    """Session value names the module's hook steps return (usable as placeholders)."""


class Profile(Strict):
    """One platform: the file is all mapay needs to know it (its ``platforms`` row is mirrored from here)."""

    slug: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    """The platform's id; equals the file name. Accounts refer to it (``mapay account add --platform``)."""
    name: str = Field(min_length=1)
    """Display name for people (Chinese), shown in the admin console and ``mapay platform list``."""
    has_terminal: bool
    """Whether records carry the terminal / QR plate id (matching scopes per terminal). Default: whether
    ``transactions.fields.terminal_id`` is set."""
    order: int = 100
    """Position in lists of platforms (lower first, then by slug)."""
    base_url: str
    timezone: str = "Asia/Shanghai"
    min_poll_interval_seconds: float = Field(default=2.0, ge=0)
    """Never read this provider more often than this, whatever the scheduler wants."""
    hooks: Hooks | None = None
    transport: Literal["http", "browser"] = "http"
    """How transactions are read after the login. ``http`` (default): the session (cookies, captured values,
    the browser's User-Agent) is exported and reads go through a plain HTTP client, no browser context held.
    ``browser``: for a provider whose API works only from inside its page (request signatures computed by
    its JavaScript): reads stay in the account's browser context."""
    login: Login
    session: Session = Session()
    transactions: Transactions

    @model_validator(mode="before")
    @classmethod
    def _terminal_by_default(cls, data: Any) -> Any:
        if isinstance(data, dict) and "has_terminal" not in data:
            with contextlib.suppress(KeyError, TypeError, AttributeError):  # a missing part is reported by its field
                data = {**data, "has_terminal": bool(data["transactions"]["fields"].get("terminal_id"))}
        return data

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        _zone(value)
        return value

    @property
    def zone(self) -> tzinfo:
        return _zone(self.timezone)

    @property
    def session_names(self) -> frozenset[str]:
        refreshed = self.session.refresh.captures if self.session.refresh else {}
        hook_values = self.hooks.values if self.hooks else []
        return frozenset({*self.session.captures, *refreshed, *hook_values})

    @model_validator(mode="after")
    def _placeholders_known(self) -> Profile:
        login_names = LOGIN_VALUES | self.session_names
        window_names = WINDOW_VALUES | self.session_names
        templates: list[tuple[str, Any, frozenset[str]]] = [
            (f"login.steps.{i}", step.goto or step.value, login_names) for i, step in enumerate(self.login.steps)
        ]
        if self.session.refresh:
            templates.append(("session.refresh.request", self.session.refresh.request.model_dump(), window_names))
        source = self.transactions.api or self.transactions.table
        assert source is not None
        templates.append(("transactions", source.model_dump(), window_names))
        for where, template, known in templates:
            unknown = sorted(set(placeholders(template)) - known)
            if unknown:
                raise ValueError(f"{where}: unknown placeholder(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        if self.session.expires_at and self.session.expires_at not in self.session_names:
            raise ValueError(f"session.expires_at: {self.session.expires_at!r} is not a session capture")
        return self


def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        if name in _FIXED_ZONES:
            return _FIXED_ZONES[name]
        if re.fullmatch(r"[+-]\d{2}:\d{2}", name):
            sign = -1 if name[0] == "-" else 1
            return timezone(sign * timedelta(hours=int(name[1:3]), minutes=int(name[4:6])))
        raise ValueError(f"unknown time zone {name!r}") from exc
