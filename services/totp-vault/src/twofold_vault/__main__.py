from pathlib import Path

from twofold_common.cli import run

from .app import create_app
from .settings import VaultSettings

MIGRATIONS = Path(__file__).parent / 'migrations'


def main() -> None:
    run(VaultSettings, create_app, MIGRATIONS)


if __name__ == "__main__":
    main()
