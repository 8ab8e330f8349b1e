"""A real browser for page tests: Debian's chromium, driven by Playwright, at a named viewport.

Playwright's own browser download is not used (it cannot be fetched here, and CI starts on a fresh
Debian machine): the browser is the system's, ``TWOFOLD_CHROMIUM`` when set, else ``/usr/bin/chromium``,
else ``chromium`` on PATH. ``deploy/native/browser.sh`` installs Debian's package when there is none.

A test module that says ``pytest_plugins = ("twofold_common.testing.browser",)`` gets the fixtures
``chromium`` (one browser per session) and ``open_page`` (pages in new contexts, closed after the test):

    @pytest.mark.parametrize("viewport", VIEWPORTS, ids=lambda v: v.name)
    async def test_sign_up(open_page, viewport) -> None:
        page = await open_page(viewport, base_url=gateway_url)
        await page.goto("/ui/signup")
        await expect(page.get_by_role("heading", level=1)).to_be_visible()  # playwright.async_api.expect

On a phone the page must declare ``<meta name="viewport" content="width=device-width">``, as on a real one:
without it the browser lays the page out 980 pixels wide and shrinks it.

Outside pytest, ``async with launch_chromium() as chromium, chromium.context(DESKTOP) as context:``.
Every context is new (no cookie or storage shared between two calls). Nothing here sleeps: Playwright's
locators and ``expect`` wait for the page themselves.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

ENV_CHROMIUM = "TWOFOLD_CHROMIUM"
DEBIAN_CHROMIUM = "/usr/bin/chromium"
# /dev/shm is often small in containers and CI, and chromium crashes when it fills: use /tmp instead.
# (Debian's launcher means to add this flag itself, but its test of the free space can fail silently.)
CHROMIUM_ARGS = ("--disable-dev-shm-usage",)


@dataclass(frozen=True)
class Viewport:
    """A screen the pages must work on, as Playwright's context options."""

    name: str
    width: int
    height: int
    is_mobile: bool = False
    has_touch: bool = False
    device_scale_factor: float = 1

    def context_options(self) -> dict[str, Any]:
        return {"viewport": {"width": self.width, "height": self.height}, "is_mobile": self.is_mobile,
                "has_touch": self.has_touch, "device_scale_factor": self.device_scale_factor}


DESKTOP = Viewport("desktop", 1280, 800)
PHONE = Viewport("phone", 390, 844, is_mobile=True, has_touch=True, device_scale_factor=2)
VIEWPORTS = (DESKTOP, PHONE)  # for ``pytest.mark.parametrize("viewport", VIEWPORTS, ids=lambda v: v.name)``


def chromium_path() -> str:
    """The chromium to drive; fails with what to do when there is none."""
    if chosen := os.environ.get(ENV_CHROMIUM):
        if not (os.path.isfile(chosen) and os.access(chosen, os.X_OK)):
            raise RuntimeError(f"{ENV_CHROMIUM}={chosen} is not an executable file")
        return chosen
    if os.access(DEBIAN_CHROMIUM, os.X_OK):
        return DEBIAN_CHROMIUM
    if found := shutil.which("chromium"):
        return found
    raise RuntimeError(f"no chromium found: run `bash deploy/native/browser.sh` (Debian's package), "
                       f"or set {ENV_CHROMIUM} to a chromium executable")


class Chromium:
    """One headless chromium process; each ``context()`` is a fresh, isolated browser profile."""

    def __init__(self, browser: Browser) -> None:
        self.browser = browser

    @property
    def version(self) -> str:
        return self.browser.version

    @asynccontextmanager
    async def context(self, viewport: Viewport = DESKTOP, **options: Any) -> AsyncIterator[BrowserContext]:
        """A new context at ``viewport``; ``options`` go to Playwright's ``new_context`` (``base_url``...)."""
        context = await self.browser.new_context(**{**viewport.context_options(), **options})
        try:
            yield context
        finally:
            await context.close()


@asynccontextmanager
async def launch_chromium(**launch_options: Any) -> AsyncIterator[Chromium]:
    """Start the system's chromium, headless; ``launch_options`` go to Playwright's ``launch``."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium_path(), headless=True,
            **{"args": list(CHROMIUM_ARGS), **launch_options})
        try:
            yield Chromium(browser)
        finally:
            await browser.close()


@pytest.fixture(scope="session")
async def chromium() -> AsyncIterator[Chromium]:
    """One browser for the test session: starting chromium takes about a second, a context milliseconds."""
    async with launch_chromium() as launched:
        yield launched


@pytest.fixture
async def open_page(chromium: Chromium) -> AsyncIterator[Callable[..., Awaitable[Page]]]:
    """A factory: ``await open_page(PHONE, base_url=...)`` is a page in a new context; all closed after the test."""
    async with AsyncExitStack() as stack:
        async def open_(viewport: Viewport = DESKTOP, **options: Any) -> Page:
            context = await stack.enter_async_context(chromium.context(viewport, **options))
            return await context.new_page()

        yield open_
