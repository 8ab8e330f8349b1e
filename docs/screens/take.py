"""Screenshots of every page, at desktop and phone width, into docs/screens/ (``./stack screens``).

It plays two people through the running system (``./stack up``; another gateway with ``--gateway URL``):
one enrolls an authenticator app by its QR code (sign-up, recovery codes, sign-in with a code, the account,
a change that asks a code), the other Simple TOTP by its button.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import httpx

from twofold_common.testing.browser import DESKTOP, PHONE, Viewport, launch_chromium
from twofold_common.testing.pages import Visitor
from twofold_common.testing.people import PublicApi
from twofold_common.testing.provider import SimpleTotp
from twofold_common.testing.waiting import eventually

HERE = Path(__file__).parent


async def take(gateway: str, viewport: Viewport) -> list[Path]:
    taken: list[Path] = []
    async with launch_chromium() as chromium, chromium.context(viewport) as context:
        visitor = Visitor(await context.new_page(), gateway, SimpleTotp())

        async def shot(name: str) -> None:
            path = HERE / f"{name}-{viewport.name}.png"
            await visitor.page.screenshot(path=path, full_page=True)
            taken.append(path)

        await visitor.open("/ui/signup")
        await shot("signup")
        await visitor.page.fill("#email", "someone@example.com")
        await visitor.page.fill("#password", "password123456")
        await visitor.follow('form[action="/ui/signup"] button')
        await shot("signup-weak-password")
        person = await visitor.sign_up()
        await shot("enroll")
        await visitor.start_with_an_app(person)
        await shot("enroll-qr")
        await visitor.enter_code(await person.code())
        await shot("recovery-codes")
        await visitor.save_recovery_codes()
        await shot("signin")
        # auth hears of the enrollment by an event: sign in once it has
        async with httpx.AsyncClient(base_url=gateway) as http:
            await eventually(lambda: PublicApi(http, visitor.provider).login_is(person, "2fa_required"))
        await visitor.enter_password(person)
        await shot("code")
        await visitor.enter_code(person.wrong_code())
        await shot("code-wrong")
        await visitor.open("/ui/signin/recovery")
        await shot("recovery-code")
        await visitor.open("/ui/signin/code")
        await visitor.enter_code(await person.code())
        await shot("account")
        await visitor.open("/ui/account/confirm/delete")
        await shot("confirm")
        await visitor.open("/ui/account")
        await visitor.follow('form[action="/ui/signout"] button')

        # Simple TOTP's way: the button to the provider, its return to us, the code page's button to the app
        person = await visitor.sign_up()
        await visitor.enroll_with_the_provider(person)
        await shot("provider-done")
        await visitor.page.check("#saved")
        await visitor.follow("main form button")
        async with httpx.AsyncClient(base_url=gateway) as http:
            await eventually(lambda: PublicApi(http, visitor.provider).login_is(person, "2fa_required"))
        await visitor.enter_password(person)
        await shot("code-provider")
    return taken


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gateway", default="http://127.0.0.1:8000")
    args = parser.parse_args()
    for viewport in (DESKTOP, PHONE):
        for path in await take(args.gateway.rstrip("/"), viewport):
            print(path.relative_to(HERE.parent.parent))


if __name__ == "__main__":
    asyncio.run(main())
