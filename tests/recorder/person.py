"""The people of a recording test: the one who records (types, solves the captcha, opens the list) and the
maintainer who answers the draft's TODO(maintainer) questions from payments of known amount and channel."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import yaml
from playwright.async_api import Page

from agent.recorder import Draft
from fixtures.client import ControlClient

LOGIN_PATHS = {"ysepay": "/saas_merchant_management/login"}
PICTURE_LOADED = "s => { const e = document.querySelector(s); return e && e.complete && e.naturalWidth > 0; }"


def login_url(platform: str, base_url: str) -> str:
    return base_url + LOGIN_PATHS.get(platform, "/login")


async def drag(page: Page, selector: str, dx: float) -> None:
    box = await page.locator(selector).bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    await page.mouse.move(x, y)
    await page.mouse.down()
    await page.mouse.move(x + dx, y, steps=10)
    await page.mouse.up()


async def readable_captcha(page: Page, control: ControlClient, picture: str) -> str:
    """The answer the person types, from a picture with letters: a digits-only answer (about 1 in 100 pictures)
    would have the recorder propose a digits-only alphabet, so the person clicks for another picture first."""
    await page.wait_for_function(PICTURE_LOADED, arg=picture)
    shown = await control.captcha()
    while str(shown["answer"]).isdigit():
        await page.click(picture)
        for _ in range(100):  # until the back office has issued the new picture
            await asyncio.sleep(0.05)
            if (latest := await control.captcha())["id"] != shown["id"]:
                break
        shown = latest
        await page.wait_for_function(PICTURE_LOADED, arg=picture)
    return str(shown["answer"])


async def log_in_and_open_list(platform: str, page: Page, control: ControlClient, username: str,
                               password: str) -> None:
    """What the person does: type the login, solve the captcha / slider / SMS code, page through the list."""
    await page.locator("#username").press_sequentially(username)
    await page.locator("#password").press_sequentially(password)
    if platform in ("ysepay", "zhihui"):
        await page.locator("#captcha").press_sequentially(await readable_captcha(page, control, "#captcha-img"))
    if platform == "lakala":
        await page.wait_for_function(PICTURE_LOADED, arg="#slider-bg")
        await drag(page, "#slider-handle", int((await control.captcha())["answer"]))
    await page.click("#login-btn")
    if platform == "shengpay":
        await page.wait_for_selector("#otp")
        await page.locator("#otp").press_sequentially(await control.otp(username))
        await page.click("#login-btn")
    await page.wait_for_url("**/transactions*")
    if platform == "zhihui":  # a server-rendered list: choose a window, query, then the next page
        await page.fill("#createTime_begin", "2020-01-01 00:00:00")
        await page.fill("#createTime_end", "2035-01-01 00:00:00")
        async with page.expect_navigation():
            await page.click("#query")
        async with page.expect_navigation():
            await page.click("a[rel=next]")
    else:
        await page.wait_for_function("document.querySelectorAll('#tx-body tr').length > 0")
        async with page.expect_response(lambda r: r.request.resource_type in ("xhr", "fetch")):
            await page.click("#next")


def answer(draft: Draft, payments: list[dict[str, Any]]) -> dict[str, Any]:
    """The maintainer's answers: compare the recorded records with payments whose amount and channel are known."""
    fields = draft.data["transactions"]["fields"]
    by_trade = {p["trade_no"]: p for p in payments}
    matched = [(record, by_trade[str(record[fields["trade_no"]])]) for record in draft.records
               if str(record.get(fields["trade_no"])) in by_trade]
    assert matched, "the recorded records must include the payments made before recording"
    answers: dict[str, Any] = {}
    for decision in draft.decisions:
        if decision.path == "transactions.fields.amount.unit":
            record, payment = matched[0]
            same = int(record[fields["amount"]["path"]]) == payment["amount_fen"]
            answers[decision.path] = "fen" if same else "yuan"
        elif decision.path == "login.error_selector":
            answers[decision.path] = decision.guess  # the page's #error: checked by hand, it is where refusals show
        elif decision.path == "transactions.fields.channel.map":
            answers[decision.path] = {str(r[fields["channel"]["path"]]): p["channel"] for r, p in matched}
        else:
            raise AssertionError(f"unexpected open question {decision.path}: {decision.question}")
    return answers


def fill_in(path: Path, answers: dict[str, Any]) -> None:
    """Write the answers into the draft file, as a maintainer editing it would."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for dotted, value in answers.items():
        *parents, last = dotted.split(".")
        node = data
        for part in parents:
            node = node[part]
        node[last] = value
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
