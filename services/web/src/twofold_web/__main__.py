"""``python -m twofold_web [serve]``: the settings and the app are imported when a command runs, so ``--help``
answers at once."""

import functools

from twofold_common.cli import run

MIGRATIONS = None  # no database: a person's visit lives in a sealed cookie
SETTINGS = "twofold_web.settings:WebSettings"
APP = "twofold_web.app:create_app"  # imported only by the command that serves
main = functools.partial(run, SETTINGS, APP, MIGRATIONS)


if __name__ == "__main__":
    main()
