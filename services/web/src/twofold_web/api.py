"""The public API as the pages call it: through the gateway, like any app, on the person's behalf.

Every call carries the person's address and browser (so the gateway's per-address limits and auth's
session records are theirs, not this service's) and this service's internal token, which is what makes
the gateway believe that address.  An answer is returned whatever its status: each page decides what a
refusal means for the person.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from twofold_common.peer import PeerAnswer, PeerClient, PeerUnreachable

from .words import WORDS


@dataclass(frozen=True)
class Person:
    """Who the pages act for: the address the gateway saw and the browser's own name."""

    ip: str
    user_agent: str


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    retry_after: int | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def problem(self) -> str:
        """The problem's code (``invalid-code``, ``rate-limited``...), or ``""``."""
        kind = self.body.get("type", "") if isinstance(self.body, dict) else ""
        return str(kind).rsplit("/", 1)[-1]

    def field(self, name: str) -> Any:
        return self.body.get(name) if isinstance(self.body, dict) else None


UNREACHABLE = Answer(503, {"type": "about:blank/unavailable", "detail": WORDS.unavailable})


class PublicApi:
    def __init__(self, client: PeerClient) -> None:
        self.client = client

    async def call(self, method: str, path: str, person: Person, *, json: Any = None,
                   bearer: str | None = None) -> Answer:
        headers = {"X-Forwarded-For": person.ip, "User-Agent": person.user_agent}
        if bearer is not None:
            headers["Authorization"] = f"Bearer {bearer}"
        try:
            answer = await self.client.request(method, path, json=json, headers=headers)
        except PeerUnreachable:
            return UNREACHABLE
        return Answer(answer.status_code, _body(answer), _retry_after(answer))

    async def aclose(self) -> None:
        await self.client.aclose()


def _body(answer: PeerAnswer) -> Any:
    try:
        return answer.json() if answer.content else None
    except ValueError:
        return None


def _retry_after(answer: PeerAnswer) -> int | None:
    value = answer.headers.get("Retry-After")
    return int(value) if value and value.isdigit() else None
