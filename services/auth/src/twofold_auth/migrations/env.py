from twofold_auth.models import metadata
from twofold_common.migrations import run_env

run_env(metadata)
