"""Recognise what a recorded request value stands for, and turn it into a profile placeholder.

A transaction request carries the time window (epoch ms, ``Y-m-d H:i:s``, or a date and a time part
``Y-m-d``/``H:i:s`` or ``Ymd``/``His``), the page number and size, per-request noise (a request id, the
current time) and session values (a token). Each becomes ``{since:...}``, ``{until:...}``, ``{page}``,
``{page_size}``, ``{uuid}``, ``{now:...}`` or the session value's name; anything else stays literal.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

SINCE_WORDS = frozenset({"start", "begin", "from", "since", "min", "gte", "开始"})
UNTIL_WORDS = frozenset({"end", "to", "until", "max", "stop", "lte", "结束"})
PAGE_NAMES = frozenset({"page", "pageno", "pagenum", "pagenumber", "pageindex", "current", "currentpage", "page_no",
                        "page_num", "curpage"})
SIZE_NAMES = frozenset({"page_size", "pagesize", "rows", "size", "limit", "per_page", "perpage", "pagelimit", "length",
                        "idisplaylength"})
OFFSET_NAMES = frozenset({"offset", "start", "skip", "istart", "idisplaystart", "firstresult", "startrow", "startindex"})
NOISE_WORDS = frozenset({"request", "req", "trace", "nonce", "uuid", "rid"})
TIMESTAMP_WORDS = frozenset({"t", "ts", "timestamp", "time", "request", "req", "now", "rand", "random"})
NEAR_NOW = timedelta(minutes=10)
SECRET_MIN_LENGTH = 6  # shorter session values would be found by accident in ordinary fields

# (regex, strftime pattern, part) — part: "datetime", "date" or "time".
_WALL_FORMATS = (
    (re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}"), "%Y-%m-%d %H:%M:%S", "datetime"),
    (re.compile(r"\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}"), "%Y/%m/%d %H:%M:%S", "datetime"),
    (re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}"), "%Y-%m-%dT%H:%M:%S", "datetime"),
    (re.compile(r"\d{14}"), "%Y%m%d%H%M%S", "datetime"),
    (re.compile(r"\d{4}-\d{2}-\d{2}"), "%Y-%m-%d", "date"),
    (re.compile(r"\d{4}/\d{2}/\d{2}"), "%Y/%m/%d", "date"),
    (re.compile(r"\d{8}"), "%Y%m%d", "date"),
    (re.compile(r"\d{2}:\d{2}:\d{2}"), "%H:%M:%S", "time"),
    (re.compile(r"\d{6}"), "%H%M%S", "time"),
)


def words(key: str) -> list[str]:
    """``queryStartTime`` -> [query, start, time]; ``createTime_begin`` -> [create, time, begin]."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", key)
    return [w.lower() for w in re.split(r"[^A-Za-z0-9\u4e00-\u9fff]+", spaced) if w]


def snake(key: str) -> str:
    name = "_".join(words(key)) or "value"
    name = re.sub(r"[^a-z0-9_]", "", name)
    return name if re.match(r"[a-z_]", name) else f"v_{name}"


@dataclass(frozen=True)
class TimeValue:
    """A value that reads as a point in time, with the spec that renders it back."""

    spec: str  # "ms", "s" or a strftime pattern
    part: str  # "datetime", "date" or "time"
    moment: datetime | None  # None for a bare time of day


def as_time(value: Any, key: str = "") -> TimeValue | None:
    """The time a request or record value encodes, if it plausibly is one (years 2000-2100)."""
    if isinstance(value, bool):
        return None
    text = str(value).strip() if isinstance(value, int | str) else ""
    if re.fullmatch(r"\d{13}", text):
        moment = datetime.fromtimestamp(int(text) / 1000, UTC)
        return TimeValue("ms", "datetime", moment) if 2000 <= moment.year <= 2100 else None
    if re.fullmatch(r"\d{10}", text) and "time" in "".join(words(key)) + "ts":
        moment = datetime.fromtimestamp(int(text), UTC)
        return TimeValue("s", "datetime", moment) if 2000 <= moment.year <= 2100 else None
    if isinstance(value, int):
        return None
    for regex, pattern, part in _WALL_FORMATS:
        if not regex.fullmatch(text):
            continue
        if pattern == "%H%M%S" and "time" not in words(key):
            return None  # six digits are a time of day only when the field says so
        try:
            parsed = datetime.strptime(text, pattern)
        except ValueError:
            return None
        if part == "time":
            return TimeValue(pattern, part, None)
        return TimeValue(pattern, part, parsed) if 2000 <= parsed.year <= 2100 else None
    return None


def window_side(key: str) -> str | None:
    names = set(words(key))
    if names & SINCE_WORDS:
        return "since"
    if names & UNTIL_WORDS:
        return "until"
    return None


@dataclass
class Parameterizer:
    """Turns one recorded request (query, JSON or form body, headers) into a template."""

    session: Mapping[str, str]  # session value name -> value as recorded
    now: datetime  # when the request was made (to tell "now" from the window's end)
    page_keys: frozenset[str] = frozenset()  # keys seen changing page to page
    varying: frozenset[str] = frozenset()  # keys whose value differed between two recorded calls
    offset_keys: frozenset[str] = frozenset()  # keys seen stepping by a page of rows (offset paging)

    def __post_init__(self) -> None:
        self.found: set[str] = set()  # which kinds were recognised: since, until, page, page_size, offset...
        self.guessed: set[str] = set()  # kinds recognised by a key's name only (never seen changing)
        self.first_page: int | None = None
        self.page_size: int | None = None

    def template(self, data: Any, key: str = "") -> Any:
        if isinstance(data, Mapping):
            times = self._window_keys(data)
            return {k: times.get(k) or self.template(v, k) for k, v in data.items()}
        if isinstance(data, list):
            return [self.template(item, key) for item in data]
        return self._scalar(data, key)

    def _window_keys(self, data: Mapping[str, Any]) -> dict[str, str]:
        """Time values of one object: since/until from the key's words, else the earlier is since."""
        times = {k: t for k, v in data.items() if (t := as_time(v, k)) is not None}
        out: dict[str, str] = {}
        loose: list[tuple[str, TimeValue]] = []
        for k, t in times.items():
            side = window_side(k)
            if side is None and t.moment is not None and self._near_now(t) and set(words(k)) & TIMESTAMP_WORDS:
                out[k] = f"{{now:{t.spec}}}"
            elif side is None:
                loose.append((k, t))
            else:
                out[k] = f"{{{side}:{t.spec}}}"
                self.found.add(side)
        dated = sorted((t.moment, k, t) for k, t in loose if t.moment is not None)
        for index, (_, k, t) in enumerate(dated):
            side = "since" if index == 0 and len(dated) > 1 else "until"
            out[k] = f"{{{side}:{t.spec}}}"
            self.found.add(side)
        return out

    def _near_now(self, value: TimeValue) -> bool:
        assert value.moment is not None
        moment = value.moment if value.moment.tzinfo else value.moment.replace(tzinfo=self.now.tzinfo)
        if value.spec not in ("ms", "s"):  # wall time of the provider's zone: compare loosely (zone unknown)
            return abs(moment.replace(tzinfo=None) - self.now.replace(tzinfo=None)) < timedelta(hours=14)
        return abs(moment - self.now) < NEAR_NOW

    def _scalar(self, value: Any, key: str) -> Any:
        if isinstance(value, str):
            templated = self._session(value)
            if templated != value:
                return templated
        flat = key.lower().replace("-", "_")
        compact = flat.replace("_", "")
        if isinstance(value, int | str) and not isinstance(value, bool) and str(value).isdigit():
            number = int(value)
            if key in self.offset_keys or (compact in OFFSET_NAMES and number == 0 and key not in self.page_keys):
                self.found.add("offset")
                if key not in self.offset_keys:
                    self.guessed.add("offset")
                return "{offset}" if isinstance(value, int) else "{offset!s}"
            if key in self.page_keys or ((flat in PAGE_NAMES or compact in PAGE_NAMES) and number <= 1000):
                self.found.add("page")
                self.first_page = 0 if number == 0 or self.first_page == 0 else 1  # a later page means 1-based
                return "{page}" if isinstance(value, int) else "{page!s}"
            if (flat in SIZE_NAMES or compact in SIZE_NAMES) and 1 <= number <= 1000:
                self.found.add("page_size")
                self.page_size = number
                return "{page_size}" if isinstance(value, int) else "{page_size!s}"
        if isinstance(value, str) and self._noise(value, key):
            return "{uuid}"
        return value

    def _noise(self, value: str, key: str) -> bool:
        if not re.fullmatch(r"[0-9a-fA-F]{16,}|[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}", value):
            return False
        return key in self.varying or bool(set(words(key)) & NOISE_WORDS)

    def _session(self, value: str) -> str:
        for name, secret in sorted(self.session.items(), key=lambda item: len(item[1]), reverse=True):
            if len(secret) >= SECRET_MIN_LENGTH and secret in value:
                self.found.add(f"session:{name}")
                value = value.replace(secret, f"{{{name}}}")
        return value
