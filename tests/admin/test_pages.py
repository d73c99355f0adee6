"""Every admin page, filled with data, at desktop and phone width: screenshots, no horizontal overflow, no overlap."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
import segno
from playwright.async_api import FloatRect, Page

from agent.appkeys import ACCOUNTS, DB
from agent.db import now_ms
from agent.matching import record_transactions
from agent.merchants import Merchant
from tests.admin.conftest import Console
from tests.support.factories import add_code, insert_order
from tests.support.memory_provider import transaction

SHOTS = Path("test-results/admin")
VIEWPORTS = {"desktop": (1280, 800), "phone": (390, 844)}
LAYOUT = ("header.topbar", "nav.sidenav", "main.content")


async def _seed(console: Console, merchant: Merchant) -> dict[str, str]:
    """A lived-in console: orders in every state, a failed notify, an unmatched payment, a failure snapshot."""
    app = console.gateway.app
    code = await add_code(app)
    await app[ACCOUNTS].add_account("hkrt", "码钱·二号店", "13900000002", "pw", "http://127.0.0.1:9")
    orders = [
        await insert_order(app, merchant, code, money_fen=1000 + i, status=status, name=f"会员充值 {i} 个月")
        for i, status in enumerate(("pending", "paid", "expired", "closed", "pending"))
    ]
    async with app[DB].transaction() as conn:
        await conn.execute("UPDATE orders SET paid_at = ? WHERE status = 'paid'", (now_ms(),))
        await conn.execute(
            "INSERT INTO notify_jobs (trade_no, status, attempts, next_attempt_at, last_error, created_at, updated_at) "
            "VALUES (?, 'failed', 3, 0, 'HTTP 500', 0, 0)", (orders[1].trade_no,),
        )
        await conn.execute(
            "INSERT INTO notify_attempts (trade_no, attempted_at, url, http_status, body_excerpt, outcome) "
            "VALUES (?, ?, ?, 500, 'Internal Server Error', 'rejected')",
            (orders[1].trade_no, now_ms(), orders[1].notify_url),
        )
    await record_transactions(app[DB], code.account_id, [transaction(777, now_ms())])
    stamp = "20261125T101500.000000Z"
    folder = console.gateway.settings.data_dir / "snapshots" / str(code.account_id) / stamp
    folder.mkdir(parents=True)
    png = io.BytesIO()
    segno.make("snapshot").save(png, kind="png", scale=10)
    (folder / "screenshot.png").write_bytes(png.getvalue())
    (folder / "error.json").write_text(json.dumps({"step": "login", "error": "LayoutChanged", "detail": "按钮不见了"}))
    return {
        "dashboard": "/", "orders": "/orders", "order": f"/orders/{orders[1].trade_no}",
        "unmatched": "/unmatched", "accounts": "/accounts", "account": f"/accounts/{code.account_id}",
        "codes": "/codes", "code": f"/codes/{code.id}", "merchants": "/merchants", "settings": "/settings",
        "takeover": f"/accounts/{code.account_id}/takeover",
    }


def _overlap(a: FloatRect, b: FloatRect) -> bool:
    return (a["x"] < b["x"] + b["width"] - 1 and b["x"] < a["x"] + a["width"] - 1
            and a["y"] < b["y"] + b["height"] - 1 and b["y"] < a["y"] + a["height"] - 1)


# Visible text outside code values (code, pre, .mono, form values), folded details left closed.
VISIBLE_PROSE = """() => {
  const out = [];
  const walker = document.createTreeWalker(document.querySelector('main') || document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (!el || el.closest('code, pre, .mono, script, style, option, [lang=en]')) continue;
    const shut = el.closest('details:not([open])');
    if (shut && !el.closest('summary')) continue;
    if (!el.getClientRects().length || getComputedStyle(el).visibility === 'hidden') continue;
    out.push(node.textContent);
  }
  return out.join(' ');
}"""
ENGLISH_SENTENCE = re.compile(r"[A-Za-z]{2,}(?:[ ,]+[A-Za-z]{2,}){3,}")  # four English words in a row
# Wider than the screen, yet not marked as a sideways-scrolling table with its hint shown.
UNMARKED_OVERFLOW = """() => [...document.querySelectorAll('main *')].filter(e => {
  const style = getComputedStyle(e);
  return e.scrollWidth > e.clientWidth + 1 && ['auto', 'scroll'].includes(style.overflowX)
    && !(e.classList.contains('scrollable') && e.previousElementSibling?.classList.contains('shown'));
}).map(e => e.className || e.tagName)"""


async def _check_layout(page: Page, name: str) -> None:
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), f"{name} overflows"
    assert await page.evaluate(UNMARKED_OVERFLOW) == [], f"{name}: scrolls sideways without a hint"
    prose = await page.evaluate(VISIBLE_PROSE)
    assert not ENGLISH_SENTENCE.search(prose), f"{name}: English shown: {ENGLISH_SENTENCE.findall(prose)}"
    tabs = page.locator("nav.sidenav a")
    width = (page.viewport_size or {"width": 0})["width"]
    for i in range(await tabs.count()):  # every tab on screen, none past the edge (phones: two rows)
        box = await tabs.nth(i).bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= width + 1, f"{name}: a tab is cut off"
    boxes = [await page.locator(selector).bounding_box() for selector in LAYOUT]
    assert all(boxes), name
    for i, first in enumerate(boxes):
        for second in boxes[i + 1:]:
            assert first and second and not _overlap(first, second), f"{name}: layout parts overlap"
    panels = page.locator("main .panel, main form.stack, main .card")
    rects = [await panels.nth(i).bounding_box() for i in range(await panels.count())]
    width = page.viewport_size["width"] if page.viewport_size else 0
    for rect in rects:
        assert rect and rect["x"] >= 0 and rect["x"] + rect["width"] <= width + 1, f"{name}: a panel sticks out"
    siblings = await page.evaluate("""() => [...document.querySelectorAll('main > .panel, main > .grid > .panel, main .cards > .card')]
        .map(e => { const r = e.getBoundingClientRect(); return {x: r.x, y: r.y, width: r.width, height: r.height}; })""")
    for i, first in enumerate(siblings):
        for second in siblings[i + 1:]:
            assert not _overlap(first, second), f"{name}: panels overlap"


@pytest.mark.parametrize("viewport", VIEWPORTS)
async def test_every_page_fits_and_is_captured(console: Console, merchant: Merchant, viewport: str) -> None:
    paths = await _seed(console, merchant)
    width, height = VIEWPORTS[viewport]
    await console.page.set_viewport_size({"width": width, "height": height})
    for name, path in paths.items():
        await console.open(path)
        await _check_layout(console.page, f"{name}@{viewport}")
        await console.page.screenshot(path=str(SHOTS / f"{name}-{width}x{height}.png"), full_page=True)
    # The English check sees English when it is shown: the developers' docstring, once unfolded.
    await console.open("/settings")
    await console.page.locator("#settings-table details.tech summary").first.click()
    await console.page.evaluate("document.querySelectorAll('[lang=en]').forEach(e => e.removeAttribute('lang'))")
    assert ENGLISH_SENTENCE.search(await console.page.evaluate(VISIBLE_PROSE))
    await console.page.context.clear_cookies()
    await console.page.goto(console.url("/login"))
    await _check_layout_login(console.page)
    await console.page.screenshot(path=str(SHOTS / f"login-{width}x{height}.png"), full_page=True)


async def _check_layout_login(page: Page) -> None:
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    box = await page.locator(".login-box").bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= (page.viewport_size or {"width": 0})["width"]
