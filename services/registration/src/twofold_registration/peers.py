"""The two synchronous calls registration makes: the vault (seeds) and auth (third-party apps)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from twofold_common.errors import Conflict, NotFound, Problem
from twofold_common.peer import PeerClient


class CodeMismatch(Problem):
    status, code, title = 400, "code-mismatch", "The code does not match the seed"


class AlreadyEnrolled(Conflict):
    code, title = "already-enrolled", "The account already has an authenticator"

    def __init__(self) -> None:
        super().__init__("This account already has an authenticator. To add or replace one, sign in and "
                         "use POST /api/auth/2fa/re-enroll with a current code.")


@dataclass(frozen=True)
class Enrolled:
    seed_id: str
    recovery_codes: list[str] | None  # issued with a first enrollment, shown once


@dataclass(frozen=True)
class NativeSeed:
    seed_id: str
    otpauth_uri: str
    qr_svg: str


class Vault:
    def __init__(self, http: PeerClient) -> None:
        self.http = http

    async def store(self, *, subject: str, seed: str, code: str, external_seed_id: str | None,
                    registration_id: uuid.UUID, enrollment: str) -> Enrolled:
        """Hand the provider's seed to the vault, which checks the code against it and applies the
        enrollment's rule; returns the vault's seed id and the recovery codes it issued."""
        response = await self.http.call("POST", "/internal/seeds", json={
            "subject": subject, "seed": seed, "code": code, "provider": "legitate",
            "externalSeedId": external_seed_id, "registrationId": str(registration_id), "enrollment": enrollment,
        })
        if response.status_code == 409 and response.is_problem("already-enrolled"):
            raise AlreadyEnrolled()
        if response.status_code == 409:
            raise Conflict("This registration enrolled another seed.", code="registration-conflict")
        if response.status_code == 422 and response.is_problem("code-mismatch"):
            raise CodeMismatch("The code in the callback does not match the seed.")
        if response.status_code in (400, 422):  # not a usable seed, or a value the vault cannot store
            raise Problem("The provider's seed or code is malformed.", code="invalid-callback")
        return self.http.read(response, lambda body: Enrolled(body["seedId"], body.get("recoveryCodes")))

    async def generate(self, *, subject: str, account: str, registration_id: uuid.UUID,
                       issuer: str | None = None) -> NativeSeed:
        """A pending seed and its otpauth URI, labelled ``issuer:account`` (the vault's issuer if None)."""
        request = {"subject": subject, "account": account, "registrationId": str(registration_id)}
        if issuer is not None:
            request["issuer"] = issuer
        response = await self.http.call("POST", "/internal/seeds/generate", json=request)
        if response.status_code in (400, 422):
            raise Problem("The account (or the app's name) cannot be shown in an authenticator app.",
                          code="invalid-account", status=422)
        return self.http.read(response, lambda body: NativeSeed(body["seedId"], body["otpauthUri"], body["qrSvg"]))

    async def confirm(self, seed_id: str, code: str, *, enrollment: str) -> Enrolled:
        response = await self.http.call("POST", f"/internal/seeds/{seed_id}/confirm",
                                        json={"code": code, "enrollment": enrollment})
        if response.status_code == 409 and response.is_problem("already-enrolled"):
            raise AlreadyEnrolled()
        if response.status_code in (409, 422):
            raise CodeMismatch("The code does not match the new authenticator; try the current one.")
        if response.status_code == 404:  # shredded with its owner meanwhile
            raise NotFound("The authenticator being set up no longer exists; start the setup again.",
                           code="seed-not-found")
        return self.http.read(response, lambda body: Enrolled(body["seedId"], body.get("recoveryCodes")))

    async def has_authenticator(self, subject: str) -> bool:
        """Whether the subject has an active seed (a first enrollment is then refused)."""
        response = await self.http.call("GET", f"/internal/subjects/{subject}/authenticators")
        return self.http.read(response, lambda seeds: any(seed["status"] == "active" for seed in seeds))


@dataclass(frozen=True)
class App:
    client_id: str
    name: str  # its display name: the "service" an authenticator shows
    callback_urls: tuple[str, ...]
    seed_mode: bool
    redirect_key: bytes


class Apps:
    """Third-party apps as auth knows them."""

    def __init__(self, http: PeerClient) -> None:
        self.http = http

    async def get(self, client_id: str) -> App:
        response = await self.http.call("GET", f"/internal/clients/{client_id}")
        if response.status_code == 404:
            raise NotFound("Unknown client.", code="client-not-found")
        return self.http.read(response, lambda body: App(body["clientId"], body["name"], tuple(body["callbackUrls"]),
                                                        body["seedMode"], bytes.fromhex(body["redirectKey"])))
