from pathlib import Path

from twofold_common.cli import run

from .app import create_app
from .rotation import rotate_keys_command
from .settings import VaultSettings

MIGRATIONS = Path(__file__).parent / "migrations"


def main() -> None:
    run(VaultSettings, create_app, MIGRATIONS, commands={"rotate-keys": rotate_keys_command})


if __name__ == "__main__":
    main()
