"""OpenID Connect's rules and the ID token keys, in process, no sockets."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from pydantic import SecretStr

from twofold_auth.oidc.keys import read_id_token_keys
from twofold_auth.oidc.rules import (
    AuthorizationError,
    FormBody,
    TokenError,
    basic_credentials,
    code_challenge,
    logout_client,
    max_age,
    next_logout_attempt,
    redirect,
    requested_scopes,
    s256,
    verifier_matches,
)
from twofold_auth.settings import DEV_ID_TOKEN_KEY, AuthSettings
from twofold_common.settings import SettingsError

FORM = "application/x-www-form-urlencoded"


def test_s256_is_rfc_7636s_example_and_a_verifier_matches_only_its_challenge() -> None:
    # RFC 7636, appendix B
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert s256(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    assert verifier_matches(verifier, s256(verifier))
    assert not verifier_matches(verifier[:-1] + "l", s256(verifier))
    assert not verifier_matches(s256(verifier), s256(verifier))  # the challenge itself is no verifier
    assert not verifier_matches("short", s256("short"))  # RFC 7636 4.1: 43 to 128 characters


@pytest.mark.parametrize("challenge, method", [(None, "S256"), ("x" * 43, None), ("x" * 43, "plain"),
                                               ("x" * 42, "S256"), ("x" * 42 + "=", "S256")])
def test_pkce_is_s256_with_a_well_formed_challenge(challenge, method) -> None:
    with pytest.raises(AuthorizationError) as refused:
        code_challenge(challenge, method)
    assert refused.value.error == "invalid_request"


def test_scopes_need_openid_grant_what_the_client_has_and_ignore_the_unknown() -> None:
    known = {"openid", "email"}
    assert requested_scopes("openid profile offline_access", known=known, granted={"openid"}) == ("openid",)
    assert requested_scopes("email openid", known=known, granted={"openid", "email"}) == ("email", "openid")
    for scope, granted in [("email", {"openid", "email"}), (None, {"openid"}), ("openid email", {"openid"})]:
        with pytest.raises(AuthorizationError) as refused:
            requested_scopes(scope, known=known, granted=granted)
        assert refused.value.error == "invalid_scope"


def test_max_age_is_a_number_of_seconds() -> None:
    assert max_age("0") == 0 and max_age(None) is None
    for wrong in ("-1", "1.5", "", "٣", "9" * 5000):
        with pytest.raises(AuthorizationError):
            max_age(wrong)


def test_a_redirect_keeps_the_registered_query_and_encodes_the_answer() -> None:
    url = redirect("https://app.example/cb?tenant=a", {"code": "ac_1", "state": "x y&z", "nonce": None})
    assert url == "https://app.example/cb?tenant=a&code=ac_1&state=x+y%26z"


def test_a_token_request_is_a_form_whose_parameters_come_once() -> None:
    assert FormBody.parse(FORM, b"grant_type=refresh_token&scope=").values == {"grant_type": "refresh_token"}
    for content_type, body in [(FORM, b"a=1&a=2"), ("application/json", b'{"a": 1}'), (FORM, b"\xff=1"),
                               (FORM, b"no-equals-sign")]:
        with pytest.raises(TokenError) as refused:
            FormBody.parse(content_type, body)
        assert refused.value.error == "invalid_request"


def test_basic_client_credentials_are_form_decoded_and_malformed_ones_refused() -> None:
    encoded = base64.b64encode(b"cl_1:s%3Ak+x").decode()
    assert basic_credentials(f"Basic {encoded}") == ("cl_1", "s:k x")
    assert basic_credentials("Bearer x") is None and basic_credentials(None) is None
    with pytest.raises(TokenError) as refused:
        basic_credentials("Basic bm8tY29sb24=")  # "no-colon"
    assert (refused.value.status, refused.value.error) == (401, "invalid_client")


def _der(bits: int) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return base64.b64encode(key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())).decode()


def _pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()


def test_the_id_token_ring_reads_pem_and_der_and_publishes_rs256_keys() -> None:
    ring = read_id_token_keys(AuthSettings(id_token_keys=json.dumps({"a": _pem(), "b": DEV_ID_TOKEN_KEY}),
                                           active_id_token_key_id="a"))
    assert [(k["kid"], k["kty"], k["alg"], k["use"]) for k in ring.jwks()] == [("a", "RSA", "RS256", "sig"),
                                                                            ("b", "RSA", "RS256", "sig")]


@pytest.mark.parametrize("keys, active, message", [
    ('{"a": "bm90IGEga2V5"}', "a", "must be JSON"),
    ("[]", "a", "must be JSON"),
    (None, "a", "1024 bits"),
    (json.dumps({"dev-ed25519-1": DEV_ID_TOKEN_KEY}), "dev-ed25519-1", "share key ids"),
    (json.dumps({"a": DEV_ID_TOKEN_KEY}), "b", "is not a key id"),
])
def test_a_malformed_weak_or_ambiguous_ring_stops_the_start(keys, active, message) -> None:
    with pytest.raises(ValueError, match=message):  # pydantic wraps the SettingsError that names the variable
        AuthSettings(id_token_keys=keys or json.dumps({"a": _der(1024)}), active_id_token_key_id=active)


def test_production_refuses_the_development_key_even_beside_a_real_one() -> None:
    real = _der(2048)
    ring = read_id_token_keys(AuthSettings(id_token_keys=json.dumps({"r": real}), active_id_token_key_id="r"))
    assert list(ring.keys) == ["r"]
    both = SecretStr(json.dumps({"r": real, "d": DEV_ID_TOKEN_KEY}))
    settings = AuthSettings.model_construct(**{**AuthSettings().model_dump(), "environment": "production",
                                               "id_token_keys": both, "active_id_token_key_id": "r"})
    with pytest.raises(SettingsError, match="development key is public"):
        read_id_token_keys(settings)


def test_a_logout_request_names_its_app_by_client_id_or_by_the_hints_one_audience() -> None:
    assert logout_client("cl_1", None) == logout_client(["cl_1"], None) == logout_client(None, "cl_1") == "cl_1"
    assert logout_client(["cl_1", "cl_2"], "cl_2") == "cl_2" and logout_client(None, None) is None
    for audience, client_id in [("cl_1", "cl_2"), (["cl_1", "cl_2"], None), ([], None)]:
        with pytest.raises(ValueError):
            logout_client(audience, client_id)


def test_a_logout_token_is_sent_again_sooner_then_later_and_given_up_an_hour_after_the_end() -> None:
    ended = datetime(2026, 1, 1, tzinfo=UTC)
    delays = [next_logout_attempt(ended_at=ended, now=ended, failures=n) for n in (1, 2, 3, 10, 100)]
    assert [d - ended for d in delays if d] == [timedelta(seconds=s) for s in (1, 2, 4, 300, 300)]
    late = ended + timedelta(minutes=58)
    assert next_logout_attempt(ended_at=ended, now=late, failures=2) == late + timedelta(seconds=2)
    assert next_logout_attempt(ended_at=ended, now=late, failures=9) is None  # 256 s would pass the hour


def test_an_id_token_hint_is_one_this_ring_signed_for_this_issuer_expired_or_not() -> None:
    ring = read_id_token_keys(AuthSettings())
    claims = {"iss": "https://id.example", "sub": "u", "aud": "cl_1", "exp": 1}  # expired in 1970
    assert ring.verify_id_token(ring.sign(claims), issuer="https://id.example") == claims
    other = read_id_token_keys(AuthSettings(id_token_keys=json.dumps({"dev-rsa-1": _pem()})))
    for token, issuer in [(ring.sign(claims), "https://other.example"),
                          (other.sign(claims), "https://id.example"),  # the same kid, another key
                          (ring.sign(claims, typ="logout+jwt"), "https://id.example"),  # a logout token
                          (ring.sign({k: v for k, v in claims.items() if k != "aud"}), "https://id.example"),
                          (jwt.encode(claims, "k" * 32, algorithm="HS256",
                                      headers={"kid": "dev-rsa-1"}), "https://id.example"),
                          ("not.a.token", "https://id.example")]:
        with pytest.raises(jwt.InvalidTokenError):
            ring.verify_id_token(token, issuer=issuer)
