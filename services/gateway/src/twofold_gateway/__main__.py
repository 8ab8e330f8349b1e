from twofold_common.cli import run

from .app import create_app
from .settings import GatewaySettings

MIGRATIONS = None


def main() -> None:
    run(GatewaySettings, create_app, MIGRATIONS)


if __name__ == "__main__":
    main()
