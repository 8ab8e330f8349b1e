"""``python -m twofold_gateway [serve|migrate]``: the settings and the app are imported when a command runs, so
``--help`` answers at once."""

import functools

from twofold_common.cli import run

MIGRATIONS = None  # the gateway has no database
SETTINGS = "twofold_gateway.settings:GatewaySettings"
APP = "twofold_gateway.app:create_app"  # imported only by the command that serves
main = functools.partial(run, SETTINGS, APP, MIGRATIONS)


if __name__ == "__main__":
    main()
