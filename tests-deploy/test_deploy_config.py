"""The deployment files against the services' own settings: no secret forgotten, production accepted.

Each service's settings class says which settings are secrets. Every one of them
must reach the service in Kubernetes (from a Secret, by reference), in
docker-compose.yml (from .env, or built there like the database URL), be listed in
.env.example and documented in docs/operations.md. And the production overlay's
settings, with secrets made the way docs/operations.md says, must pass the
production guard of every service (https URLs, no development value).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from pydantic import SecretStr

from twofold_auth.settings import AuthSettings
from twofold_common.internal_keys import new_signing_key, public_keys_json
from twofold_common.settings import ServiceSettings
from twofold_gateway.settings import GatewaySettings
from twofold_registration.settings import RegistrationSettings
from twofold_vault.settings import VaultSettings
from twofold_web.settings import WebSettings

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "deploy" / "k8s"
# compose service / Kubernetes directory -> settings class
SERVICES: dict[str, type[ServiceSettings]] = {
    "auth": AuthSettings, "registration": RegistrationSettings, "vault": VaultSettings, "gateway": GatewaySettings,
    "web": WebSettings,
}
# Not secret, but they travel with a key ring (rotation changes both at once).
KEY_RING_COMPANIONS = {"auth": ["active_signing_key_id", "active_id_token_key_id"], "vault": ["active_key_id"]}


def env_name(cls: type[ServiceSettings], field: str) -> str:
    return f"{cls.model_config['env_prefix']}{field}".upper()


def secret_settings(cls: type[ServiceSettings]) -> list[str]:
    fields = set(cls.secret_fields) | {name for name, f in cls.model_fields.items() if f.annotation is SecretStr}
    if cls._needs_database(cls.model_construct()):
        fields.add("database_url")
    return sorted(env_name(cls, field) for field in fields)


def deployment_env(service: str) -> dict[str, dict]:
    deployment = yaml.safe_load((K8S / "base" / service / "deployment.yaml").read_text())
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {env["name"]: env for env in container.get("env", [])}


def compose_env(service: str) -> dict[str, str | None]:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    entries = compose["services"][service]["environment"]
    return {key: (value if sep else None) for key, sep, value in (e.partition("=") for e in entries)}


@pytest.mark.parametrize("service", SERVICES)
def test_every_secret_setting_reaches_the_service_by_reference_and_is_documented(service: str) -> None:
    cls = SERVICES[service]
    wanted = secret_settings(cls) + [env_name(cls, f) for f in KEY_RING_COMPANIONS.get(service, [])]
    k8s, compose = deployment_env(service), compose_env(service)
    example = (ROOT / ".env.example").read_text()
    docs = (ROOT / "docs" / "operations.md").read_text()
    for name in wanted:
        assert "secretKeyRef" in k8s.get(name, {}).get("valueFrom", {}), f"{name}: not from a Secret in Kubernetes"
        assert name in compose, f"{name}: not passed to {service} in docker-compose.yml"
        if name.endswith("_DATABASE_URL"):
            assert "${" in (compose[name] or ""), f"{name}: its password should come from .env"
        else:
            assert compose[name] is None, f"{name}: docker-compose.yml must pass it from .env, not set it"
            assert f"# {name}=" in example, f"{name}: missing from .env.example"
        assert name in docs, f"{name}: not in docs/operations.md"


def configmap_literals(overlay: str) -> dict[str, str]:
    """The settings kustomize generates for ``overlay`` (base literals, merged with the overlay's)."""
    values: dict[str, str] = {}
    for kustomization in (K8S / "base" / "kustomization.yaml", K8S / overlay / "kustomization.yaml"):
        for generator in yaml.safe_load(kustomization.read_text()).get("configMapGenerator", []):
            values.update(literal.split("=", 1) for literal in generator.get("literals", []))
    return values


def fresh_secrets() -> dict[str, str]:
    """Secrets made as docs/operations.md says (32 random bytes, base64; Ed25519 keys are 32 random bytes too;
    the internal keys by keygen, their public halves in one ring)."""
    def key() -> str:
        return base64.b64encode(os.urandom(32)).decode()

    def rsa_key() -> str:  # what openssl genpkey ... -outform DER | base64 makes
        der = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
            Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
        return base64.b64encode(der).decode()

    internal = {service: new_signing_key(service) for service in SERVICES}
    ring = public_keys_json({service: [signing] for service, signing in internal.items()})
    return {
        **{env_name(cls, "internal_signing_key"): internal[service].text for service, cls in SERVICES.items()},
        **{env_name(cls, "internal_public_keys"): ring for cls in SERVICES.values()},
        **{f"{prefix}_DATABASE_URL": f"postgresql+asyncpg://{prefix.lower()}:{secrets.token_urlsafe(24)}@db:5432/x"
           for prefix in ("AUTH", "REGISTRATION", "VAULT")},
        "AUTH_SIGNING_KEYS": json.dumps({"2026-11": key()}), "AUTH_ACTIVE_SIGNING_KEY_ID": "2026-11",
        "AUTH_ID_TOKEN_KEYS": json.dumps({"rsa-2026-11": rsa_key()}), "AUTH_ACTIVE_ID_TOKEN_KEY_ID": "rsa-2026-11",
        "AUTH_TOKEN_PEPPER": secrets.token_urlsafe(32),
        "REGISTRATION_SEED_PICKUP_KEY": key(),
        "VAULT_ENCRYPTION_KEYS": json.dumps({"2026-11": key()}), "VAULT_ACTIVE_KEY_ID": "2026-11",
        "VAULT_RECOVERY_CODE_PEPPER": secrets.token_urlsafe(32),
        "WEB_COOKIE_KEY": secrets.token_urlsafe(32),
    }


@pytest.mark.parametrize("service", SERVICES)
def test_the_production_overlay_passes_the_production_guard(service: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {**configmap_literals("overlays/production"), **fresh_secrets()}.items():
        monkeypatch.setenv(name, value)
    settings = SERVICES[service]()
    assert settings.production and settings.host == "0.0.0.0" and settings.port == 8000
    if settings.database_url:
        assert settings.migrate_on_start is False  # the migration Job does it


@pytest.mark.parametrize("service", SERVICES)
def test_without_its_secrets_the_production_overlay_refuses_to_start(service: str,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in configmap_literals("overlays/production").items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError):  # SettingsError, or pydantic's ValidationError: both name the variable
        SERVICES[service]()


@pytest.mark.parametrize("service", SERVICES)
def test_the_production_overlays_ring_is_refused_until_your_public_keys_replace_its_placeholders(
        service: str, monkeypatch: pytest.MonkeyPatch) -> None:
    ring = (K8S / "overlays" / "production" / "internal-public-keys.json").read_text()
    assert set(json.loads(ring)) == set(SERVICES)
    cls = SERVICES[service]
    for name, value in {**configmap_literals("overlays/production"), **fresh_secrets(),
                        env_name(cls, "internal_public_keys"): ring}.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=env_name(cls, "internal_public_keys")):
        cls()


def pod_spec(doc: dict) -> dict | None:
    if doc["kind"] == "CronJob":
        return doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return doc["spec"]["template"]["spec"] if doc["kind"] in ("Deployment", "Job") else None


@pytest.mark.parametrize("service", SERVICES)
def test_every_workload_signs_with_its_services_own_key_and_reads_the_one_ring(service: str) -> None:
    """Servers, migration Jobs and CronJobs alike: a service's key from its own Secret only (no key shared between
    services), the public keys from the ConfigMap they all read; compose passes the one ring from .env."""
    signing, ring = env_name(SERVICES[service], "internal_signing_key"), env_name(SERVICES[service],
                                                                                 "internal_public_keys")
    checked = []
    for path in sorted((K8S / "base" / service).glob("*.yaml")):
        specs = [spec for doc in yaml.safe_load_all(path.read_text()) if (spec := pod_spec(doc))]
        if not specs:
            continue
        env = {entry["name"]: entry for entry in specs[0]["containers"][0].get("env", [])}
        assert env[signing]["valueFrom"] == {"secretKeyRef": {"name": f"twofold-{service}",
                                                              "key": "internal-signing-key"}}, path.name
        assert env[ring]["valueFrom"] == {"configMapKeyRef": {"name": "twofold-internal-keys",
                                                              "key": "public-keys"}}, path.name
        checked.append(path.name)
    assert "deployment.yaml" in checked
    assert compose_env(service)[ring] == "${TWOFOLD_INTERNAL_PUBLIC_KEYS:-}"
    assert "# TWOFOLD_INTERNAL_PUBLIC_KEYS=" in (ROOT / ".env.example").read_text()
