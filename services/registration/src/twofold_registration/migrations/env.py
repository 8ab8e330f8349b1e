from twofold_common.migrations import run_env
from twofold_registration.models import metadata

run_env(metadata)
