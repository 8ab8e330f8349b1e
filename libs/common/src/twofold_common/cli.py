"""The entry point every service shares: ``python -m twofold_<service> [serve|migrate|revision|<its commands>]``.

``--help`` must answer at once, so nothing here is imported before a command runs: the settings (pydantic), the
app (fastapi, sqlalchemy, aiokafka), uvicorn and alembic are named as ``"module:attribute"`` and imported only by
the command that needs them. A service's own commands declare their options here too, so ``<command> --help``
lists them without importing the command's code.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .logging import configure_logging

if TYPE_CHECKING:
    import uvicorn
    from fastapi import FastAPI

    from .settings import ServiceSettings


def load_settings(settings_cls: type[ServiceSettings]) -> ServiceSettings:
    """Settings, or exit 2 with a message naming each bad environment variable."""
    from pydantic import ValidationError

    from .settings import SettingsError

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
    from .migrations import create_database_if_missing, upgrade

    url = settings.require_database_url()
    if not settings.production:
        asyncio.run(create_database_if_missing(url))
    upgrade(migrations, url)


def migrate_apart(settings: ServiceSettings, migrations: Path) -> None:
    """``migrate`` in a process of its own before serving, or exit as it did.

    Migrating imports alembic and runs the migration scripts: about 8 MiB that a serving process would keep to
    its end (Python does not unload modules), in every service with a database.  The child is a fresh
    interpreter (``spawn``), so nothing of the parent's state is copied or kept."""
    import multiprocessing

    child = multiprocessing.get_context("spawn").Process(target=_migrate_logged, args=(settings, migrations),
                                                         name=f"{settings.service_name}-migrate")
    child.start()
    child.join()
    if child.exitcode != 0:
        sys.exit(f"{settings.service_name}: migrations failed (exit {child.exitcode}); not serving")


def _migrate_logged(settings: ServiceSettings, migrations: Path) -> None:
    configure_logging(settings.service_name, settings.log_level, stream=sys.stdout)
    migrate(settings, migrations)


def _no_options(parser: argparse.ArgumentParser) -> None:
    pass


@dataclass(frozen=True)
class Command:
    """A service's own command. ``run`` is ``"module:function"`` (imported when the command runs) or the function;
    it is called with the settings and the parsed options. ``options`` adds them to the command's parser."""

    run: str | Callable[[ServiceSettings, argparse.Namespace], None]
    help: str
    options: Callable[[argparse.ArgumentParser], None] = _no_options


def resolve(reference: Any) -> Any:
    """``"package.module:attribute"`` imported now; anything else is already the object."""
    if not isinstance(reference, str):
        return reference
    module, _, attribute = reference.partition(":")
    return getattr(importlib.import_module(module), attribute)


def _prog(settings: str | type[ServiceSettings]) -> str:
    if isinstance(settings, str):  # "twofold_auth.settings:AuthSettings" -> twofold-auth, the console script
        return settings.split(".")[0].replace("_", "-")
    return f"twofold-{settings.service_name}"


def parser_for(settings: str | type[ServiceSettings], has_migrations: bool,
               commands: Mapping[str, Command]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=_prog(settings),
                                     description="Without a command: serve. Settings come from the environment.")
    subcommands = parser.add_subparsers(dest="command", metavar="command", title="commands")
    parser.set_defaults(command="serve")
    subcommands.add_parser("serve", help="run the HTTP service (the default)")
    subcommands.add_parser("migrate", help="apply this service's migrations and exit" if has_migrations
                           else "nothing to migrate: this service has no database")
    if has_migrations:
        revision = subcommands.add_parser("revision", help="autogenerate a migration from the models (development)")
        revision.add_argument("-m", "--message", default="change", help="the new migration's title")
    for name, command in commands.items():
        command.options(subcommands.add_parser(name, help=command.help, description=command.help))
    return parser


def run(
    settings_cls: str | type[ServiceSettings],
    create_app: str | Callable[[ServiceSettings], FastAPI],
    migrations: Path | None,
    argv: list[str] | None = None,
    commands: Mapping[str, Command] | None = None,
) -> None:
    """Parse the command line, then load the settings and import only what the chosen command needs.

    ``settings_cls`` and ``create_app`` are the objects or ``"module:attribute"`` references to them."""
    commands = commands or {}
    options = parser_for(settings_cls, migrations is not None, commands).parse_args(argv)
    settings = load_settings(resolve(settings_cls))
    # Commands print their results on stdout; their logs go to stderr.
    configure_logging(settings.service_name, settings.log_level,
                      stream=sys.stdout if options.command == "serve" else sys.stderr)
    if migrations is not None and options.command == "serve" and settings.migrate_on_start:
        migrate_apart(settings, migrations)
    elif migrations is not None and (options.command == "migrate" or settings.migrate_on_start):
        migrate(settings, migrations)
    if options.command == "revision" and migrations is not None:
        from .migrations import new_revision

        new_revision(migrations, settings.require_database_url(), options.message)
        return
    if options.command in commands:
        resolve(commands[options.command].run)(settings, options)
        return
    if options.command == "migrate":
        return
    serve(resolve(create_app)(settings), settings)


def serve(app: FastAPI, settings: ServiceSettings) -> None:
    """Serve until SIGTERM (or SIGINT), then drain (``DrainingServer``) and stop."""
    from .draining import DrainingServer

    DrainingServer(server_config(app, settings), settings.shutdown_drain_seconds, app.state.draining).run()


def server_config(app: Any, settings: ServiceSettings) -> uvicorn.Config:
    """How uvicorn serves a service: our access log only (uvicorn's prints query strings, which can hold a
    seed), no ``X-Forwarded-For`` taken from anyone (the gateway computes the caller's address)."""
    import uvicorn

    return uvicorn.Config(app, host=settings.host, port=settings.port, log_config=None, access_log=False,
                          proxy_headers=False, timeout_keep_alive=settings.keep_alive_seconds,
                          timeout_graceful_shutdown=int(settings.shutdown_grace_seconds))
