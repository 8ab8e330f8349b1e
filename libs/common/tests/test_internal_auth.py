"""Internal tokens: each service signs with its own key, and a receiver believes a caller's name only when a key
listed for that caller signed the token."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import jwt
import pytest
from pydantic import ValidationError
from pydantic_settings import SettingsConfigDict

from twofold_common.errors import Unauthorized
from twofold_common.internal_auth import InternalAuth
from twofold_common.internal_keys import (
    dev_signing_key,
    new_signing_key,
    parse_public_keys,
    parse_signing_key,
    public_keys_json,
)
from twofold_common.settings import ServiceSettings
from twofold_common.testing.http import dev_internal_auth
from twofold_common.testing.waiting import eventually

vault = dev_internal_auth("vault")


def claims(issuer: str = "auth", audience: str = "vault", *, expires_in: float = 60) -> dict:
    now = int(time.time())
    return {"iss": issuer, "aud": audience, "iat": now, "exp": now + int(expires_in)}


def refused(receiver: InternalAuth, token: str) -> bool:
    with pytest.raises(Unauthorized):
        receiver.verify(token)
    return True


def test_a_token_names_its_caller_and_the_key_that_signed_it() -> None:
    token = dev_internal_auth("auth").token_for("vault")
    assert jwt.get_unverified_header(token) == {"alg": "EdDSA", "kid": "auth-dev", "typ": "JWT"}
    assert vault.verify(token) == "auth"
    assert vault.verify(token) == "auth"  # again, from the cache of verified tokens


@pytest.mark.parametrize("kid", ["gateway-dev", "auth-dev"], ids=["its-own-kid", "the-kid-of-the-claimed-caller"])
def test_a_service_cannot_sign_as_another(kid: str) -> None:
    """The gateway's real key, in a token that says it comes from auth: refused whichever kid it names."""
    forged = jwt.encode(claims("auth"), dev_signing_key("gateway").private_key, algorithm="EdDSA",
                        headers={"kid": kid})
    assert refused(vault, forged)
    assert refused(vault, dev_internal_auth("auth", key_of="gateway").token_for("vault"))


def test_a_token_for_another_service_is_refused() -> None:
    assert refused(vault, dev_internal_auth("auth").token_for("registration"))


def test_an_unknown_key_id_or_issuer_is_refused() -> None:
    unlisted = new_signing_key("auth", "auth-unlisted")
    assert refused(vault, InternalAuth("auth", unlisted, {}).token_for("vault"))
    stranger = jwt.encode(claims("mallory"), dev_signing_key("auth").private_key, algorithm="EdDSA",
                          headers={"kid": "auth-dev"})
    assert refused(vault, stranger)


def test_rotation_accepts_both_keys_while_the_ring_lists_both_then_only_the_new_one() -> None:
    old, new = new_signing_key("auth", "auth-old"), new_signing_key("auth", "auth-new")
    before, after = InternalAuth("auth", old, {}), InternalAuth("auth", new, {})
    both = InternalAuth("vault", dev_signing_key("vault"), parse_public_keys(public_keys_json({"auth": [old, new]})))
    assert both.verify(before.token_for("vault")) == "auth"
    assert both.verify(after.token_for("vault")) == "auth"
    only_new = InternalAuth("vault", dev_signing_key("vault"), parse_public_keys(public_keys_json({"auth": [new]})))
    assert only_new.verify(after.token_for("vault")) == "auth"
    assert refused(only_new, before.token_for("vault"))


@pytest.mark.parametrize("token", [
    jwt.encode(claims(), dev_signing_key("auth").private_key, algorithm="EdDSA"),  # no kid
    jwt.encode(claims(expires_in=-30), dev_signing_key("auth").private_key, algorithm="EdDSA",
               headers={"kid": "auth-dev"}),
    jwt.PyJWS().encode(json.dumps({**claims(), "iss": ["auth"]}).encode(), dev_signing_key("auth").private_key,
                       algorithm="EdDSA", headers={"kid": "auth-dev"}),
    # the public key used as an HMAC secret: it is public, so this is the classic algorithm confusion
    jwt.encode(claims(), dev_signing_key("auth").public_text, algorithm="HS256", headers={"kid": "auth-dev"}),
    jwt.encode(claims(), None, algorithm="none", headers={"kid": "auth-dev"}),
    "not-a-token",
], ids=["no-kid", "expired", "issuer-not-a-string", "hs256", "unsigned", "garbage"])
def test_malformed_tokens_are_refused(token: str) -> None:
    assert refused(vault, token)


async def test_a_remembered_token_still_expires() -> None:
    """Within the 5 s leeway a just-expired token passes (and is remembered); past it the cache does not keep
    it alive."""
    token = jwt.encode(claims(expires_in=-4), dev_signing_key("auth").private_key, algorithm="EdDSA",
                       headers={"kid": "auth-dev"})
    receiver = dev_internal_auth("vault")
    assert receiver.verify(token) == "auth"

    async def refused_now() -> bool:
        try:
            receiver.verify(token)
        except Unauthorized:
            return True
        return False

    await eventually(refused_now, timeout=5)


class ProbeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PROBE_", extra="ignore")
    service_name = "gateway"

    def _needs_database(self) -> bool:
        return False


KEY = new_signing_key("gateway")
PRODUCTION = {"environment": "production", "internal_signing_key": KEY.text,
              "internal_public_keys": public_keys_json({"gateway": [KEY], "auth": [new_signing_key("auth")]})}


def test_development_needs_no_key_and_production_takes_its_own() -> None:
    development = ProbeSettings()
    assert development.internal_key().text == dev_signing_key("gateway").text
    assert set(development.internal_key_ring()) == {"gateway", "auth", "registration", "vault", "web"}
    production = ProbeSettings(**PRODUCTION)
    assert production.internal_key().kid == KEY.kid and set(production.internal_key_ring()) == {"gateway", "auth"}


@pytest.mark.parametrize(("settings", "message"), [
    ({"internal_signing_key": "no-separator"}, "PROBE_INTERNAL_SIGNING_KEY: must be <kid>:<base64"),
    ({"internal_signing_key": "k1:not base64!"}, "PROBE_INTERNAL_SIGNING_KEY: the key is not valid base64"),
    ({"internal_signing_key": "k1:" + "A" * 40}, "PROBE_INTERNAL_SIGNING_KEY: the key must be the base64 of 32 bytes"),
    ({"internal_signing_key": "a kid:" + KEY.text.split(":")[1]}, "PROBE_INTERNAL_SIGNING_KEY: key id 'a kid'"),
    ({"internal_public_keys": "{nope"}, "PROBE_INTERNAL_PUBLIC_KEYS: is not JSON"),
    ({"internal_public_keys": '{"gateway": "k1"}'}, 'PROBE_INTERNAL_PUBLIC_KEYS: must be JSON {"<service>"'),
    ({"internal_public_keys": '{"gateway": {"k1": "c2hvcnQ="}}'},
     "PROBE_INTERNAL_PUBLIC_KEYS: the key 'k1' of gateway must be the base64 of 32 bytes, not 5"),
    ({"internal_public_keys": public_keys_json({"gatway": [KEY]})}, "unknown service 'gatway'"),
], ids=["no-kid", "not-base64", "not-32-bytes", "bad-kid", "ring-not-json", "ring-shape", "ring-short-key",
        "ring-unknown-service"])
def test_a_malformed_key_is_refused_in_every_environment(settings: dict, message: str) -> None:
    with pytest.raises(ValidationError) as error:
        ProbeSettings(**settings)
    assert message in str(error.value)
    assert KEY.text.split(":")[1] not in str(error.value)  # no key material in the message


@pytest.mark.parametrize(("settings", "message"), [
    ({"internal_signing_key": ""}, "PROBE_INTERNAL_SIGNING_KEY must be set in production"),
    ({"internal_signing_key": dev_signing_key("gateway").text}, "PROBE_INTERNAL_SIGNING_KEY is a development key"),
    ({"internal_signing_key": dev_signing_key("vault").text}, "PROBE_INTERNAL_SIGNING_KEY is a development key"),
    ({"internal_public_keys": ""}, "PROBE_INTERNAL_PUBLIC_KEYS must be set in production"),
    ({"internal_public_keys": public_keys_json({"gateway": [KEY], "vault": [dev_signing_key("vault")]})},
     "PROBE_INTERNAL_PUBLIC_KEYS holds a development key"),
])
def test_production_refuses_development_keys(settings: dict, message: str) -> None:
    with pytest.raises(ValidationError) as error:
        ProbeSettings(**{**PRODUCTION, **settings})
    assert message in str(error.value)


def test_keygen_prints_a_pair_that_signs_and_verifies() -> None:
    done = subprocess.run([sys.executable, "-m", "twofold_common.internal_keys", "keygen", "registration"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    key = parse_signing_key(printed["signingKey"])
    assert printed["service"] == "registration" and key.kid == printed["kid"]
    assert key.kid.startswith("registration-") and list(printed["publicKeys"]["registration"]) == [key.kid]
    receiver = InternalAuth("vault", dev_signing_key("vault"), parse_public_keys(json.dumps(printed["publicKeys"])))
    assert receiver.verify(InternalAuth("registration", key, {}).token_for("vault")) == "registration"
    again = json.loads(subprocess.run([sys.executable, "-m", "twofold_common.internal_keys", "keygen", "registration"],
                                      capture_output=True, text=True, timeout=60).stdout)
    assert again["kid"] != printed["kid"] and again["signingKey"] != printed["signingKey"]
