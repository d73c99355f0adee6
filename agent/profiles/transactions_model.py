"""The profile format's transaction list: where the payments are (a JSON API or a table) and their fields."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from agent.profiles.basics import Condition, Request, Strict, exactly_one
from agent.profiles.html_table import parse_selector
from agent.providers.base import Channel


class ApiSource(Strict):
    """Read transactions from the back office's JSON API through the session."""

    request: Request
    records: str
    total: str | None = None
    ok: Condition | None = None
    page_size: int = Field(default=50, ge=1, le=1000)
    first_page: int = Field(default=1, ge=0)


class TableSource(Strict):
    """Read transactions from a server-rendered table, page by page."""

    url: str
    query: dict[str, Any] = Field(default_factory=dict)
    """Query parameters (placeholders allowed), URL-encoded onto ``url``."""
    rows: str
    header: str
    """Header cells whose text names each column (the record's keys)."""
    cells: str = "td"
    page_size: int = Field(default=50, ge=1, le=1000)
    first_page: int = Field(default=1, ge=0)

    @field_validator("rows", "header", "cells")
    @classmethod
    def _supported_selector(cls, value: str) -> str:
        parse_selector(value)  # the table is read in Python: only the CSS subset html_table knows
        return value


class Amount(Strict):
    path: str
    unit: Literal["fen", "yuan"]


class ChannelField(Strict):
    path: str
    map: dict[str, Channel]


class PaidAt(Strict):
    path: str
    format: str
    """``ms`` / ``s`` for epoch numbers, else a strftime pattern in the profile's time zone."""


class Fields(Strict):
    """Where each normalized field is in a record."""

    trade_no: str
    amount: Amount
    channel: ChannelField
    paid_at: PaidAt
    terminal_id: str | None = None


class Transactions(Strict):
    api: ApiSource | None = None
    table: TableSource | None = None
    include: list[Condition] = Field(default_factory=list)
    """Only records matching all of these are payments (e.g. a success status)."""
    fields: Fields
    max_pages: int = Field(default=100, ge=1)

    @model_validator(mode="after")
    def _one_source(self) -> Transactions:
        exactly_one(self, ("api", "table"))
        return self
