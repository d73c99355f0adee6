"""The transaction part of a draft: which request the page made for the list (or which table it showed),
with the window, page and session values turned into placeholders, and where the records are.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from agent.recorder.capture import Capture, Exchange, UserEvent
from agent.recorder.decisions import Decision
from agent.recorder.login import path_of, url_glob
from agent.recorder.values import SECRET_MIN_LENGTH, Parameterizer, snake

TOTAL_NAMES = ("total", "totalCount", "total_count", "totalNum", "totalRecords", "recordsTotal", "totalElements",
               "totalSize", "count")
OK_KEYS = ("code", "resultCode", "status", "errcode", "errCode", "ret", "retCode", "respCode", "success", "result")
STANDARD_HEADERS = frozenset({
    "accept", "accept-language", "accept-encoding", "content-type", "content-length", "user-agent", "referer",
    "origin", "host", "connection", "cookie", "cache-control", "pragma", "upgrade-insecure-requests", "priority",
    "x-requested-with", "dnt", "te", "if-none-match", "if-modified-since",
})


@dataclass
class SessionValue:
    name: str
    value: str
    capture: dict[str, str]  # the profile's session.captures entry


@dataclass
class Storage:
    """Cookies and localStorage at one moment (before the login, after the recording)."""

    cookies: dict[str, str] = field(default_factory=dict)
    local: dict[str, str] = field(default_factory=dict)


@dataclass
class SourceDraft:
    transactions: dict[str, Any]  # the profile's transactions.api or transactions.table
    records: list[dict[str, Any]]
    success_at: float
    success_url: str
    session: list[SessionValue]
    decisions: list[Decision]
    notes: list[str]
    exchange: Exchange | None = None  # the recorded API call (None for a table)
    table_url: str = ""


def list_paths(data: Any, prefix: str = "") -> Iterator[tuple[str, list[Any]]]:
    """(path, list) for every list of objects in a JSON answer (an empty list counts)."""
    if isinstance(data, list) and (not data or all(isinstance(item, dict) for item in data)):
        yield prefix.rstrip("."), data
    if isinstance(data, dict):
        for key, value in data.items():
            yield from list_paths(value, f"{prefix}{key}.")


def records_path(data: Any) -> tuple[str, list[Any]] | None:
    found = sorted(list_paths(data), key=lambda item: (-len(item[1]), item[0].count(".")))
    return found[0] if found else None


def total_path(data: Any, records: str) -> str | None:
    """The record count nearest the records: a sibling first, then each enclosing object."""
    parts = records.split(".") if records else []
    for depth in range(len(parts) - 1, -1, -1):
        node = data
        for part in parts[:depth]:
            node = node[part]
        if isinstance(node, dict):
            for name in TOTAL_NAMES:
                if isinstance(node.get(name), int | str) and str(node[name]).isdigit():
                    return ".".join([*parts[:depth], name])
    return None


def flat_params(exchange: Exchange) -> dict[str, Any]:
    params: dict[str, Any] = dict(parse_qsl(urlsplit(exchange.url).query, keep_blank_values=True))
    body = exchange.json_body
    if isinstance(body, dict):
        params.update(body)
    elif exchange.post_data and "=" in exchange.post_data:
        params.update(parse_qsl(exchange.post_data, keep_blank_values=True))
    return params


def page_and_noise(calls: list[dict[str, Any]]) -> tuple[frozenset[str], frozenset[str]]:
    """Keys whose numbers step by one between calls or links (the page), and keys that change otherwise
    (offsets among them: see :func:`offsets`)."""
    values: dict[str, set[str]] = {}
    for call in calls:
        for key, value in call.items():
            if not isinstance(value, dict | list):
                values.setdefault(key, set()).add(str(value))
    pages: set[str] = set()
    varying: set[str] = set()
    for key, seen in values.items():
        if len(seen) < 2:
            continue
        numbers = sorted(int(v) for v in seen if v.isdigit())
        if len(numbers) == len(seen) and any(b - a == 1 for a, b in pairwise(numbers)):
            pages.add(key)
        else:
            varying.add(key)
    return frozenset(pages), frozenset(varying)


def offsets(calls: list[dict[str, Any]], varying: frozenset[str]) -> frozenset[str]:
    """Changing keys whose numbers step by a whole page of rows (0, 10, 20...): the row offset of the page."""
    found = set()
    for key in varying:
        numbers = sorted({int(str(c[key])) for c in calls if str(c.get(key, "")).isdigit()})
        steps = {b - a for a, b in pairwise(numbers)}
        if len(numbers) >= 2 and len(numbers) == len({str(c.get(key)) for c in calls if key in c}) \
                and min(steps) > 1 and all(step % min(steps) == 0 for step in steps) and numbers[0] % min(steps) == 0:
            found.add(key)
    return frozenset(found)


def session_values(capture: Capture, before: Storage, after: Storage, login_end: float) -> list[SessionValue]:
    """Values that appeared with the login, by preference: cookie, localStorage, login answer."""
    found: list[SessionValue] = []
    for name, value in after.cookies.items():
        if before.cookies.get(name) != value and len(value) >= SECRET_MIN_LENGTH:
            found.append(SessionValue(snake(name), value, {"cookie": name}))
    for key, value in after.local.items():
        if before.local.get(key) != value and len(value) >= SECRET_MIN_LENGTH:
            found.append(SessionValue(snake(key), value, {"local_storage": key}))
    for exchange in capture.exchanges:
        if exchange.at <= login_end and exchange.json is not None:
            for path, value in _strings(exchange.json):
                if len(value) >= 16 and " " not in value:
                    found.append(SessionValue(snake(path.rsplit(".", 1)[-1]), value,
                                              {"response": url_glob(exchange.url), "path": path}))
    first: dict[str, SessionValue] = {}
    for item in found:  # one capture per value, the most durable source first
        first.setdefault(item.value, item)
    names: set[str] = set()
    unique = []
    for item in first.values():
        while item.name in names:
            item.name += "_2"
        names.add(item.name)
        unique.append(item)
    return unique


def _strings(data: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _strings(value, f"{prefix}{key}.")
    elif isinstance(data, str):
        yield prefix.rstrip("."), data


def _api_calls(capture: Capture, after: float) -> list[tuple[Exchange, str, list[Any]]]:
    """Answers after the login that carry a list of records and were asked with a window or a page."""
    calls = []
    for exchange in capture.exchanges:
        if exchange.at < after or exchange.resource_type not in ("xhr", "fetch") or exchange.status >= 400:
            continue
        found = records_path(exchange.json) if exchange.json is not None else None
        if found is None:
            continue
        probe = Parameterizer({}, datetime.now(UTC))
        probe.template(flat_params(exchange))
        if probe.found & {"since", "until", "page", "offset"}:
            calls.append((exchange, found[0], found[1]))
    return calls


def _headers(exchange: Exchange, params: Parameterizer) -> dict[str, str]:
    kept = {}
    for name, value in exchange.headers.items():
        if name.lower() in STANDARD_HEADERS or name.lower().startswith(("sec-", ":")):
            continue
        kept[name] = params.template(value, name)
    return kept


def api_source(capture: Capture, after: float, session: list[SessionValue]) -> SourceDraft | None:
    calls = _api_calls(capture, after)
    if not calls:
        return None
    endpoint = max({(x.method, path_of(x.url)) for x, _, _ in calls},
                   key=lambda key: sum(len(r) + 1 for x, _, r in calls if (x.method, path_of(x.url)) == key))
    mine = [(x, p, r) for x, p, r in calls if (x.method, path_of(x.url)) == endpoint]
    exchange, records_at, _ = mine[0]
    flat = [flat_params(x) for x, _, _ in mine]
    page_keys, varying = page_and_noise(flat)
    offset_keys = offsets(flat, varying)
    params = Parameterizer({s.name: s.value for s in session}, datetime.fromtimestamp(exchange.at / 1000, UTC),
                           page_keys, varying - offset_keys, offset_keys)
    query = dict(parse_qsl(urlsplit(exchange.url).query, keep_blank_values=True))
    request: dict[str, Any] = {"method": exchange.method, "url": path_of(exchange.url)}
    headers = _headers(exchange, params)
    if headers:
        request["headers"] = headers
    if query:
        request["query"] = params.template(query)
    body = exchange.json_body
    if body is not None:
        request["json"] = params.template(body)
    elif exchange.post_data:
        request["form"] = params.template(dict(parse_qsl(exchange.post_data, keep_blank_values=True)))
    records: list[dict[str, Any]] = []
    for _, _, rows in mine:
        records += [r for r in rows if isinstance(r, dict) and r not in records]
    data = exchange.json
    api: dict[str, Any] = {"request": request, "records": records_at}
    total = total_path(data, records_at)
    if total:
        api["total"] = total
    api["page_size"] = params.page_size or max(len(rows) for _, _, rows in mine) or 10
    api["first_page"] = params.first_page if params.first_page is not None else 1
    used = [s for s in session if f"session:{s.name}" in params.found]
    decisions, notes = _window_checks(params, "transactions.api.request")
    return SourceDraft({"api": api}, records, exchange.at, "", used, decisions, notes, exchange=exchange)


def _window_checks(params: Parameterizer, where: str) -> tuple[list[Decision], list[str]]:
    decisions: list[Decision] = []
    notes: list[str] = []
    if not {"since", "until"} <= params.found:
        missing = sorted({"since", "until"} - params.found)
        decisions.append(Decision(where, f"no time window ({', '.join(missing)}) recognised in the request: add "
                                         "{since:...}/{until:...} where the page sends the window", None))
    if "offset" in params.guessed:
        decisions.append(Decision(where, "a key named like a row offset was 0 and never seen changing: check that "
                                         "{offset} (rows before the page) is what it means", "{offset}"))
    if not params.found & {"page", "offset"}:
        notes.append("no page number or row offset recognised: only the first page is read")
    return decisions, notes


def _table_events(capture: Capture, after: float) -> list[UserEvent]:
    return [e for e in capture.events if e.kind == "table" and e.at >= after and e.get("rows")]


def table_source(capture: Capture, after: float) -> SourceDraft | None:
    tables = _table_events(capture, after)
    if not tables:
        return None
    last = tables[-1]
    path = path_of(last.url)
    mine = [e for e in tables if path_of(e.url) == path]
    urls = [e.url for e in mine]
    links = [link["href"] for e in mine for link in e.get("links") or [] if path_of(link["href"]) == path]
    seen = [dict(parse_qsl(urlsplit(u).query, keep_blank_values=True)) for u in urls + links]
    seen = [q for q in seen if q]
    page_keys, varying = page_and_noise(seen)
    offset_keys = offsets(seen, varying)
    base = max(seen, key=len) if seen else {}
    params = Parameterizer({}, datetime.fromtimestamp(last.at / 1000, UTC), page_keys, varying - offset_keys,
                           offset_keys)
    query = params.template({k: v for k, v in base.items()})
    head = [str(h) for h in last.get("head") or []]
    records = [dict(zip(head, row, strict=False)) for e in mine for row in e.get("rows") or []]
    unique = [r for i, r in enumerate(records) if r not in records[:i]]
    rows_per_page = max(len(e.get("rows") or []) for e in mine)
    table: dict[str, Any] = {"url": path, "query": query, "rows": last.get("rows_selector"),
                             "header": last.get("header_selector"),
                             "page_size": params.page_size or rows_per_page,
                             "first_page": params.first_page if params.first_page is not None else 1}
    decisions, notes = _window_checks(params, "transactions.table.query")
    if not params.found & {"page", "offset"}:
        table["page_size"] = 1000  # the engine stops after a short page: never loop on a page without paging
    start = min(e.at for e in mine)
    return SourceDraft({"table": table}, unique, start, mine[0].url, [], decisions, notes, table_url=last.url)


def ok_and_expired(ok: Any, probe_status: int, probe: Any, probe_url: str, login_path: str,
                   ) -> tuple[dict[str, Any] | None, dict[str, Any], list[Decision]]:
    """How answers say "fine" and "session gone", from the recorded answer and one made without the session."""
    expired: dict[str, Any] = {"status": [401]}
    decisions: list[Decision] = []
    if probe_status in (401, 403) and probe_status not in expired["status"]:
        expired["status"].append(probe_status)
    ok_condition = None
    if isinstance(ok, Mapping) and isinstance(probe, Mapping):
        keys = [k for k in OK_KEYS if k in ok and not isinstance(ok[k], dict | list)]
        keys += [k for k in ok if k not in keys and not isinstance(ok[k], dict | list)]
        for key in keys:
            if key in probe and probe[key] != ok[key]:
                ok_condition = {"path": key, "equals": ok[key]}
                expired["when"] = [{"path": key, "equals": probe[key]}]
                break
    if ok_condition is None and isinstance(ok, Mapping):
        code = next((k for k in OK_KEYS if k in ok and not isinstance(ok[k], dict | list)), None)
        if code is not None:
            ok_condition = {"path": code, "equals": ok[code]}
    if probe_url and login_path and path_of(probe_url) == login_path:
        expired["url"] = url_glob(probe_url)
    if "when" not in expired and "url" not in expired and probe_status not in expired["status"]:
        decisions.append(Decision("session.expired", "a request without the session was not refused in a way the "
                                  f"recorder could read (HTTP {probe_status}): say how an expired session shows",
                                  expired))
    return ok_condition, expired, decisions


def without_session(exchange: Exchange, values: list[str]) -> dict[str, Any]:
    """The recorded request with every session value blanked: what an expired session would send."""
    def blank(text: str) -> str:
        for value in values:
            text = text.replace(value, "expired")
        return text

    headers = {k: blank(v) for k, v in exchange.headers.items() if k.lower() not in STANDARD_HEADERS - {"content-type"}}
    options: dict[str, Any] = {"method": exchange.method, "headers": headers, "fail_on_status_code": False,
                               "max_redirects": 0}
    if exchange.post_data:
        options["data"] = blank(exchange.post_data)
    return {"url": blank(exchange.url), **options}
