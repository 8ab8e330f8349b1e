"""Each service's ``--help``, and each subcommand's, names its commands and options without importing the app.

``--help`` must answer at once: the web framework, the database and broker clients and the app are imported only
by a command that needs them. The test checks what was imported, not how long it took (timings are flaky on a
shared machine; the figures are in the issue's report).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# What a service imports to serve or to reach its database; none of it is needed to print help.
HEAVY = ("fastapi", "starlette", "uvicorn", "sqlalchemy", "alembic", "asyncpg", "aiokafka", "httpx", "pydantic")

# python -m <module> ARGS in a fresh interpreter, then report the exit code and which heavy modules were imported
PROBE = """
import json, runpy, sys
module, args, heavy = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
sys.argv = [module, *args]
code = 0
try:
    runpy.run_module(module, run_name="__main__", alter_sys=True)
except SystemExit as exit:
    code = exit.code
sys.stdout.flush()
imported = sorted(m for m in sys.modules if m.split(".")[0] in heavy or m.endswith(".app"))
print(json.dumps({"code": code, "imported": imported}), file=sys.stderr)
"""

# each service's commands and the options each one must list in its help
WITH_DATABASE = {"serve": [], "migrate": [], "revision": ["--message"]}
SERVICES = {
    "twofold_auth": {**WITH_DATABASE, "create-client": ["--name", "--callback-url", "--scope", "--seed-mode"],
                     "list-clients": [], "verify-audit": [], "find-user": ["--email", "--operator", "--reason"],
                     "unlock-user": ["--email", "--user-id"], "reset-2fa": ["--email", "--user-id"],
                     "revoke-sessions": ["--email", "--user-id"], "disable-client": ["--client-id"],
                     "enable-client": ["--client-id"], "rotate-client-secret": ["--client-id", "--overlap"]},
    "twofold_registration": WITH_DATABASE,
    "twofold_vault": {**WITH_DATABASE, "rotate-keys": ["--batch-size"]},
    "twofold_gateway": {"serve": [], "migrate": []},
}
CASES = [(module, [], list(commands)) for module, commands in SERVICES.items()] + [
    (module, [command], options) for module, commands in SERVICES.items() for command, options in commands.items()
]


def help_of(module: str, *args: str) -> tuple[str, dict]:
    # no service settings in the environment: help must not need them
    done = subprocess.run([sys.executable, "-c", PROBE, module, json.dumps([*args, "--help"]), json.dumps(HEAVY)],
                          capture_output=True, text=True, timeout=60)
    return done.stdout, json.loads(done.stderr.strip().splitlines()[-1])


@pytest.mark.parametrize(("module", "command", "names"), CASES,
                         ids=[" ".join([module, *command]) for module, command, _ in CASES])
def test_help_names_every_command_and_option_without_importing_the_app(
        module: str, command: list[str], names: list[str]) -> None:
    output, probe = help_of(module, *command)
    assert probe["code"] == 0, output
    for name in names:
        assert name in output, f"{name} missing from:\n{output}"
    assert probe["imported"] == [], f"--help imported {probe['imported']}"


def test_create_client_help_says_the_default_scopes() -> None:
    output, _ = help_of("twofold_auth", "create-client")
    assert "default: setup, verify, status" in output, output
    for scope in ("admin", "setup", "status", "verify"):
        assert scope in output


def test_the_internal_keygen_help_needs_no_service_and_imports_nothing_heavy() -> None:
    output, probe = help_of("twofold_common.internal_keys", "keygen")
    assert probe["code"] == 0, output
    for name in ("gateway", "auth", "registration", "vault", "--kid", "INTERNAL_SIGNING_KEY", "INTERNAL_PUBLIC_KEYS"):
        assert name in output, f"{name} missing from:\n{output}"
    assert probe["imported"] == [], f"--help imported {probe['imported']}"
