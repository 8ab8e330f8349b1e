from pathlib import Path

from twofold_common.cli import run

from .app import create_app
from .settings import RegistrationSettings

MIGRATIONS = Path(__file__).parent / 'migrations'


def main() -> None:
    run(RegistrationSettings, create_app, MIGRATIONS)


if __name__ == "__main__":
    main()
