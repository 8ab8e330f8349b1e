"""The vault's key ring settings: development works out of the box, production refuses what is unsafe."""

import base64
import json
import os
import subprocess
import sys

import pytest
from pydantic import ValidationError

from twofold_common.internal_keys import new_signing_key, public_keys_json
from twofold_vault.settings import DEV_ENCRYPTION_KEYS, DEV_KEY, VaultSettings

INTERNAL_KEY = new_signing_key("vault")
PRODUCTION = {"VAULT_ENVIRONMENT": "production", "VAULT_DATABASE_URL": "postgresql://vault:pw@db/vault",
              "VAULT_INTERNAL_SIGNING_KEY": INTERNAL_KEY.text,
              "VAULT_INTERNAL_PUBLIC_KEYS": public_keys_json({"vault": [INTERNAL_KEY]}),
              "VAULT_RECOVERY_CODE_PEPPER": "p" * 48}


def ring(**keys: bytes) -> str:
    return json.dumps({key_id: base64.b64encode(key).decode() for key_id, key in keys.items()})


def load(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> VaultSettings:
    for name in list(os.environ):
        if name.startswith("VAULT_"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return VaultSettings()


def test_development_has_a_working_key_ring(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load(monkeypatch, {})
    assert settings.key_ring().active_id == "dev-1"


def test_production_accepts_its_own_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load(monkeypatch, {**PRODUCTION, "VAULT_ENCRYPTION_KEYS": ring(k1=os.urandom(32), k2=os.urandom(32)),
                                  "VAULT_ACTIVE_KEY_ID": "k2"})
    assert settings.key_ring().active_id == "k2"


@pytest.mark.parametrize(("env", "named"), [
    ({}, "VAULT_ENCRYPTION_KEYS"),  # missing: the development default
    ({"VAULT_ENCRYPTION_KEYS": DEV_ENCRYPTION_KEYS, "VAULT_ACTIVE_KEY_ID": "dev-1"}, "VAULT_ENCRYPTION_KEYS"),
    ({"VAULT_ENCRYPTION_KEYS": ring(k1=os.urandom(32), old=DEV_KEY), "VAULT_ACTIVE_KEY_ID": "k1"},
     "VAULT_ENCRYPTION_KEYS contains the development key"),
    ({"VAULT_ENCRYPTION_KEYS": ring(k1=os.urandom(32)), "VAULT_ACTIVE_KEY_ID": "k2"}, "VAULT_ACTIVE_KEY_ID"),
    ({"VAULT_ENCRYPTION_KEYS": ring(k1=os.urandom(24)), "VAULT_ACTIVE_KEY_ID": "k1"}, "VAULT_ENCRYPTION_KEYS"),
])
def test_production_refuses_an_unsafe_key_ring(monkeypatch: pytest.MonkeyPatch, env: dict[str, str],
                                               named: str) -> None:
    with pytest.raises(ValidationError) as refused:
        load(monkeypatch, {**PRODUCTION, **env})
    assert named in str(refused.value)


def test_production_refuses_the_default_recovery_code_pepper(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {**PRODUCTION, "VAULT_ENCRYPTION_KEYS": ring(k1=os.urandom(32)), "VAULT_ACTIVE_KEY_ID": "k1"}
    del env["VAULT_RECOVERY_CODE_PEPPER"]
    with pytest.raises(ValidationError) as refused:
        load(monkeypatch, env)
    assert "VAULT_RECOVERY_CODE_PEPPER" in str(refused.value)


def test_the_service_exits_2_naming_the_variable() -> None:
    key = os.urandom(32)
    env = {**PRODUCTION, "VAULT_ENCRYPTION_KEYS": ring(k1=key), "VAULT_ACTIVE_KEY_ID": "nope"}
    done = subprocess.run([sys.executable, "-m", "twofold_vault"], env={"PATH": os.environ["PATH"], **env},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "VAULT_ACTIVE_KEY_ID" in done.stderr
    assert base64.b64encode(key).decode() not in done.stderr + done.stdout
