import subprocess
import sys

import pytest

from twofold_common.internal_keys import dev_signing_key, new_signing_key, public_keys_json

SERVICES = [("twofold_auth", "AUTH"), ("twofold_registration", "REGISTRATION"), ("twofold_vault", "VAULT")]


def own_keys(prefix: str) -> dict[str, str]:
    """A service's own internal key and a ring with its public half, as an operator makes them."""
    service = "vault" if prefix == "VAULT" else prefix.lower()
    key = new_signing_key(service)
    return {f"{prefix}_INTERNAL_SIGNING_KEY": key.text,
            f"{prefix}_INTERNAL_PUBLIC_KEYS": public_keys_json({service: [key]})}


def run_service(module: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", module], env={"PATH": "/usr/bin:/bin", **env},
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(("module", "prefix"), SERVICES)
def test_production_without_a_database_url_refuses_to_start(module: str, prefix: str) -> None:
    done = run_service(module, {f"{prefix}_ENVIRONMENT": "production", **own_keys(prefix)})
    assert done.returncode == 2
    assert f"{prefix}_DATABASE_URL" in done.stderr


@pytest.mark.parametrize(("module", "prefix"), [*SERVICES, ("twofold_gateway", "GATEWAY")])
@pytest.mark.parametrize("key", [None, "development", "malformed"])
def test_production_with_a_missing_development_or_malformed_internal_key_refuses_to_start(
        module: str, prefix: str, key: str | None) -> None:
    env = {f"{prefix}_ENVIRONMENT": "production", f"{prefix}_DATABASE_URL": "postgresql://svc:pw@db/svc",
           **own_keys(prefix)}
    name = f"{prefix}_INTERNAL_SIGNING_KEY"
    if key is None:
        del env[name]
    else:
        env[name] = dev_signing_key(module.removeprefix("twofold_")).text if key == "development" else "k1:short"
    done = run_service(module, env)
    assert done.returncode == 2, done.stderr
    assert f"configuration error: {name}" in done.stderr


def test_a_malformed_key_ring_stops_even_a_development_start() -> None:
    done = run_service("twofold_gateway", {"GATEWAY_INTERNAL_PUBLIC_KEYS": '{"gateway": {"k1": "not-a-key"}}'})
    assert done.returncode == 2
    message = "configuration error: GATEWAY_INTERNAL_PUBLIC_KEYS: the key 'k1' of gateway is not valid base64"
    assert message in done.stderr


def test_handled_event_ids_kept_shorter_than_the_topics_keep_records_refuses_to_start() -> None:
    """A replay of an event whose id was already deleted would be handled twice."""
    done = run_service("twofold_auth", {"AUTH_KAFKA_TOPIC_RETENTION_HOURS": "200",
                                        "AUTH_PROCESSED_EVENTS_RETENTION_HOURS": "100"})
    assert done.returncode == 2
    assert "AUTH_PROCESSED_EVENTS_RETENTION_HOURS must be at least AUTH_KAFKA_TOPIC_RETENTION_HOURS" in done.stderr
