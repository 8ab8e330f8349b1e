"""``python -m twofold_auth [serve|migrate|revision|create-client|list-clients|verify-audit]``.

The command line is declared here with nothing but the standard library, so ``--help`` answers at once; each
command's code (``cli.py``, the app) is imported when it runs.
"""

import argparse
import functools
from pathlib import Path

from twofold_common.cli import Command, run

from .clients.scopes import DEFAULT_SCOPES, SCOPES

MIGRATIONS = Path(__file__).parent / "migrations"
SETTINGS = "twofold_auth.settings:AuthSettings"
APP = "twofold_auth.app:create_app"  # imported only by the command that serves


def create_client_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", required=True,
                        help="the app's display name, shown to its users")
    parser.add_argument("--callback-url", action="append", default=[], dest="callback_urls", metavar="URL",
                        help="an exact callback URL the app may use (repeatable)")
    parser.add_argument("--scope", action="append", dest="scopes", choices=sorted(SCOPES),
                        help=f"repeatable; default: {', '.join(DEFAULT_SCOPES)}")
    parser.add_argument("--seed-mode", action="store_true",
                        help="the app may fetch a new seed once, server to server (seed 001's mode)")
    parser.add_argument("--redirect-uri", action="append", default=[], dest="redirect_uris", metavar="URL",
                        help="OpenID Connect: an exact redirect URI for the app's authorization codes (repeatable; "
                             "needed with --scope openid)")
    parser.add_argument("--first-party", action="store_true",
                        help="OpenID Connect: the app is ours, its users are not asked for consent")
    parser.add_argument("--post-logout-redirect-uri", action="append", default=[], dest="post_logout_redirect_uris",
                        metavar="URL", help="OpenID Connect: an exact URI where signing out from the app may send "
                                            "the browser back (repeatable)")
    parser.add_argument("--backchannel-logout-uri", metavar="URL",
                        help="OpenID Connect: where the app is sent a logout token when one of its sessions ends")


COMMANDS = {
    "create-client": Command("twofold_auth.cli:create_client", options=create_client_options,
                             help="register a third-party app; prints its id and secret (shown once) as JSON"),
    "list-clients": Command("twofold_auth.cli:list_clients", help="one JSON line per API client (no secrets)"),
    "verify-audit": Command("twofold_auth.cli:verify_audit",
                            help="recompute the audit log's hash chain; exit 1 if a row was altered"),
}
main = functools.partial(run, SETTINGS, APP, MIGRATIONS, commands=COMMANDS)


if __name__ == "__main__":
    main()
