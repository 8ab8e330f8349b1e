"""Typed dependencies of the internal API: who may call, and the per-request services."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends

from twofold_common.runtime import Runtime, RuntimeDep, SessionDep, internal_only, provided

from .checks.service import CodeChecks, Limits
from .crypto import KeyRing
from .metrics import VaultMetrics
from .recovery.service import RecoveryCodes
from .seeds.service import SeedVault, TotpPolicy
from .settings import VaultSettings

_KEY_RING = "key_ring"
_TOTP_POLICY = "totp_policy"


async def prepare(runtime: Runtime) -> None:
    """``on_start``: build the key ring once, not per request (it holds one AES context per key), and the code
    checks, which own their transaction."""
    settings = cast(VaultSettings, runtime.settings)
    runtime.state[_KEY_RING] = settings.key_ring()
    runtime.state[_TOTP_POLICY] = TotpPolicy.from_settings(settings)
    runtime.provide(CodeChecks(runtime.database, runtime.state[_KEY_RING],
                               settings.recovery_code_pepper.get_secret_value().encode(),
                               Limits.from_settings(settings), VaultMetrics.registered_in(runtime.metrics)))


# The dependencies are ``async def`` although they never wait: FastAPI runs a plain
# ``def`` dependency in its thread pool, a thread hop per request for nothing.


# Registration hands over and confirms seeds; auth verifies codes and manages what a user has.
FromRegistration = Annotated[str, internal_only("registration")]
FromAuth = Annotated[str, internal_only("auth")]
# Registration asks whether a subject has an authenticator before a first enrollment starts.
FromAuthOrRegistration = Annotated[str, internal_only("auth", "registration")]


async def _recovery_codes(runtime: RuntimeDep, session: SessionDep) -> RecoveryCodes:
    pepper = cast(VaultSettings, runtime.settings).recovery_code_pepper.get_secret_value().encode()
    return RecoveryCodes(session, pepper)


RecoveryCodesDep = Annotated[RecoveryCodes, Depends(_recovery_codes)]


async def _seed_vault(runtime: RuntimeDep, session: SessionDep, recovery: RecoveryCodesDep) -> SeedVault:
    ring: KeyRing = runtime.state[_KEY_RING]
    policy: TotpPolicy = runtime.state[_TOTP_POLICY]
    return SeedVault(session, ring, policy, recovery)


SeedVaultDep = Annotated[SeedVault, Depends(_seed_vault)]


CodeChecksDep = Annotated[CodeChecks, provided(CodeChecks)]
