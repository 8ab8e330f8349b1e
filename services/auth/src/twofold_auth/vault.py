"""The vault's internal API, as auth uses it (the vault is the only holder of seeds)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from twofold_common.peer import PeerClient


@dataclass(frozen=True)
class Verification:
    valid: bool
    seed_id: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Factors:
    authenticators: list[dict[str, Any]]  # the vault's view of each active seed
    recovery_codes_left: int


class VaultClient:
    def __init__(self, http: PeerClient) -> None:
        self.http = http

    async def _post(self, path: str, body: dict) -> dict:
        answer = await self.http.call("POST", path, json=body)
        return answer.json() if answer.content else {}

    async def verify_code(self, subject: str, code: str) -> Verification:
        """``subject``: a user id, or ``<client_id>:<account>`` for a third-party app's user."""
        body = await self._post("/internal/verify", {"subject": subject, "code": code})
        return Verification(bool(body.get("valid")), body.get("seedId"), body.get("reason"))

    async def consume_recovery_code(self, user_id: uuid.UUID, code: str) -> tuple[bool, int]:
        """Whether the code was valid (it is then used up), and how many unused codes are left."""
        body = await self._post(f"/internal/subjects/{user_id}/recovery-codes/consume", {"code": code})
        return bool(body.get("valid")), int(body.get("remaining", 0))

    async def _get(self, path: str) -> Any:
        return self.http.read(await self.http.call("GET", path), lambda body: body)

    async def factors(self, user_id: uuid.UUID) -> Factors:
        """The user's authenticators that can sign in, and how many recovery codes are left."""
        seeds = await self._get(f"/internal/subjects/{user_id}/authenticators")
        left = await self._get(f"/internal/subjects/{user_id}/recovery-codes")
        return Factors([seed for seed in seeds if seed["status"] == "active"], int(left["remaining"]))

    async def new_recovery_codes(self, user_id: uuid.UUID) -> list[str]:
        body = await self._post(f"/internal/subjects/{user_id}/recovery-codes", {})
        return list(body["codes"])
