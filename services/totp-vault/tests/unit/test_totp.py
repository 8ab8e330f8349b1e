"""The OTP computation against the RFCs' own test vectors, and against pyotp as an independent implementation."""

import base64
import hashlib
import os

import pyotp
import pytest

from twofold_vault.totp import (
    InvalidSecret,
    TotpParameters,
    hotp,
    is_well_formed,
    matching_steps,
    provisioning_uri,
    secret_from_base32,
    secret_to_base32,
    totp,
)

# RFC 6238 Appendix B: the seed is "1234567890" repeated to the hash's output length.
RFC6238_KEYS = {
    "SHA1": b"12345678901234567890",
    "SHA256": b"12345678901234567890123456789012",
    "SHA512": b"1234567890123456789012345678901234567890123456789012345678901234",
}
RFC6238_VECTORS = [
    (59, "SHA1", "94287082"), (59, "SHA256", "46119246"), (59, "SHA512", "90693936"),
    (1111111109, "SHA1", "07081804"), (1111111109, "SHA256", "68084774"), (1111111109, "SHA512", "25091201"),
    (1111111111, "SHA1", "14050471"), (1111111111, "SHA256", "67062674"), (1111111111, "SHA512", "99943326"),
    (1234567890, "SHA1", "89005924"), (1234567890, "SHA256", "91819424"), (1234567890, "SHA512", "93441116"),
    (2000000000, "SHA1", "69279037"), (2000000000, "SHA256", "90698825"), (2000000000, "SHA512", "38618901"),
    (20000000000, "SHA1", "65353130"), (20000000000, "SHA256", "77737706"), (20000000000, "SHA512", "47863826"),
]
# RFC 4226 Appendix D: HOTP values of "12345678901234567890" for counters 0..9.
RFC4226_VALUES = ["755224", "287082", "359152", "969429", "338314",
                  "254676", "287922", "162583", "399871", "520489"]


@pytest.mark.parametrize(("unix_time", "algorithm", "expected"), RFC6238_VECTORS)
def test_rfc6238_appendix_b(unix_time: int, algorithm: str, expected: str) -> None:
    params = TotpParameters(digits=8, algorithm=algorithm, period=30)
    key = RFC6238_KEYS[algorithm]
    assert totp(key, unix_time, params) == expected
    # and the verification path accepts it, naming the step it belongs to
    assert matching_steps(key, expected, unix_time, params, window=1) == [unix_time // 30]
    assert matching_steps(key, expected, unix_time, params, window=0) == [unix_time // 30]


@pytest.mark.parametrize(("counter", "expected"), list(enumerate(RFC4226_VALUES)))
def test_rfc4226_appendix_d(counter: int, expected: str) -> None:
    assert hotp(b"12345678901234567890", counter, digits=6) == expected


def test_the_window_accepts_one_step_either_side_and_no_more() -> None:
    key = os.urandom(20)
    params = TotpParameters(digits=6, algorithm="SHA1", period=30)
    now = 1_700_000_015
    step = now // 30
    for offset in (-1, 0, 1):
        code = hotp(key, step + offset, digits=6)
        assert step + offset in matching_steps(key, code, now, params, window=1)
    for offset in (-2, 2):
        code = hotp(key, step + offset, digits=6)
        assert step + offset not in matching_steps(key, code, now, params, window=1)


@pytest.mark.parametrize("code", ["", "12345", "1234567", "12345a", "１２３４５６", "123 456", "-12345"])
def test_malformed_codes_match_nothing(code: str) -> None:
    key = os.urandom(20)
    params = TotpParameters(digits=6, algorithm="SHA1", period=30)
    assert not is_well_formed(code, 6)
    assert matching_steps(key, code, 1_700_000_000, params, window=1) == []


@pytest.mark.parametrize("algorithm", ["SHA1", "SHA256", "SHA512"])
@pytest.mark.parametrize("digits", [6, 8])
def test_agrees_with_pyotp(algorithm: str, digits: int) -> None:
    for _ in range(20):
        key = os.urandom(32)
        reference = pyotp.TOTP(secret_to_base32(key), digits=digits, digest=getattr(hashlib, algorithm.lower()),
                               interval=60)
        at = int.from_bytes(os.urandom(4), "big")
        assert totp(key, at, TotpParameters(digits=digits, algorithm=algorithm, period=60)) == reference.at(at)


def test_base32_secrets_as_people_type_them() -> None:
    key = os.urandom(20)
    text = secret_to_base32(key)
    assert secret_from_base32(text) == key
    assert secret_from_base32(" ".join(text[i:i + 4] for i in range(0, len(text), 4)).lower()) == key
    assert secret_from_base32(base64.b32encode(os.urandom(32)).decode())  # padded form


@pytest.mark.parametrize("text", ["not base32!", "ABC1", secret_to_base32(os.urandom(15)),
                                  secret_to_base32(os.urandom(129)), ""])
def test_unusable_secrets_are_refused(text: str) -> None:
    with pytest.raises(InvalidSecret) as refused:
        secret_from_base32(text)
    assert text not in str(refused.value) or not text


def test_provisioning_uri_names_every_parameter() -> None:
    key = os.urandom(20)
    uri = provisioning_uri(key, issuer="two fold", account="ann@example.org",
                           params=TotpParameters(digits=8, algorithm="SHA256", period=60))
    assert uri == (f"otpauth://totp/two%20fold:ann%40example.org?secret={secret_to_base32(key)}"
                   "&issuer=two%20fold&algorithm=SHA256&digits=8&period=60")
    parsed = pyotp.parse_uri(uri)
    assert parsed.digits == 8 and parsed.interval == 60 and parsed.issuer == "two fold"


def test_provisioning_uri_escapes_the_labels_separator_inside_issuer_and_account() -> None:
    key = os.urandom(20)
    uri = provisioning_uri(key, issuer="Acme Café & Co: Ops/2FA", account="ann:b@example.org",
                           params=TotpParameters(digits=6, algorithm="SHA1", period=30))
    assert uri.startswith("otpauth://totp/Acme%20Caf%C3%A9%20%26%20Co%3A%20Ops%2F2FA:ann%3Ab%40example.org?")
    assert "&issuer=Acme%20Caf%C3%A9%20%26%20Co%3A%20Ops%2F2FA&" in uri
    parsed = pyotp.parse_uri(uri)
    assert (parsed.issuer, parsed.name) == ("Acme Café & Co: Ops/2FA", "ann:b@example.org")
