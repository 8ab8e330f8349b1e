"""Operator commands: ``python -m twofold_auth create-client|list-clients|verify-audit`` and the admin actions
(``find-user``, ``unlock-user``, ``reset-2fa``, ``revoke-sessions``, ``disable-client``, ``enable-client``,
``rotate-client-secret``).

Their options are declared in ``__main__.py`` (so ``--help`` needs none of the imports below). Each prints its
result as JSON on stdout; an error goes to stderr, with exit code 1 when the user or client is not found and 2
for bad input."""

from __future__ import annotations

import asyncio
import getpass
import json
import sys
import uuid
from argparse import Namespace
from collections.abc import Awaitable, Callable
from datetime import timedelta

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from twofold_common.db import Database
from twofold_common.errors import NotFound, Problem
from twofold_common.internal_auth import InternalAuth
from twofold_common.progress import Progress

from .admin import service as admin
from .admin.service import Admin, Operator
from .audit import service as audit
from .clients import service as clients
from .clients.scopes import DEFAULT_SCOPES
from .sessions.service import Sessions
from .settings import AuthSettings
from .tokens import SigningKeyRing, TokenHasher, TokenIssuer
from .vault import VaultClient


def _database(settings: AuthSettings) -> Database:
    return Database(settings.require_database_url(), pool_size=1)


def create_client(settings: AuthSettings, args: Namespace) -> None:
    async def main() -> None:
        db = _database(settings)
        try:
            async with db.transaction() as session:
                client, secret = await clients.create_client(
                    session, TokenHasher(settings.token_pepper.get_secret_value()), name=args.name,
                    callback_urls=args.callback_urls, scopes=args.scopes or list(DEFAULT_SCOPES),
                    seed_mode=args.seed_mode, production=settings.production,
                    redirect_uris=args.redirect_uris, first_party=args.first_party,
                    post_logout_redirect_uris=args.post_logout_redirect_uris,
                    backchannel_logout_uri=args.backchannel_logout_uri)
        finally:
            await db.dispose()
        # The secret is shown once, here; only its keyed hash is stored.
        print(json.dumps({"clientId": client.id, "clientSecret": secret, **_described(client)}))

    try:
        asyncio.run(main())
    except Problem as exc:
        print(f"error: {exc.detail}", file=sys.stderr)
        sys.exit(2)


def list_clients(settings: AuthSettings, args: Namespace) -> None:
    async def main() -> None:
        db = _database(settings)
        try:
            async with db.transaction() as session:
                for client in await admin.list_clients(session):
                    print(client.model_dump_json(by_alias=True))
        finally:
            await db.dispose()

    asyncio.run(main())


def _described(client: clients.Client) -> dict[str, object]:
    return {"name": client.name, "scopes": list(client.scopes), "callbackUrls": list(client.callback_urls),
            "seedMode": client.seed_mode, "redirectUris": list(client.redirect_uris), "firstParty": client.first_party,
            "postLogoutRedirectUris": list(client.post_logout_redirect_uris),
            "backchannelLogoutUri": client.backchannel_logout_uri}


Action = Callable[[Admin, AsyncSession, Operator], Awaitable[BaseModel | None]]


def _admin_action(settings: AuthSettings, args: Namespace, action: Action) -> None:
    """One admin action in one unit of work, its result as a JSON line."""
    async def main() -> BaseModel | None:
        db = _database(settings)
        hasher = TokenHasher(settings.token_pepper.get_secret_value())
        sessions = Sessions(db, settings, hasher, TokenIssuer(settings, SigningKeyRing.from_settings(settings)))
        # unlock and reset ask the vault, as the service does: with auth's own internal key
        vault_http = InternalAuth(settings.service_name, settings.internal_key(), settings.internal_key_ring()).client(
            "vault", settings.vault_url)
        try:
            async with db.transaction() as session:
                return await action(Admin(sessions, VaultClient(vault_http), hasher), session, operator)
        finally:
            await vault_http.aclose()
            await db.dispose()

    try:
        operator = Operator(name=args.operator or _os_user(), via="cli", reason=args.reason)
        result = asyncio.run(main())
    except NotFound as exc:
        print(f"error: {exc.detail}", file=sys.stderr)
        sys.exit(1)
    except Problem as exc:
        print(f"error: {exc.detail}", file=sys.stderr)
        sys.exit(2)
    print(result.model_dump_json(by_alias=True) if result is not None else json.dumps({"done": True}))


def _os_user() -> str:
    """Who runs the command, when --operator does not say (a container's user may have no name: then it must)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        raise Problem("Name the operator with --operator: this OS user has no name.", code="invalid-operator") \
            from None


async def _user(ops: Admin, session: AsyncSession, args: Namespace) -> uuid.UUID:
    return args.user_id if args.user_id is not None else await ops.user_id_of(session, args.email)


def find_user(settings: AuthSettings, args: Namespace) -> None:
    _admin_action(settings, args, lambda ops, session, who: ops.find_user(session, args.email, who))


def unlock_user(settings: AuthSettings, args: Namespace) -> None:
    async def unlock(ops: Admin, session: AsyncSession, who: Operator) -> None:
        await ops.unlock_user(session, await _user(ops, session, args), who)

    _admin_action(settings, args, unlock)


def reset_two_factor(settings: AuthSettings, args: Namespace) -> None:
    async def reset(ops: Admin, session: AsyncSession, who: Operator) -> BaseModel:
        return await ops.reset_two_factor(session, await _user(ops, session, args), who)

    _admin_action(settings, args, reset)


def revoke_sessions(settings: AuthSettings, args: Namespace) -> None:
    async def revoke(ops: Admin, session: AsyncSession, who: Operator) -> BaseModel:
        return await ops.revoke_sessions(session, await _user(ops, session, args), who)

    _admin_action(settings, args, revoke)


def disable_client(settings: AuthSettings, args: Namespace) -> None:
    _admin_action(settings, args, lambda ops, session, who: ops.set_client_enabled(session, args.client_id, False,
                                                                                    who))


def enable_client(settings: AuthSettings, args: Namespace) -> None:
    _admin_action(settings, args, lambda ops, session, who: ops.set_client_enabled(session, args.client_id, True,
                                                                                    who))


def rotate_client_secret(settings: AuthSettings, args: Namespace) -> None:
    # The new secret is shown once, here; only its keyed hash is stored.
    _admin_action(settings, args, lambda ops, session, who: ops.rotate_client_secret(
        session, args.client_id, timedelta(seconds=args.overlap), who))


def verify_audit(settings: AuthSettings, args: Namespace) -> None:
    async def main() -> tuple[int | None, int]:
        db = _database(settings)
        try:
            async with db.transaction() as session:
                with Progress("verify-audit", await audit.sealed(session)) as progress:
                    broken = await audit.verify_chain(session, progress.advance)
                return broken, await audit.unsealed(session)
        finally:
            await db.dispose()

    broken, waiting = asyncio.run(main())
    if broken is not None:
        print(f"audit chain broken at row {broken}", file=sys.stderr)
        sys.exit(1)
    print(f"audit chain intact; {waiting} newer rows not sealed yet")
