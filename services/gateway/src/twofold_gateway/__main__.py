"""``python -m twofold_gateway [serve|migrate]``: the settings and the app are imported when a command runs, so
``--help`` answers at once."""

from twofold_common.cli import run

MIGRATIONS = None  # the gateway has no database


def main() -> None:
    run("twofold_gateway.settings:GatewaySettings", "twofold_gateway.app:create_app", MIGRATIONS)


if __name__ == "__main__":
    main()
