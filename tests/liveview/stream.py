"""The person at a live view: finds the streamed picture and clicks where an element of the real page is shown."""

from __future__ import annotations

from playwright.async_api import Page

PICTURE = "[data-liveview] .liveview-picture"


async def wait_for_frames(viewer: Page, at_least: int = 1) -> None:
    await viewer.wait_for_function(
        "n => { const r = document.querySelector('[data-liveview]'); const i = r && r.querySelector('img');"
        " return i && i.complete && i.naturalWidth > 0 && parseInt(r.getAttribute('data-frames') || '0') >= n; }",
        arg=at_least)


async def screen_point(viewer: Page, x: float, y: float) -> tuple[float, float]:
    """Where the page's CSS point (x, y) is drawn in the viewer's window."""
    picture = await viewer.locator(PICTURE).bounding_box()
    assert picture is not None
    root = viewer.locator("[data-liveview]")
    width = float(await root.get_attribute("data-frame-width") or 0)
    height = float(await root.get_attribute("data-frame-height") or 0)
    assert width and height
    return picture["x"] + x / width * picture["width"], picture["y"] + y / height * picture["height"]


async def click_through(viewer: Page, real: Page, selector: str, *, tap: bool = False) -> None:
    """Click, in the stream, the middle of the element ``selector`` of the real (headless) page (scrolling it into
    sight first with the wheel over the picture, as a person would)."""
    box = await real.locator(selector).first.bounding_box()
    assert box is not None, selector
    viewport = real.viewport_size or {"width": 1280, "height": 800}
    for _ in range(20):
        if box["y"] >= 0 and box["y"] + box["height"] <= viewport["height"]:
            break
        await wait_for_frames(viewer)
        await viewer.mouse.move(*await screen_point(viewer, viewport["width"] / 2, viewport["height"] / 2))
        await viewer.mouse.wheel(0, 300 if box["y"] > 0 else -300)
        await real.wait_for_timeout(150)
        box = await real.locator(selector).first.bounding_box()
        assert box is not None, selector
    await click_at(viewer, box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, tap=tap)


async def click_at(viewer: Page, x: float, y: float, *, tap: bool = False) -> None:
    """Click (or, on a touch screen, tap) in the stream the real page's CSS point (x, y)."""
    await wait_for_frames(viewer)
    sx, sy = await screen_point(viewer, x, y)
    height = (viewer.viewport_size or {"height": 800})["height"]
    if not 0 <= sy < height:  # the viewer scrolls its own page to see that part of the picture
        await viewer.evaluate("dy => window.scrollBy(0, dy)", sy - height / 2)
        sx, sy = await screen_point(viewer, x, y)
    if tap:
        await viewer.touchscreen.tap(sx, sy)
    else:
        await viewer.mouse.click(sx, sy)


async def type_through(viewer: Page, real: Page, selector: str, text: str) -> None:
    """Click into a field through the stream and type on the viewer's keyboard, as a person would."""
    await click_through(viewer, real, selector)
    await viewer.keyboard.type(text, delay=15)
    await real.wait_for_function("([s, t]) => document.querySelector(s).value === t", arg=[selector, text])
