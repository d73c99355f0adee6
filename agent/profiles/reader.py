"""Read every payment of a time window: page after page of the JSON API or the server-rendered table."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from agent.profiles.html_table import Element, parse_html, parse_selector
from agent.profiles.http import Transport, absolute_url, call, glob_match
from agent.profiles.model import ApiSource, Profile, TableSource
from agent.profiles.records import normalize
from agent.profiles.template import dig, render
from agent.providers.base import LayoutChanged, ProviderTransaction, SessionExpired, TransientError


@dataclass(frozen=True, slots=True)
class Reading:
    """What a read needs: the session's transport (plain HTTP or the browser context), its values and where
    the provider lives."""

    transport: Transport
    profile: Profile
    values: Mapping[str, str]
    base_url: str
    timeout_seconds: float


def _window_values(since: datetime, until: datetime) -> dict[str, Any]:
    # Providers filter by whole seconds: widen the end so a payment in its last second is included.
    return {"since": since.replace(microsecond=0), "until": until.replace(microsecond=0) + timedelta(seconds=1)}


async def _api_pages(reading: Reading, source: ApiSource, window: dict[str, Any]) -> AsyncIterator[list[Any]]:
    profile = reading.profile
    for index in range(profile.transactions.max_pages):
        page = source.first_page + index
        values = {**reading.values, **window, "page": page, "page_size": source.page_size,
                  "offset": index * source.page_size}
        data = await call(
            reading.transport, source.request, values, base_url=reading.base_url, zone=profile.zone,
            expired=profile.session.expired, step="transactions.api", timeout_seconds=reading.timeout_seconds,
        )
        if source.ok is not None and not source.ok.matches(data):
            raise LayoutChanged("transactions.api.ok", f"answer refused: {str(data)[:200]}")
        try:
            records = dig(data, source.records)
            total = int(dig(data, source.total)) if source.total else None
        except (KeyError, TypeError, ValueError):
            raise LayoutChanged("transactions.api.records", f"no {source.records!r} in {str(data)[:200]}") from None
        if not isinstance(records, list):
            raise LayoutChanged("transactions.api.records", f"{source.records!r} is not a list")
        yield records
        if len(records) < source.page_size or (total is not None and (index + 1) * source.page_size >= total):
            return


async def _table_pages(reading: Reading, source: TableSource, window: dict[str, Any]) -> AsyncIterator[list[Any]]:
    """The table's pages fetched with the session's cookies and read in Python.

    A page per read would cost a renderer process, a navigation and a DOM evaluation each time; the
    table is server-rendered, so its HTML already holds everything the page would show.
    """
    profile = reading.profile
    header, rows, cells = (parse_selector(s) for s in (source.header, source.rows, source.cells))
    for index in range(profile.transactions.max_pages):
        values = {**reading.values, **window, "page": source.first_page + index,
                  "page_size": source.page_size, "offset": index * source.page_size}
        url = absolute_url(reading.base_url, render(source.url, values, profile.zone))
        if source.query:
            url += ("&" if "?" in url else "?") + urlencode(render(source.query, values, profile.zone))
        document = await _table_document(reading, url)
        head = [cell.text() for cell in header.select(document)]
        if not head:
            raise LayoutChanged("transactions.table.header", f"no header cells match {source.header!r}")
        records = [dict(zip(head, (c.text() for c in cells.select(row)), strict=False))
                   for row in rows.select(document)]
        yield records
        if len(records) < source.page_size:
            return


async def _table_document(reading: Reading, url: str) -> Element:
    """GET a table page as a navigation would (redirects followed); SessionExpired when sent to log in."""
    expired = reading.profile.session.expired
    answer = await reading.transport.fetch("GET", url, headers={"Accept": "text/html,application/xhtml+xml"},
                                           timeout_seconds=reading.timeout_seconds, step="transactions.table")
    if answer.status in expired.status or (expired.url and glob_match(expired.url, answer.url)):
        raise SessionExpired(f"transactions.table: HTTP {answer.status}, sent to {answer.url}")
    if answer.status == 429 or answer.status >= 500:
        raise TransientError(f"transactions.table: HTTP {answer.status}")
    return parse_html(answer.body, answer.content_type)


async def read_transactions(reading: Reading, since: datetime, until: datetime) -> list[ProviderTransaction]:
    """Every payment with since <= paid_at <= until, deduplicated by trade no (pages may shift while read)."""
    transactions = reading.profile.transactions
    window = _window_values(since, until)
    pages = (
        _api_pages(reading, transactions.api, window) if transactions.api
        else _table_pages(reading, transactions.table, window)  # type: ignore[arg-type]
    )
    found: dict[str, ProviderTransaction] = {}
    async for records in pages:
        for record in records:
            if not isinstance(record, Mapping):
                raise LayoutChanged("transactions.records", f"a record is not an object: {str(record)[:80]}")
            if not all(condition.matches(record) for condition in transactions.include):
                continue
            tx = normalize(record, transactions.fields, reading.profile.zone)
            # Whole-second bounds: a record's time has no fraction, so compare with the widened window.
            if tx is not None and window["since"] <= tx.paid_at <= window["until"]:
                found.setdefault(tx.trade_no, tx)
    return sorted(found.values(), key=lambda tx: tx.paid_at)
