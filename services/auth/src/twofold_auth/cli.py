"""Operator commands: ``python -m twofold_auth create-client|list-clients|verify-audit``."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from twofold_common.db import Database
from twofold_common.errors import Problem

from . import audit
from .clients import service as clients
from .settings import AuthSettings
from .tokens import TokenHasher


def _database(settings: AuthSettings) -> Database:
    return Database(settings.require_database_url(), pool_size=1)


def create_client(settings: AuthSettings, argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="twofold-auth create-client")
    parser.add_argument("--name", required=True)
    parser.add_argument("--callback-url", action="append", default=[], dest="callback_urls",
                        help="an exact callback URL the app may use (repeatable)")
    parser.add_argument("--scope", action="append", dest="scopes", choices=sorted(clients.SCOPES),
                        help="repeatable; default: setup, verify, status")
    parser.add_argument("--seed-mode", action="store_true",
                        help="the app may fetch a new seed once, server to server (seed 001's mode)")
    args = parser.parse_args(argv)

    async def main() -> None:
        db = _database(settings)
        try:
            async with db.transaction() as session:
                client, secret = await clients.create_client(
                    session, TokenHasher(settings.token_pepper.get_secret_value()), name=args.name,
                    callback_urls=args.callback_urls, scopes=args.scopes or ["setup", "verify", "status"],
                    seed_mode=args.seed_mode, production=settings.production)
        finally:
            await db.dispose()
        # The secret is shown once, here; only its keyed hash is stored.
        print(json.dumps({"clientId": client.id, "clientSecret": secret, "name": client.name,
                          "scopes": list(client.scopes), "callbackUrls": list(client.callback_urls),
                          "seedMode": client.seed_mode}))

    try:
        asyncio.run(main())
    except Problem as exc:
        print(f"error: {exc.detail}", file=sys.stderr)
        sys.exit(2)


def list_clients(settings: AuthSettings, argv: list[str]) -> None:
    async def main() -> None:
        db = _database(settings)
        try:
            async with db.transaction() as session:
                for client in await clients.list_clients(session):
                    print(json.dumps({"clientId": client.id, "name": client.name, "scopes": list(client.scopes),
                                      "callbackUrls": list(client.callback_urls), "seedMode": client.seed_mode}))
        finally:
            await db.dispose()

    asyncio.run(main())


def verify_audit(settings: AuthSettings, argv: list[str]) -> None:
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


COMMANDS = {"create-client": create_client, "list-clients": list_clients, "verify-audit": verify_audit}
