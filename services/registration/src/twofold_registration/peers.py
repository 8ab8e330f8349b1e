"""The two synchronous calls registration makes: the vault (seeds) and auth (third-party apps)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from twofold_common.errors import NotFound, Problem, ServiceUnavailable


class CodeMismatch(Problem):
    status, code, title = 400, "code-mismatch", "The code does not match the seed"


async def _call(http: httpx.AsyncClient, method: str, path: str, peer: str, **kwargs: Any) -> httpx.Response:
    try:
        response = await http.request(method, path, **kwargs)
    except httpx.HTTPError:
        raise ServiceUnavailable(f"The {peer} is unreachable; try again.", code=f"{peer}-unavailable") from None
    if response.status_code >= 500 or response.status_code in (401, 403):
        raise ServiceUnavailable(f"The {peer} did not answer; try again.", code=f"{peer}-unavailable")
    return response


@dataclass(frozen=True)
class NativeSeed:
    seed_id: str
    otpauth_uri: str
    qr_svg: str


class Vault:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def store(self, *, subject: str, seed: str, code: str, external_seed_id: str | None,
                    registration_id: uuid.UUID) -> str:
        """Hand the provider's seed to the vault, which checks the code against it; returns the vault's seed id."""
        response = await _call(self.http, "POST", "/internal/seeds", "vault", json={
            "subject": subject, "seed": seed, "code": code, "provider": "legitate",
            "externalSeedId": external_seed_id, "registrationId": str(registration_id),
        })
        if response.status_code == 422:
            if response.json().get("type", "").endswith("/code-mismatch"):
                raise CodeMismatch("The code in the callback does not match the seed.")
            raise Problem("The provider's seed or code is malformed.", code="invalid-callback")
        response.raise_for_status()
        return response.json()["seedId"]

    async def generate(self, *, subject: str, account: str, registration_id: uuid.UUID) -> NativeSeed:
        response = await _call(self.http, "POST", "/internal/seeds/generate", "vault", json={
            "subject": subject, "account": account, "registrationId": str(registration_id),
        })
        response.raise_for_status()
        body = response.json()
        return NativeSeed(body["seedId"], body["otpauthUri"], body["qrSvg"])

    async def confirm(self, seed_id: str, code: str) -> None:
        response = await _call(self.http, "POST", f"/internal/seeds/{seed_id}/confirm", "vault", json={"code": code})
        if response.status_code in (409, 422):
            raise CodeMismatch("The code does not match the new authenticator; try the current one.")
        response.raise_for_status()


@dataclass(frozen=True)
class App:
    client_id: str
    callback_urls: tuple[str, ...]
    seed_mode: bool
    redirect_key: bytes


class Apps:
    """Third-party apps as auth knows them."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def get(self, client_id: str) -> App:
        response = await _call(self.http, "GET", f"/internal/clients/{client_id}", "auth")
        if response.status_code == 404:
            raise NotFound("Unknown client.", code="client-not-found")
        response.raise_for_status()
        body = response.json()
        return App(body["clientId"], tuple(body["callbackUrls"]), body["seedMode"], bytes.fromhex(body["redirectKey"]))
