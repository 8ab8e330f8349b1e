"""The page tests' browser: what deploy/native/browser.sh finds (or installs) is driven by Playwright.

The viewports are real emulation (a phone page is 390 CSS pixels wide at twice the pixel density, with
touch), and every context is a new profile: what one test's visit left behind, the next one never sees.
"""

from __future__ import annotations

import os
import struct
import subprocess
from pathlib import Path

import pytest
from playwright.async_api import BrowserContext

from twofold_common.testing.browser import DESKTOP, PHONE, VIEWPORTS, Chromium, Viewport, launch_chromium

pytest_plugins = ("twofold_common.testing.browser",)

ROOT = Path(__file__).resolve().parents[1]
ORIGIN = "https://pages.twofold.test"  # answered by the context itself (route), never by the network
PAGE = """<!doctype html><meta name="viewport" content="width=device-width, initial-scale=1">
<title>probe</title><h1>hi</h1>"""


async def serve(context: BrowserContext) -> None:
    await context.route(f"{ORIGIN}/**", lambda route: route.fulfill(body=PAGE, content_type="text/html"))


def png_size(image: bytes) -> tuple[int, int]:
    assert image[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", image[16:24])  # the IHDR chunk comes first
    return width, height


def test_browser_sh_prints_an_executable_chromium_and_installs_nothing_when_there_is_one() -> None:
    runs = [subprocess.run(["bash", str(ROOT / "deploy" / "native" / "browser.sh")], capture_output=True, text=True,
                           timeout=600, check=True) for _ in range(2)]
    path = runs[0].stdout.strip()
    assert os.access(path, os.X_OK), path
    assert runs[1].stdout.strip() == path and runs[1].stderr == ""  # the second run found it and said nothing


async def test_the_chromium_browser_sh_names_is_the_one_playwright_drives(monkeypatch: pytest.MonkeyPatch) -> None:
    path = subprocess.run(["bash", str(ROOT / "deploy" / "native" / "browser.sh")], capture_output=True, text=True,
                          timeout=600, check=True).stdout.strip()
    monkeypatch.setenv("TWOFOLD_CHROMIUM", path)
    async with launch_chromium() as chromium, chromium.context() as context:
        page = await context.new_page()
        await page.goto("data:text/html,<h1>hi</h1>")
        assert await page.locator("h1").text_content() == "hi"
        assert chromium.version.split(".")[0].isdigit()


@pytest.mark.parametrize("viewport", VIEWPORTS, ids=lambda v: v.name)
async def test_each_viewport_is_emulated(chromium: Chromium, viewport: Viewport) -> None:
    async with chromium.context(viewport, base_url=ORIGIN) as context:
        await serve(context)
        page = await context.new_page()
        await page.goto("/ui/probe")
        seen = await page.evaluate("({width: innerWidth, height: innerHeight, ratio: devicePixelRatio,"
                                   " touch: navigator.maxTouchPoints > 0})")
        assert seen == {"width": viewport.width, "height": viewport.height,
                        "ratio": viewport.device_scale_factor, "touch": viewport.has_touch}
        shot = await page.screenshot()
        scale = int(viewport.device_scale_factor)
        assert png_size(shot) == (viewport.width * scale, viewport.height * scale)


async def test_every_context_starts_without_the_previous_ones_cookies_and_storage(open_page) -> None:
    first = await open_page(PHONE)
    await serve(first.context)
    await first.goto(f"{ORIGIN}/ui/")
    await first.evaluate("document.cookie = 'visit=1; path=/'; localStorage.setItem('seen', '1')")
    assert await first.evaluate("document.cookie") == "visit=1"

    second = await open_page(DESKTOP)
    await serve(second.context)
    await second.goto(f"{ORIGIN}/ui/")
    assert await second.evaluate("[document.cookie, localStorage.getItem('seen')]") == ["", None]
