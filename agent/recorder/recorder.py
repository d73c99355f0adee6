"""Record a platform's profile by watching a person log in and open the transaction list once.

    async with Recorder("lakala", "https://m2.lakala.com/login", out=Path("profiles/lakala.yaml")) as rec:
        ...                              # the person (or a test through ``rec.page``) logs in, opens the list
        draft = await rec.finish()       # writes the draft after loading it with the engine's loader

The person's typing and clicking come from a script injected into every page; the requests from the
context's network events. The password is recognised and replaced by a placeholder everywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urljoin, urlsplit

import structlog
from playwright.async_api import Browser, BrowserContext, Page, Playwright, async_playwright
from playwright.async_api import Error as PlaywrightError

from agent.browser.launch import LAUNCH_ARGS, find_chromium
from agent.recorder.capture import Capture
from agent.recorder.draft import Draft, RecordingError
from agent.recorder.login import LoginDraft, build_login, path_of
from agent.recorder.mapping import guess_fields
from agent.recorder.source import (
    SessionValue,
    SourceDraft,
    Storage,
    api_source,
    ok_and_expired,
    session_values,
    table_source,
    without_session,
)

log = structlog.get_logger(__name__)

OPAQUE = re.compile(r"(?<![{\w])[A-Za-z0-9+/=_-]{20,}")  # tickets, ids, nonces: no use to a reader, maybe secret
SLUG = re.compile(r"^[a-z][a-z0-9_]*$")
SETTLE_SECONDS = 0.3  # let the last events and answers of the page arrive before analysing


class Recorder:
    """A Chromium context that watches one recording; ``page`` is the tab the person uses."""

    def __init__(self, name: str, login_url: str, *, out: Path, browser: Browser | None = None,
                 headless: bool = True, chromium_path: Path | None = None) -> None:
        if not SLUG.fullmatch(name):
            raise RecordingError(f"平台标识 {name!r} 无效：应以小写字母开头，只含小写字母、数字和 _（它也是配置文件名）")
        parts = urlsplit(login_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise RecordingError(f"登录地址 {login_url!r} 无效：应为 http:// 或 https:// 地址")
        self.name = name
        self.login_url = login_url
        self.base_url = f"{parts.scheme}://{parts.netloc}"
        self.out = out
        self.capture = Capture()
        self._browser = browser
        self._headless = headless
        self._chromium_path = chromium_path
        self._playwright: Playwright | None = None
        self._context: BrowserContext | None = None
        self._page: Page | None = None
        self._before = Storage()

    @property
    def page(self) -> Page:
        assert self._page is not None, "use the Recorder inside its async with block"
        return self._page

    async def __aenter__(self) -> Recorder:
        if self._browser is None:
            self._playwright = await async_playwright().start()
            options: dict[str, Any] = {"headless": self._headless, "args": list(LAUNCH_ARGS)}
            executable = find_chromium(self._chromium_path, headless=self._headless)
            if executable is not None:
                options["executable_path"] = str(executable)
            self._browser = await self._playwright.chromium.launch(**options)
        self._context = await self._browser.new_context(
            locale="zh-CN", timezone_id="Asia/Shanghai", viewport={"width": 1280, "height": 800})
        await self.capture.attach(self._context)
        self._page = await self._context.new_page()
        await self._page.goto(self.login_url, wait_until="domcontentloaded")
        self._before = await self._storage()
        log.info("recording_started", profile=self.name, url=self.login_url)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        with contextlib.suppress(PlaywrightError):
            if self._context is not None:
                await self._context.close()
        if self._playwright is not None:
            with contextlib.suppress(PlaywrightError):
                if self._browser is not None:
                    await self._browser.close()
            await self._playwright.stop()

    async def _storage(self) -> Storage:
        """Cookies and localStorage of every origin (readable after the person closed the tab, too)."""
        assert self._context is not None
        state = await self._context.storage_state()
        local = {item["name"]: item["value"] for origin in state.get("origins", [])
                 for item in origin.get("localStorage", [])}
        return Storage({c["name"]: c["value"] for c in state.get("cookies", [])}, local)

    async def closed(self) -> None:
        """Wait until the person closes the browser window (the CLI's other way to say "finished")."""
        await self.page.wait_for_event("close", timeout=0)

    # -- analysis --------------------------------------------------------------------------------------
    async def finish(self) -> Draft:
        """Turn what was seen into a draft profile, validate it with the engine's loader and write it."""
        await asyncio.sleep(SETTLE_SECONDS)
        await self.capture.settle()
        after = await self._storage()
        capture = self.capture
        typed = [e.at for e in capture.events if e.kind == "fill" and e.get("type") == "password"]
        if not typed:
            raise RecordingError("没有输入过密码：请先在页面上登录，再结束录制")
        logged_in = max(typed)
        source = api_source(capture, logged_in, []) or table_source(capture, logged_in)
        if source is None:
            raise RecordingError("登录后没有看到交易请求或交易表格：请先打开交易列表（并翻一页），再结束录制")
        success_url, success_start = self._success_page(source, logged_in)
        session = session_values(capture, self._before, after, source.success_at)
        if source.exchange is not None:
            source = api_source(capture, logged_in, session) or source
        login = build_login(capture, self.base_url, self.login_url, success_url, success_start)
        ok, expired, probe_decisions = await self._probe(source, session)
        fields = guess_fields(source.records)
        data = self._profile(login, source, ok, expired, fields.fields, fields.include, fields.has_terminal)
        draft = Draft(self.name, data, [*login.decisions, *source.decisions, *probe_decisions, *fields.decisions],
                      [*login.notes, *source.notes, *fields.notes], self._header(login, source), source.records)
        draft.write(self.out)
        log.info("recording_written", profile=self.name, path=str(self.out), unresolved=len(draft.decisions))
        return draft

    def _success_page(self, source: SourceDraft, logged_in: float) -> tuple[str, float]:
        """The first sign of the logged-in session: the first page after the password that is not a page the
        person typed into (an SMS form is part of the login, a home page is not). Clicks after it are browsing,
        not login steps. Without one, the page open when the list was first read."""
        events = self.capture.events
        typed_on = {path_of(e.url) for e in events if e.kind in ("fill", "drag")}
        after = [e for e in events if e.kind == "doc" and e.at >= logged_in and path_of(e.url) not in typed_on]
        if after and after[0].at <= source.success_at:
            return after[0].url, after[0].at
        docs = [e for e in events if e.kind == "doc" and e.at <= source.success_at]
        if not docs:
            return source.success_url or self.login_url, source.success_at
        return docs[-1].url, docs[-1].at

    async def _probe(self, source: SourceDraft, session: list[SessionValue],
                     ) -> tuple[dict[str, Any] | None, dict[str, Any], list[Any]]:
        """Ask once without the session, to learn how the provider says "not logged in"."""
        assert self._browser is not None
        context = await self._browser.new_context()
        try:
            if source.exchange is not None:
                request = without_session(source.exchange, [s.value for s in session])
                response = await context.request.fetch(request.pop("url"), **request)
            else:
                response = await context.request.get(source.table_url, max_redirects=0, fail_on_status_code=False)
            status, body = response.status, await response.body()
            target = urljoin(response.url, response.headers.get("location", "")) if 300 <= status < 400 else ""
        except PlaywrightError as exc:
            log.warning("recording_probe_failed", detail=str(exc).splitlines()[0])
            status, body, target = 0, b"", ""
        finally:
            await context.close()
        try:
            probe = json.loads(body) if body else None
        except ValueError:
            probe = None
        recorded = source.exchange.json if source.exchange is not None else None
        return ok_and_expired(recorded, status, probe, target, path_of(self.login_url))

    def _profile(self, login: LoginDraft, source: SourceDraft, ok: dict[str, Any] | None, expired: dict[str, Any],
                 fields: dict[str, Any], include: list[dict[str, Any]], has_terminal: bool) -> dict[str, Any]:
        transactions = dict(source.transactions)
        if ok is not None and "api" in transactions:
            api = transactions["api"]
            transactions["api"] = {"request": api["request"], "ok": ok,
                                   **{k: v for k, v in api.items() if k != "request"}}
        if include:
            transactions["include"] = include
        transactions["fields"] = fields
        login_data: dict[str, Any] = {"steps": login.steps, "success": login.success}
        if login.error_selector:
            login_data["error_selector"] = login.error_selector
        session: dict[str, Any] = {}
        if source.session:
            session["captures"] = {s.name: s.capture for s in source.session}
        session["expired"] = expired
        return {"slug": self.name, "name": self._title(), "has_terminal": has_terminal, "base_url": self.base_url,
                "timezone": "Asia/Shanghai", "min_poll_interval_seconds": 2, "login": login_data,
                "session": session, "transactions": transactions}

    def _title(self) -> str:
        docs = [e for e in self.capture.events if e.kind == "doc" and e.get("title")]
        if not docs:
            return self.name
        parts = [p.strip() for p in re.split(r"[-|–_]", str(docs[0].get("title"))) if p.strip()]
        brands = [p for p in parts if "登录" not in p and "login" not in p.lower()]
        return (brands or parts or [self.name])[0]

    def _header(self, login: LoginDraft, source: SourceDraft) -> list[str]:
        secrets = self.capture.secrets
        values = {s.value: f"{{{s.name}}}" for s in source.session}
        if login.username:
            values[login.username] = "{username}"
        values.update({code: "{otp}" for code in login.otp_codes})

        def clean(text: str) -> str:
            text = secrets.redact(text)
            for value, name in sorted(values.items(), key=lambda item: len(item[0]), reverse=True):
                text = text.replace(value, name)
            return OPAQUE.sub("<opaque>", text)[:240]

        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        lines = [f"Draft recorded by `mapay record {self.name}` from {self.login_url} on {stamp}.",
                 "Answer each TODO left for the maintainer below, then run: mapay profile check "
                 f"{self.name} --account ID", "", "Login calls the page made (secrets as placeholders):"]
        lines += [f"  {x.method} {path_of(x.url)} {clean(x.post_data or '')}" for x in login.login_calls[:8]]
        if source.session:
            lines.append("Session values: " + ", ".join(f"{s.name} from {_where(s)}" for s in source.session))
        else:
            lines.append("Session: cookies the browser sends by itself (nothing in the request carries a token).")
        if source.exchange is not None:
            lines.append(f"Transactions: {source.exchange.method} {path_of(source.exchange.url)} "
                         f"({len(source.records)} records seen)")
        else:
            lines.append(f"Transactions: the table at {path_of(source.table_url)} ({len(source.records)} rows seen)")
        return lines


def _where(value: SessionValue) -> str:
    capture = value.capture
    if "cookie" in capture:
        return f"cookie {capture['cookie']}"
    if "local_storage" in capture:
        return f"localStorage {capture['local_storage']}"
    return f"the answer {capture.get('response')} at {capture.get('path')}"

