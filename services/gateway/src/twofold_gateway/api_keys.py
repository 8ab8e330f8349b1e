"""Third-party apps' API keys, checked in the gateway against the clients auth announces.

Auth publishes each client's whole state (``client.changed.v1``: its scopes, whether it is enabled, a verifier of
each secret that works, never a secret) on a compacted topic. Every replica reads that topic from its beginning
(a broadcast listener) and keeps each client's latest state here, so a key is checked without a request to auth,
and a client disabled is refused as soon as its event is heard.

What the table cannot answer goes to auth: a client it does not hold (created a moment ago, its event still on
the way) or a secret none of its verifiers match (rotated a moment ago, or a client from before verifiers, for
which auth records one on that answer and announces it). Auth's refusal is remembered ``negative_ttl`` seconds
per client and secret, so a flood of wrong secrets still does not reach auth's database; its acceptance is not
remembered at all, since the client's event follows within milliseconds. A client held as disabled is refused
without asking.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass

from twofold_common.api_keys import key_verifier
from twofold_common.errors import ServiceUnavailable, Unauthorized
from twofold_common.events import ClientChanged, CloudEvent
from twofold_common.peer import PeerClient, PeerUnreachable

BASIC_CHALLENGE = {"WWW-Authenticate": 'Basic realm="twofold"'}


@dataclass(frozen=True)
class App:
    client_id: str
    scopes: frozenset[str]


@dataclass(frozen=True)
class KnownClient:
    """A client as its latest event told: ``verifiers`` are (digest, until) pairs, until None for the current
    secret and the end of the overlap (epoch seconds) for a rotated one."""

    app: App
    enabled: bool
    verifiers: tuple[tuple[bytes, float | None], ...]

    def accepts(self, verifier: bytes, now: float) -> bool:
        accepted = False
        for digest, until in self.verifiers:  # each one compared in full and in constant time
            if hmac.compare_digest(digest, verifier) and (until is None or until > now):
                accepted = True
        return accepted


class ApiKeys:
    def __init__(self, auth_http: PeerClient, *, negative_ttl: float, max_refusals: int = 10_000,
                 clock: Callable[[], float] = time.time) -> None:
        self.auth_http = auth_http
        self.negative_ttl = negative_ttl
        self.max_refusals = max_refusals
        self.clock = clock
        self._clients: dict[str, KnownClient] = {}
        self._refused: dict[tuple[str, bytes], float] = {}  # (client id, verifier) -> until (monotonic)

    def known(self, client_id: str) -> KnownClient | None:
        """The client as its latest event told, if one was heard."""
        return self._clients.get(client_id)

    async def on_client_changed(self, event: ClientChanged, envelope: CloudEvent) -> None:
        verifiers = tuple((bytes.fromhex(v.digest), v.until.timestamp() if v.until else None)
                          for v in event.verifiers)
        self._clients[event.client_id] = KnownClient(App(event.client_id, frozenset(event.scopes)), event.enabled,
                                                     verifiers)

    async def authenticate(self, client_id: str, secret: str) -> App:
        known = self.known(client_id)
        if known is not None and not known.enabled:
            raise _invalid()
        verifier = key_verifier(client_id, secret)
        if known is not None and known.accepts(verifier, self.clock()):
            return known.app
        now = time.monotonic()
        if self._refused.get((client_id, verifier), 0.0) > now:
            raise _invalid()
        app = await self._ask_auth(client_id, secret)
        if app is None:
            self._remember_refusal((client_id, verifier), now)
            raise _invalid()
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

    def _remember_refusal(self, key: tuple[str, bytes], now: float) -> None:
        if len(self._refused) >= self.max_refusals:
            self._refused = {k: until for k, until in self._refused.items() if until > now}
            if len(self._refused) >= self.max_refusals:
                self._refused.clear()  # a flood of distinct keys: start over rather than grow
        self._refused[key] = now + self.negative_ttl


def _invalid() -> Unauthorized:
    return Unauthorized("Invalid API key.", code="invalid-client", headers=BASIC_CHALLENGE)
