"""``python -m twofold_registration [serve|migrate|revision]``: the settings and the app are imported when a
command runs, so ``--help`` answers at once."""

import functools
from pathlib import Path

from twofold_common.cli import run

MIGRATIONS = Path(__file__).parent / "migrations"
SETTINGS = "twofold_registration.settings:RegistrationSettings"
APP = "twofold_registration.app:create_app"  # imported only by the command that serves
main = functools.partial(run, SETTINGS, APP, MIGRATIONS)


if __name__ == "__main__":
    main()
