"""``python -m twofold_vault [serve|migrate|revision|rotate-keys]``.

The command line is declared here with nothing but the standard library, so ``--help`` answers at once; each
command's code (``rotation.py``, the app) is imported when it runs.
"""

import argparse
import functools
from pathlib import Path

from twofold_common.cli import Command, run

MIGRATIONS = Path(__file__).parent / "migrations"
SETTINGS = "twofold_vault.settings:VaultSettings"
APP = "twofold_vault.app:create_app"  # imported only by the command that serves


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def rotate_keys_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--batch-size", type=positive_int, default=500, help="rows per transaction (default 500)")


COMMANDS = {
    "rotate-keys": Command("twofold_vault.rotation:rotate_keys_command", options=rotate_keys_options,
                           help="re-seal every seed under VAULT_ACTIVE_KEY_ID; resumable, exit 1 if any remain"),
}
main = functools.partial(run, SETTINGS, APP, MIGRATIONS, commands=COMMANDS)


if __name__ == "__main__":
    main()
