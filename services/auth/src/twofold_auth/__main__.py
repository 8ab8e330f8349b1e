from pathlib import Path

from twofold_common.cli import run

from .app import create_app
from .cli import COMMANDS
from .settings import AuthSettings

MIGRATIONS = Path(__file__).parent / "migrations"


def main() -> None:
    run(AuthSettings, create_app, MIGRATIONS, commands=COMMANDS)


if __name__ == "__main__":
    main()
