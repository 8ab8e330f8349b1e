"""Operator commands: ``python -m twofold_auth create-client|list-clients|verify-audit``.

Their options are declared in ``__main__.py`` (so ``--help`` needs none of the imports below)."""

from __future__ import annotations

import asyncio
import json
import sys
from argparse import Namespace

from twofold_common.db import Database
from twofold_common.errors import Problem

from .audit import service as audit
from .clients import service as clients
from .clients.scopes import DEFAULT_SCOPES
from .settings import AuthSettings
from .tokens import TokenHasher


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
                for client in await clients.list_clients(session):
                    print(json.dumps({"clientId": client.id, **_described(client)}))
        finally:
            await db.dispose()

    asyncio.run(main())


def _described(client: clients.Client) -> dict[str, object]:
    return {"name": client.name, "scopes": list(client.scopes), "callbackUrls": list(client.callback_urls),
            "seedMode": client.seed_mode, "redirectUris": list(client.redirect_uris), "firstParty": client.first_party,
            "postLogoutRedirectUris": list(client.post_logout_redirect_uris),
            "backchannelLogoutUri": client.backchannel_logout_uri}


def verify_audit(settings: AuthSettings, args: Namespace) -> None:
    async def main() -> tuple[int | None, int]:
        db = _database(settings)
        try:
            async with db.transaction() as session:
                return await audit.verify_chain(session), await audit.unsealed(session)
        finally:
            await db.dispose()

    broken, waiting = asyncio.run(main())
    if broken is not None:
        print(f"audit chain broken at row {broken}", file=sys.stderr)
        sys.exit(1)
    print(f"audit chain intact; {waiting} newer rows not sealed yet")
