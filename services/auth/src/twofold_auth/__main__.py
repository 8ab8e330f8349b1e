"""``python -m twofold_auth [serve|migrate|revision|create-client|list-clients|verify-audit|<an admin action>]``.

The command line is declared here with nothing but the standard library, so ``--help`` answers at once; each
command's code (``cli.py``, the app) is imported when it runs.
"""

import argparse
import functools
import re
import uuid
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


def operator_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--operator", metavar="NAME",
                        help="who does this, for the audit (default: your OS user name)")
    parser.add_argument("--reason", metavar="TEXT", help="why, for the audit (free text, never a secret)")


def user_options(parser: argparse.ArgumentParser) -> None:
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--email", help="the user's email, as they sign in with it")
    which.add_argument("--user-id", type=uuid.UUID, metavar="UUID", help="the user's id")
    operator_options(parser)


def find_user_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--email", required=True, help="the user's email, as they sign in with it")
    operator_options(parser)


def client_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--client-id", required=True, metavar="ID")
    operator_options(parser)


_DURATION = re.compile(r"(\d+)([smhd]?)")


def duration(text: str) -> int:
    """Seconds from ``90``, ``90s``, ``30m``, ``24h`` or ``7d``."""
    found = _DURATION.fullmatch(text.strip())
    if found is None:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (like 24h, 30m, 90s, 0)")
    return int(found[1]) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[found[2]]


def rotate_options(parser: argparse.ArgumentParser) -> None:
    client_options(parser)
    parser.add_argument("--overlap", type=duration, default=24 * 3600, metavar="DURATION",
                        help="how long the current secret keeps working (24h, 30m, 90s; 0: it stops at once; "
                             "default: 24h)")


COMMANDS = {
    "create-client": Command("twofold_auth.cli:create_client", options=create_client_options,
                             help="register a third-party app; prints its id and secret (shown once) as JSON"),
    "list-clients": Command("twofold_auth.cli:list_clients",
                            help="one JSON line per API client, disabled ones too, with its rotation (no secrets)"),
    "find-user": Command("twofold_auth.cli:find_user", options=find_user_options,
                         help="a user by email: id, status, 2FA, lock and live sessions"),
    "unlock-user": Command("twofold_auth.cli:unlock_user", options=user_options,
                           help="unlock a user locked by wrong codes; its failed codes stop counting"),
    "reset-2fa": Command("twofold_auth.cli:reset_two_factor", options=user_options,
                         help="drop a user's authenticators and recovery codes and end its sessions; the next "
                              "sign-in enrolls again"),
    "revoke-sessions": Command("twofold_auth.cli:revoke_sessions", options=user_options,
                               help="end every session of a user, apps' included"),
    "disable-client": Command("twofold_auth.cli:disable_client", options=client_options,
                              help="refuse a client's API key and token requests, and end its apps' sessions"),
    "enable-client": Command("twofold_auth.cli:enable_client", options=client_options,
                             help="accept a disabled client's secret again"),
    "rotate-client-secret": Command("twofold_auth.cli:rotate_client_secret", options=rotate_options,
                                    help="a new secret (shown once); the current one works until the overlap ends"),
    "verify-audit": Command("twofold_auth.cli:verify_audit",
                            help="recompute the audit log's hash chain; exit 1 if a row was altered"),
}
main = functools.partial(run, SETTINGS, APP, MIGRATIONS, commands=COMMANDS)


if __name__ == "__main__":
    main()
