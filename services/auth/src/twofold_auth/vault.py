"""The vault's internal API, as auth uses it (the vault is the only holder of seeds)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from twofold_common.errors import ServiceUnavailable


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
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def _post(self, path: str, body: dict) -> dict:
        try:
            response = await self.http.post(path, json=body)
        except httpx.HTTPError:
            raise ServiceUnavailable("The TOTP vault is unreachable.", code="vault-unavailable") from None
        if response.status_code >= 500 or response.status_code in (401, 403):
            raise ServiceUnavailable("The TOTP vault did not answer.", code="vault-unavailable")
        return response.json() if response.content else {}

    async def verify_code(self, subject: str, code: str) -> Verification:
        """``subject``: a user id, or ``<client_id>:<account>`` for a third-party app's user."""
        body = await self._post("/internal/verify", {"subject": subject, "code": code})
        return Verification(bool(body.get("valid")), body.get("seedId"), body.get("reason"))

    async def consume_recovery_code(self, user_id: uuid.UUID, code: str) -> tuple[bool, int]:
        """Whether the code was valid (it is then used up), and how many unused codes are left."""
        body = await self._post(f"/internal/subjects/{user_id}/recovery-codes/consume", {"code": code})
        return bool(body.get("valid")), int(body.get("remaining", 0))

    async def _get(self, path: str) -> Any:
        try:
            response = await self.http.get(path)
        except httpx.HTTPError:
            raise ServiceUnavailable("The TOTP vault is unreachable.", code="vault-unavailable") from None
        if response.status_code != 200:
            raise ServiceUnavailable("The TOTP vault did not answer.", code="vault-unavailable")
        return response.json()

    async def factors(self, user_id: uuid.UUID) -> Factors:
        """The user's authenticators that can sign in, and how many recovery codes are left."""
        seeds = await self._get(f"/internal/subjects/{user_id}/authenticators")
        left = await self._get(f"/internal/subjects/{user_id}/recovery-codes")
        return Factors([seed for seed in seeds if seed["status"] == "active"], int(left["remaining"]))

    async def new_recovery_codes(self, user_id: uuid.UUID) -> list[str]:
        body = await self._post(f"/internal/subjects/{user_id}/recovery-codes", {})
        return list(body["codes"])
