"""A person using the pages in a real browser (Playwright driving Chromium): the browser tests and the
screenshot command (docs/screens/take.py) play them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .people import PASSWORD, Person
from .provider import Enrollment, SimpleTotp

if TYPE_CHECKING:
    from playwright.async_api import Page, Route


@dataclass
class Visitor:
    page: Page
    base_url: str  # the gateway
    provider: SimpleTotp  # the person's phone, for the provider's way and for an app reading the QR's key
    window: int = 1

    async def open(self, path: str) -> None:
        await self.page.goto(self.base_url + path)

    async def follow(self, selector: str) -> None:
        """Click what leads to another page (a link, a form's button) and wait until that page has loaded."""
        async with self.page.expect_navigation():
            await self.page.click(selector)

    def at(self, path: str) -> bool:
        return self.page.url.split("?", 1)[0] == self.base_url + path

    async def app_at(self, url: str) -> list[str]:
        """An app's pages under ``url``, whose address resolves nowhere here: the browser is answered there
        without the network, and the list returned fills with the URLs it arrived at."""
        arrived: list[str] = []

        async def answer(route: Route) -> None:
            arrived.append(route.request.url)
            await route.fulfill(status=200, body="app")

        await self.page.route(url + "*", answer)
        return arrived

    async def sign_up(self, password: str = PASSWORD) -> Person:
        email = f"person-{uuid.uuid4().hex[:10]}@example.com"
        await self.open("/ui/signup")
        await self.page.fill("#email", email)
        await self.page.fill("#password", password)
        await self.follow('form[action="/ui/signup"] button')
        return Person(email, user_id="", setup_token="", window=self.window, password=password)

    async def start_with_an_app(self, person: Person) -> str:
        """Choose "another authenticator app": the QR's key, which the app would read (spaces are for people)."""
        await self.follow('form[action="/ui/enroll/start"]:has(input[value=native]) button')
        key = (await self.page.text_content("#key") or "").replace(" ", "")
        person.enrollment = Enrollment(seed=key, seed_id="", account=person.email, period=self.provider.period)
        return key

    async def enroll_with_an_app(self, person: Person) -> list[str]:
        """The QR code's way to the end: the first code, then the recovery codes, saved."""
        await self.start_with_an_app(person)
        await self.enter_code(await person.code())
        return await self.save_recovery_codes()

    async def enroll_with_the_provider(self, person: Person) -> None:
        """Simple TOTP's way: its button opens the provider, which sends the browser to our callback."""
        await self.follow('form[action="/ui/enroll/start"]:has(input[value=legitate]) button')
        deep_link = await self.page.get_attribute("#open-authenticator", "href")
        assert deep_link is not None
        callback, person.enrollment = self.provider.accept(deep_link)
        await self.page.goto(callback)

    async def recovery_codes(self) -> list[str]:
        return [code.strip() for code in await self.page.locator("#recovery-codes li").all_text_contents()]

    async def save_recovery_codes(self) -> list[str]:
        codes = await self.recovery_codes()
        await self.page.check("#saved")
        await self.follow('form[action="/ui/recovery-codes/saved"] button')
        return codes

    async def sign_in(self, person: Person) -> None:
        await self.enter_password(person)
        await self.enter_code(await person.code())

    async def enter_password(self, person: Person) -> None:
        await self.open("/ui/signin")
        await self.page.fill("#email", person.email)
        await self.page.fill("#password", person.password)
        await self.follow('form[action="/ui/signin"] button')

    async def enter_code(self, code: str, field: str = "#code") -> None:
        await self.page.fill(field, code)
        await self.follow(f"form:has({field}) button[type=submit]")

    async def error_of(self, field: str) -> str:
        return (await self.page.text_content(f"#{field}-error") or "").strip()
