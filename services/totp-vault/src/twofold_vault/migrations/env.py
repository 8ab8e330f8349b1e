from twofold_common.migrations import run_env
from twofold_vault.models import metadata

run_env(metadata)
