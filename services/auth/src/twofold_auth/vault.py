"""The vault's internal API, as auth uses it (the vault is the only holder of seeds, and decides every code)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from twofold_common.peer import PeerClient


@dataclass(frozen=True)
class CodeCheck:
    """The vault's decision on one code (``twofold_vault.checks``)."""

    valid: bool
    # ok, invalid, replayed, no-authenticator, locked (not evaluated), limited (over the attempt limit)
    outcome: str
    retry_after: int | None = None
    locked: bool = False  # the subject is locked after this check
    unlocked: bool = False  # by this check's recovery code
    recovery_codes_left: int | None = None


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

    async def check(self, subject: str, *, code: str | None = None, recovery_code: str | None = None) -> CodeCheck:
        """A TOTP code or a recovery code of ``subject``, decided with its attempt limit and lock."""
        factor = {"code": code} if recovery_code is None else {"recoveryCode": recovery_code}
        answer = await self.http.call("POST", "/internal/verify", json={"subject": subject, **factor})
        return self.http.read(answer, lambda body: CodeCheck(
            valid=body["valid"], outcome=body["outcome"], retry_after=body.get("retryAfter"),
            locked=body.get("locked", False), unlocked=body.get("unlocked", False),
            recovery_codes_left=body.get("recoveryCodesLeft")))

    async def unlock(self, user_id: uuid.UUID) -> bool:
        """The user's lock gone and its failed codes no longer counted; False when it was not locked."""
        answer = await self.http.call("POST", f"/internal/subjects/{user_id}/unlock")
        return self.http.read(answer, lambda body: bool(body["unlocked"]))

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
