"""Third-party apps' API keys: checked by auth, the answer remembered for a short while.

A positive answer is kept ``ttl`` seconds (an app calls often; a disabled key
keeps working at most that long), a negative one only ``negative_ttl`` (a key
just created must work at once, and a flood of wrong secrets should still not
reach auth's database).  Entries are keyed by the client id and a SHA-256 of
the secret, never the secret itself.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from twofold_common.errors import ServiceUnavailable, Unauthorized
from twofold_common.peer import PeerClient, PeerUnreachable

BASIC_CHALLENGE = {"WWW-Authenticate": 'Basic realm="twofold"'}


@dataclass(frozen=True)
class App:
    client_id: str
    scopes: frozenset[str]


class ApiKeys:
    def __init__(self, auth_http: PeerClient, *, ttl: float, negative_ttl: float,
                 max_entries: int = 10_000) -> None:
        self.auth_http = auth_http
        self.ttl = ttl
        self.negative_ttl = negative_ttl
        self.max_entries = max_entries
        self._answers: dict[tuple[str, bytes], tuple[float, App | None]] = {}

    async def authenticate(self, client_id: str, secret: str) -> App:
        key = (client_id, hashlib.sha256(secret.encode()).digest())
        now = time.monotonic()
        cached = self._answers.get(key)
        if cached is not None and cached[0] > now:
            app = cached[1]
        else:
            app = await self._ask_auth(client_id, secret)
            self._remember(key, app, now)
        if app is None:
            raise Unauthorized("Invalid API key.", code="invalid-client", headers=BASIC_CHALLENGE)
        return app

    async def _ask_auth(self, client_id: str, secret: str) -> App | None:
        try:
            answer = await self.auth_http.post("/internal/clients/authenticate",
                                               json={"clientId": client_id, "clientSecret": secret})
        except PeerUnreachable:
            raise ServiceUnavailable("API keys cannot be checked now.", code="service-unavailable") from None
        if answer.status_code in (401, 422):  # unknown, disabled, wrong secret, or not even the right shape
            return None
        if answer.status_code != 200:
            raise ServiceUnavailable("API keys cannot be checked now.", code="service-unavailable")
        body = answer.json()
        return App(client_id=body["clientId"], scopes=frozenset(body["scopes"]))

    def _remember(self, key: tuple[str, bytes], app: App | None, now: float) -> None:
        if len(self._answers) >= self.max_entries:
            self._answers = {k: v for k, v in self._answers.items() if v[0] > now}
            if len(self._answers) >= self.max_entries:
                self._answers.clear()  # a flood of distinct keys: start over rather than grow
        self._answers[key] = (now + (self.ttl if app is not None else self.negative_ttl), app)
