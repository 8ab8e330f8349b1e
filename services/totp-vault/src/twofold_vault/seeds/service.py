"""Seeds: enrollment (handed over or generated), verification with the replay guard, the lifecycle.

``SeedVault`` holds the operations that read or write a secret, and so need
the key ring; the module functions below it (list, rename, revoke, shred)
never touch one and take only the session, which lets event handlers call
them.  A seed exists in clear only inside these methods, and is passed to no
log call.
"""

from __future__ import annotations

import hmac
import io
import logging
import os
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import segno
from sqlalchemy.ext.asyncio import AsyncSession

from twofold_common.events import SeedRevoked, SeedStored
from twofold_common.outbox import publish

from .. import totp
from ..checks import repository as checks
from ..crypto import CiphertextRejected, KeyRing, UnknownKey
from ..recovery.service import RecoveryCodes
from ..settings import EVENT_SOURCE, VaultSettings
from . import repository
from .errors import (
    AlreadyEnrolled,
    CodeMismatch,
    InvalidSeed,
    KeyUnavailable,
    LastAuthenticator,
    RegistrationConflict,
    SeedAlreadyRevoked,
    SeedNotFound,
)
from .repository import Seed
from .schemas import GeneratedSeed, GenerateSeed, StoreSeed

log = logging.getLogger(__name__)

# Secret length per HMAC: RFC 6238's test keys, and RFC 2104's advice to match the hash output.
GENERATED_SECRET_BYTES = {"SHA1": 20, "SHA256": 32, "SHA512": 64}


@dataclass(frozen=True)
class TotpPolicy:
    issuer: str
    digits: int
    algorithm: str
    period: int
    window: int

    @classmethod
    def from_settings(cls, settings: VaultSettings) -> TotpPolicy:
        return cls(issuer=settings.issuer, digits=settings.totp_digits, algorithm=settings.totp_algorithm,
                   period=settings.totp_period, window=settings.totp_window)


class SeedVault:
    def __init__(self, session: AsyncSession, ring: KeyRing, policy: TotpPolicy, recovery: RecoveryCodes) -> None:
        self.session = session
        self.ring = ring
        self.policy = policy
        self.recovery = recovery

    async def store(self, request: StoreSeed) -> tuple[Seed, bool, list[str] | None]:
        """Store a provider's seed if ``code`` matches it; returns the seed, whether it is new, and the
        recovery codes the enrollment issued.

        The code's time step is recorded as used, so the enrollment code cannot log anyone in.
        Registration calls this only while its registration is pending, holding that registration's
        row: a seed stored earlier for the same registration with another secret is then the orphan of
        a call whose answer was lost (registration died before its own commit), and this one supersedes it.
        """
        try:
            secret = totp.secret_from_base32(request.seed.get_secret_value())
        except totp.InvalidSecret as exc:
            raise InvalidSeed(str(exc)) from None
        await repository.lock_subject(self.session, request.subject)
        existing = await repository.by_registration(self.session, request.registration_id)
        if existing is not None:
            if existing.subject != request.subject or existing.provider != request.provider:
                raise RegistrationConflict()
            if existing.status == "active" and hmac.compare_digest(self._open(existing), secret):
                return existing, False, await self._settle_enrollment(existing, request.enrollment)
            await self._supersede(existing)
        params = totp.TotpParameters(
            digits=request.digits or len(request.code),
            algorithm=request.algorithm or self.policy.algorithm,
            period=request.period or self.policy.period,
        )
        step = self._enrollment_step(secret, request.code, params, self.policy.window)
        seed_id = uuid.uuid4()
        seed = await repository.insert_seed(
            self.session, seed_id=seed_id, subject=request.subject, registration_id=request.registration_id,
            provider=request.provider, external_seed_id=request.external_seed_id, status="active",
            label=request.label, params=params, window_steps=self.policy.window,
            sealed=self.ring.seal(seed_id, secret), last_used_step=step,
        )
        if seed is None:  # cannot happen under the subject lock; a conflict rather than a second seed
            raise RegistrationConflict()
        await publish(self.session, SeedStored(owner=seed.subject, seed_id=seed.id, provider="legitate"),
                      source=EVENT_SOURCE)
        return seed, True, await self._settle_enrollment(seed, request.enrollment)

    async def generate(self, request: GenerateSeed) -> tuple[GeneratedSeed, bool]:
        """A new pending seed for native enrollment; a retry of the registration shows the same one again."""
        seed = await repository.by_registration(self.session, request.registration_id)
        if seed is not None:
            if seed.subject != request.subject or seed.status != "pending" or seed.provider != "native":
                raise RegistrationConflict("This registration has a seed in another state or of another subject.")
            return self._enrollment(seed, self._open(seed), request), False
        params = totp.TotpParameters(
            digits=request.digits or self.policy.digits,
            algorithm=request.algorithm or self.policy.algorithm,
            period=request.period or self.policy.period,
        )
        secret = os.urandom(GENERATED_SECRET_BYTES[params.algorithm])
        seed_id = uuid.uuid4()
        inserted = await repository.insert_seed(
            self.session, seed_id=seed_id, subject=request.subject, registration_id=request.registration_id,
            provider="native", external_seed_id=None, status="pending", label=request.label, params=params,
            window_steps=self.policy.window, sealed=self.ring.seal(seed_id, secret), last_used_step=None,
        )
        if inserted is None:  # a concurrent retry: answer with the seed it made
            return await self.generate(request)
        return self._enrollment(inserted, secret, request), True

    async def confirm(self, seed_id: uuid.UUID, code: str, enrollment: str) -> tuple[Seed, list[str] | None]:
        """Activate a generated seed with a first code from the person's authenticator."""
        seed = await repository.get(self.session, seed_id)
        if seed is None:
            raise SeedNotFound()
        await repository.lock_subject(self.session, seed.subject)
        seed = await repository.get(self.session, seed_id)
        assert seed is not None  # rows are deleted only under the same lock or with the whole subject
        if seed.status == "active":  # a retried confirmation: the first one won
            return seed, await self._settle_enrollment(seed, enrollment)
        if seed.status == "revoked":
            raise SeedAlreadyRevoked()
        step = self._enrollment_step(self._open(seed), code, seed.params, seed.window_steps)
        activated = await repository.activate(self.session, seed.id, step)
        if activated is None:  # revoked concurrently (a reset does not take the subject lock)
            raise SeedAlreadyRevoked()
        await publish(self.session, SeedStored(owner=activated.subject, seed_id=activated.id, provider="native"),
                      source=EVENT_SOURCE)
        return activated, await self._settle_enrollment(activated, enrollment)

    async def _settle_enrollment(self, seed: Seed, enrollment: str) -> list[str] | None:
        """Apply the enrollment's rule to the subject's other active seeds (under the subject lock),
        and issue recovery codes where it gives them.  A completed enrollment is a fresh start for the code
        checks too: it unlocks the subject (for an app's user, who has no recovery codes, the way out of a lock)."""
        await checks.unlock(self.session, seed.subject)
        others = [other.id for other in await repository.active_for_subject(self.session, seed.subject)
                  if other.id != seed.id]
        if enrollment == "first" and others:
            raise AlreadyEnrolled("This account already has an authenticator; replacing it needs a fresh code.")
        if enrollment == "replace" and others:
            await _announce(self.session, await repository.revoke(self.session, others, "replaced"), "replaced")
        if enrollment == "first" or (enrollment == "replace" and await self.recovery.unused(seed.subject) == 0):
            return await self.recovery.regenerate(seed.subject)
        return None

    async def _supersede(self, orphan: Seed) -> None:
        await repository.delete_seed(self.session, orphan.id)
        if orphan.status != "revoked":
            await _announce(self.session, [orphan], "superseded")

    def _open(self, seed: Seed) -> bytes:
        return open_seed(self.ring, seed)

    @staticmethod
    def _enrollment_step(secret: bytes, code: str, params: totp.TotpParameters, window: int) -> int:
        steps = totp.matching_steps(secret, code, time.time(), params, window)
        if not steps:
            raise CodeMismatch("The code is not valid for this seed now.")
        return steps[-1]

    def _enrollment(self, seed: Seed, secret: bytes, request: GenerateSeed) -> GeneratedSeed:
        uri = totp.provisioning_uri(secret, issuer=request.issuer or self.policy.issuer, account=request.account,
                                    params=seed.params)
        return GeneratedSeed(seed_id=seed.id, otpauth_uri=uri, qr_svg=_qr_svg(uri))


@dataclass(frozen=True)
class Match:
    """What a code is to a subject's active seeds: the seed and the step to accept, if any, and the reason to give
    when the code is refused (a match refused by the database, its seed revoked since it was read, is a replay)."""

    reason: Literal["invalid", "replayed", "no-authenticator"]
    accept: tuple[uuid.UUID, int] | None = None


def match_code(ring: KeyRing, candidates: list[Seed], code: str, now: float) -> Match:
    """The first of ``candidates`` (and of its steps in the window, oldest first) whose code is ``code`` at a step
    after the seed's last used one.

    The candidates' last used steps must have been read under the subject's check lock (no other check moves them
    meanwhile); the database still has the last word on the step (``checks.repository.decide``).
    """
    if not candidates:
        return Match(reason="no-authenticator")
    matched = unreadable = False
    for seed in candidates:
        if not totp.is_well_formed(code, seed.params.digits):
            continue
        try:
            secret = open_seed(ring, seed)
        except KeyUnavailable:
            unreadable = True  # another seed may still match; fail only if none does
            continue
        for step in totp.matching_steps(secret, code, now, seed.params, seed.window_steps):
            matched = True
            if seed.last_used_step is None or step > seed.last_used_step:
                return Match(reason="replayed", accept=(seed.id, step))
    if matched:
        return Match(reason="replayed")
    if unreadable:
        raise KeyUnavailable("A seed of this subject cannot be decrypted; the code was not checked against it.")
    return Match(reason="invalid")


def open_seed(ring: KeyRing, seed: Seed) -> bytes:
    assert seed.sealed is not None, "revoked seeds are never opened"
    try:
        return ring.open(seed.id, seed.sealed)
    except (UnknownKey, CiphertextRejected) as exc:
        # Names and ids only: this is the line an operator needs, and it holds no secret.
        log.error("seed cannot be decrypted", extra={"seed_id": str(seed.id), "key_id": seed.sealed.key_id,
                                                     "error": type(exc).__name__})
        raise KeyUnavailable() from None


def _qr_svg(text: str) -> str:
    out = io.BytesIO()
    segno.make(text, error="m").save(out, kind="svg", xmldecl=False, scale=4, border=4)
    return out.getvalue().decode()


async def list_authenticators(session: AsyncSession, subject: str) -> list[Seed]:
    return await repository.for_subject(session, subject)


async def rename(session: AsyncSession, seed_id: uuid.UUID, label: str) -> Seed:
    seed = await repository.rename(session, seed_id, label)
    if seed is None:
        raise SeedNotFound()
    return seed


async def revoke(session: AsyncSession, seed_id: uuid.UUID) -> None:
    """Revoke one seed, unless it is the subject's last active one (2FA stays mandatory:
    the last one is replaced by enrolling a new one, or removed by a 2FA reset)."""
    seed = await repository.get(session, seed_id)
    if seed is None:
        raise SeedNotFound()
    if seed.status == "active" and await repository.lock_active_ids(session, seed.subject) == [seed.id]:
        raise LastAuthenticator("Enroll another authenticator before revoking this one.")
    await _announce(session, await repository.revoke(session, [seed.id], "revoked"), "revoked")


async def revoke_all(session: AsyncSession, subject: str, reason: str, created_before: datetime | None = None) -> None:
    await _announce(session, await repository.revoke_subject(session, subject, reason, created_before), reason)


async def shred(session: AsyncSession, subject: str) -> None:
    """Delete every seed row of the subject, ciphertext included (no soft delete)."""
    deleted = await repository.delete_subject(session, subject)
    await _announce(session, [seed for seed in deleted if seed.status != "revoked"], "deleted")


async def _announce(session: AsyncSession, seeds: list[Seed], reason: str) -> None:
    for seed in seeds:
        await publish(session, SeedRevoked(owner=seed.subject, seed_id=seed.id, reason=reason), source=EVENT_SOURCE)
