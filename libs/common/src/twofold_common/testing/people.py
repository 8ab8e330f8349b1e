"""People who use the product through the gateway alone: they register, enroll with the provider simulator
(their authenticator app), sign in.  The gateway's tests and the end-to-end suite play them."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

import httpx

from .http import bearer
from .provider import Enrollment, SimpleTotp
from .waiting import eventually

PASSWORD = "correct horse battery staple"


@dataclass
class Person:
    email: str
    user_id: str
    setup_token: str
    window: int = 1  # how many steps away from now the vault accepts a code
    password: str = PASSWORD
    enrollment: Enrollment | None = None

    async def code(self) -> str:
        """A code no earlier one used: each time step is accepted once, so step forward, waiting if needed."""
        assert self.enrollment is not None
        step = max(self.enrollment.current_step(), self.enrollment.last_step + 1)
        while step > self.enrollment.current_step() + self.window:  # beyond the vault's window: wait
            await asyncio.sleep(0.5)
        self.enrollment.last_step = step
        return self.enrollment.code_at(step)

    def wrong_code(self) -> str:
        """A code the vault accepts neither now nor a step later."""
        assert self.enrollment is not None
        now = self.enrollment.current_step()
        valid = {self.enrollment.code_at(now + d) for d in range(-self.window, self.window + 2)}
        return next(c for c in (f"{n:06d}" for n in range(10**6)) if c not in valid)


@dataclass
class PublicApi:
    """The gateway's public API as a person's browser uses it."""

    http: httpx.AsyncClient  # the gateway, and nothing else
    provider: SimpleTotp
    window: int = 1  # the vault's TOTP window in this stack

    async def register(self) -> Person:
        email = f"person-{uuid.uuid4().hex[:10]}@example.com"
        answer = await self.http.post("/api/auth/register", json={"email": email, "password": PASSWORD})
        assert answer.status_code == 201, answer.text
        body = answer.json()
        return Person(email, body["userId"], body["setupToken"], window=self.window)

    async def setup(self, person: Person, **body: object) -> httpx.Response:
        return await self.http.post("/api/auth/setup-2fa", json=body, headers=bearer(person.setup_token))

    async def browse(self, url: str) -> httpx.Response:
        """The person's browser following a redirect to the gateway (the provider's, to the callback)."""
        base = str(self.http.base_url).rstrip("/")
        assert url.startswith(base + "/"), url
        return await self.http.get(url[len(base):])

    async def enroll(self, person: Person) -> Person:
        """Setup through the gateway, the provider's page, the browser back to the gateway's callback."""
        started = await self.setup(person)
        assert started.status_code == 201, started.text
        callback, person.enrollment = self.provider.accept(started.json()["deepLink"])
        assert callback.startswith(str(self.http.base_url).rstrip("/") + "/api/auth/totp-callback?")
        landed = await self.browse(callback)
        assert landed.status_code == 200, landed.text
        await eventually(lambda: self.login_is(person, "2fa_required"))
        return person

    async def login_is(self, person: Person, status: str) -> bool:
        return (await self.login(person)).json().get("status") == status

    async def login(self, person: Person) -> httpx.Response:
        return await self.http.post("/api/auth/login", json={"email": person.email, "password": person.password})

    async def sign_in(self, person: Person, **headers: str) -> dict:
        challenge = (await self.login(person)).json()["challengeToken"]
        answer = await self.http.post("/api/auth/login/2fa", headers=headers,
                                      json={"challengeToken": challenge, "code": await person.code()})
        assert answer.status_code == 200, answer.text
        return answer.json()
