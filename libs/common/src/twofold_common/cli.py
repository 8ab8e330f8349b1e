"""The entry point every service shares: ``python -m twofold_<service> [serve|migrate]``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from pydantic import ValidationError

from .logging import configure_logging
from .migrations import create_database_if_missing, new_revision, upgrade
from .settings import ServiceSettings, SettingsError


def load_settings(settings_cls: type[ServiceSettings]) -> ServiceSettings:
    """Settings, or exit 2 with a message naming each bad environment variable."""
    try:
        return settings_cls()
    except ValidationError as exc:
        prefix = str(settings_cls.model_config.get("env_prefix", ""))
        for error in exc.errors():
            loc = [str(p) for p in error.get("loc", ())]
            name = (prefix + loc[0]).upper() if loc else settings_cls.service_name
            message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
            print(f"configuration error: {name}: {message}" if loc else f"configuration error: {message}",
                  file=sys.stderr)
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
    sys.exit(2)


def migrate(settings: ServiceSettings, migrations: Path) -> None:
    url = settings.require_database_url()
    if not settings.production:
        asyncio.run(create_database_if_missing(url))
    upgrade(migrations, url)


Command = Callable[[ServiceSettings, list[str]], None]


def run(
    settings_cls: type[ServiceSettings],
    create_app: Callable[[ServiceSettings], FastAPI],
    migrations: Path | None,
    argv: list[str] | None = None,
    commands: Mapping[str, Command] | None = None,
) -> None:
    """``serve`` (the default) and ``migrate``, plus a service's own ``commands`` (which get the remaining args)."""
    commands = commands or {}
    parser = argparse.ArgumentParser(prog=f"twofold-{settings_cls.service_name}")
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "migrate", "revision", *commands])
    parser.add_argument("-m", "--message", help="revision: the new migration's title")
    args, rest = parser.parse_known_args(argv)
    settings = load_settings(settings_cls)
    # Commands print their results on stdout; their logs go to stderr.
    configure_logging(settings.service_name, settings.log_level,
                      stream=sys.stdout if args.command == "serve" else sys.stderr)
    if migrations is not None and (args.command == "migrate" or settings.migrate_on_start):
        migrate(settings, migrations)
    if args.command == "revision" and migrations is not None:
        new_revision(migrations, settings.require_database_url(), args.message or "change")
        return
    if args.command in commands:
        commands[args.command](settings, rest)
        return
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command == "migrate":
        return
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        proxy_headers=False,
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
    )
