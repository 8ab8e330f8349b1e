"""What operators do: find an account, unlock it, reset its 2FA, end its sessions; disable, enable, rotate and
list API clients.

The command line (``cli.py``) and the admin API (``endpoints.py``) call these same methods, each in one unit of
work, and each action leaves an audit row naming the operator (``Operator``): the person at the command line
(``--operator``, by default their OS user), or the admin client that called the API.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from twofold_common.errors import NotFound, Problem

from ..accounts import service as accounts
from ..audit.service import record
from ..clients import service as clients
from ..sessions.service import Sessions
from ..tokens import TokenHasher
from ..vault import VaultClient
from .schemas import ClientChanged, ClientState, RotatedSecret, SessionsRevoked, UserSummary


def _printable(text: str) -> bool:
    return not any(ord(c) < 32 or ord(c) == 127 for c in text)


@dataclass(frozen=True)
class Operator:
    """Who does an action (``via`` the command line or the API) and why, as the audit keeps it."""

    name: str
    via: Literal["cli", "api"]
    reason: str | None = None

    def __post_init__(self) -> None:
        if not 1 <= len(self.name) <= 100 or not _printable(self.name):
            raise Problem("An operator's name has 1 to 100 characters, none of them control characters.",
                          code="invalid-operator")
        if self.reason is not None and (len(self.reason) > 500 or not _printable(self.reason)):
            raise Problem("A reason has at most 500 characters, none of them control characters.",
                          code="invalid-reason")

    def details(self, **more: str) -> dict[str, str]:
        said = {"reason": self.reason} if self.reason else {}
        return {"operator": self.name, "via": self.via, **said, **more}


def no_such_user() -> NotFound:
    return NotFound("No user with this email or id.", code="user-not-found")


@dataclass(frozen=True)
class Admin:
    sessions: Sessions
    vault: VaultClient  # the authority for a user's failed codes and lock
    hasher: TokenHasher

    async def find_user(self, session: AsyncSession, email: str, operator: Operator) -> UserSummary:
        """By the key the login looks the email up with, so any spelling the person signs in with finds it."""
        found = await accounts.profile(session, email)
        if found is None:
            raise no_such_user()
        await record(session, action="admin.user.find", outcome="success", user_id=found.id,
                     details=operator.details())
        return UserSummary(user_id=found.id, email=found.email, status=found.status, created_at=found.created_at,
                           two_factor_enabled=found.totp_enabled, authenticator=found.totp_provider,
                           two_factor_since=found.totp_setup_completed_at, locked=found.status == "locked",
                           locked_at=found.locked_at, live_sessions=await self.sessions.count_live(session, found.id))

    async def user_id_of(self, session: AsyncSession, email: str) -> uuid.UUID:
        found = await accounts.profile(session, email)
        if found is None:
            raise no_such_user()
        return found.id

    async def unlock_user(self, session: AsyncSession, user_id: uuid.UUID, operator: Operator) -> None:
        """A locked account active again, and the failed codes that locked it no longer count: first in the vault,
        which decides codes, then the account's status here (committed with the request)."""
        unlocked_in_vault = await self.vault.unlock(user_id)
        if not await accounts.unlock(session, user_id, by="admin", caller=None, details=operator.details()) \
                and not unlocked_in_vault:
            raise NotFound("No locked user with this id.", code="user-not-locked")

    async def reset_two_factor(self, session: AsyncSession, user_id: uuid.UUID,
                               operator: Operator) -> SessionsRevoked:
        """The account's authenticators and recovery codes go (by the event, in the vault), its sessions end, and
        its next sign-in leads to enrollment again."""
        before = await accounts.reset_two_factor(session, user_id)
        if before is None:
            raise no_such_user()
        await self.vault.unlock(user_id)  # a fresh start: the failed codes of the old authenticator stop counting
        revoked = await self.sessions.revoke_all(session, user_id=user_id, reason="2fa-reset")
        await record(session, action="admin.2fa.reset", outcome="success", user_id=user_id,
                     details=operator.details(status_before=before, sessions_revoked=str(revoked)))
        return SessionsRevoked(sessions_revoked=revoked)

    async def revoke_sessions(self, session: AsyncSession, user_id: uuid.UUID, operator: Operator) -> SessionsRevoked:
        """Every session of the user, apps' included, each with its ``session.revoked.v1``."""
        if await accounts.status_of(session, user_id) is None:
            raise no_such_user()
        revoked = await self.sessions.revoke_all(session, user_id=user_id, reason="revoked-by-admin")
        await record(session, action="admin.sessions.revoke", outcome="success", user_id=user_id,
                     details=operator.details(sessions_revoked=str(revoked)))
        return SessionsRevoked(sessions_revoked=revoked)

    async def set_client_enabled(self, session: AsyncSession, client_id: str, enabled: bool,
                                 operator: Operator) -> ClientChanged:
        """A disabled client's API key and token requests are refused, and its apps' sessions end; enabling it
        again lets its secret work again (its sessions stay ended)."""
        client, changed = await clients.set_enabled(session, client_id, enabled)
        revoked = 0 if enabled else await self.sessions.revoke_of_client(session, client_id=client_id,
                                                                          reason="client-disabled")
        await record(session, action="admin.client.enable" if enabled else "admin.client.disable",
                     outcome="success" if changed else "unchanged",
                     details=operator.details(client_id=client_id, sessions_revoked=str(revoked)))
        return ClientChanged(**client_state(client).model_dump(), changed=changed, sessions_revoked=revoked)

    async def rotate_client_secret(self, session: AsyncSession, client_id: str, overlap: timedelta,
                                   operator: Operator) -> RotatedSecret:
        client, secret = await clients.rotate_secret(session, self.hasher, client_id, overlap)
        await record(session, action="admin.client.rotate_secret", outcome="success",
                     details=operator.details(client_id=client_id,
                                              overlap_seconds=str(int(overlap.total_seconds()))))
        return RotatedSecret(**client_state(client).model_dump(), client_secret=secret)


async def list_clients(session: AsyncSession) -> list[ClientState]:
    return [client_state(client) for client in await clients.list_clients(session)]


def client_state(client: clients.Client) -> ClientState:
    overlap_ends = client.previous_secret_until
    if overlap_ends is not None and overlap_ends <= datetime.now(UTC):
        overlap_ends = None  # over: the previous secret works no more
    return ClientState(client_id=client.id, name=client.name, scopes=list(client.scopes),
                       callback_urls=list(client.callback_urls), seed_mode=client.seed_mode,
                       redirect_uris=list(client.redirect_uris), first_party=client.first_party,
                       disabled=client.disabled_at is not None, disabled_at=client.disabled_at,
                       secret_rotated_at=client.secret_rotated_at,
                       previous_secret_until=overlap_ends)
