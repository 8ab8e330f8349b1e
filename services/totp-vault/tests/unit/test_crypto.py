import base64
import json
import os
import uuid

import pytest

from twofold_vault.crypto import KEY_BYTES, CiphertextRejected, KeyRing, KeyRingError, Sealed, UnknownKey, parse_keys


def ring(*ids: str, active: str | None = None) -> KeyRing:
    return KeyRing({key_id: os.urandom(KEY_BYTES) for key_id in ids}, active or ids[-1])


def test_round_trip_with_a_fresh_nonce_each_time() -> None:
    keys, seed_id, secret = ring("a"), uuid.uuid4(), os.urandom(20)
    first, second = keys.seal(seed_id, secret), keys.seal(seed_id, secret)
    assert first.key_id == "a"
    assert first.nonce != second.nonce and first.ciphertext != second.ciphertext
    assert secret not in first.ciphertext
    assert keys.open(seed_id, first) == keys.open(seed_id, second) == secret


def test_a_ciphertext_copied_to_another_seed_does_not_decrypt() -> None:
    keys = ring("a")
    sealed = keys.seal(uuid.uuid4(), os.urandom(20))
    with pytest.raises(CiphertextRejected):
        keys.open(uuid.uuid4(), sealed)


def test_tampering_and_a_lying_key_id_are_detected() -> None:
    keys, seed_id = ring("a", "b"), uuid.uuid4()
    sealed = keys.seal(seed_id, os.urandom(20))
    flipped = bytes([sealed.ciphertext[0] ^ 1]) + sealed.ciphertext[1:]
    with pytest.raises(CiphertextRejected):
        keys.open(seed_id, Sealed(sealed.key_id, sealed.nonce, flipped))
    with pytest.raises(CiphertextRejected):
        keys.open(seed_id, Sealed("a", sealed.nonce, sealed.ciphertext))  # sealed under "b"


def test_an_unknown_key_id_is_a_clear_error() -> None:
    seed_id = uuid.uuid4()
    sealed = ring("old").seal(seed_id, os.urandom(20))
    with pytest.raises(UnknownKey) as error:
        ring("new").open(seed_id, sealed)
    assert error.value.key_id == "old" and "'old' is not in the key ring" in str(error.value)


def test_rotation_reads_old_keys_and_seals_with_the_active_one() -> None:
    old_key, seed_id, secret = os.urandom(KEY_BYTES), uuid.uuid4(), os.urandom(20)
    sealed = KeyRing({"a": old_key}, "a").seal(seed_id, secret)
    both = KeyRing({"a": old_key, "b": os.urandom(KEY_BYTES)}, "b")
    resealed = both.seal(seed_id, both.open(seed_id, sealed))
    assert resealed.key_id == "b" and both.open(seed_id, resealed) == secret


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.mark.parametrize(("text", "message"), [
    ("not json", "JSON object"),
    ("{}", "non-empty"),
    ('["a"]', "non-empty JSON object"),
    (json.dumps({"a": _b64(os.urandom(16))}), "'a' is not the base64 encoding of 32 bytes"),
    (json.dumps({"a": "***"}), "'a' is not the base64 encoding of 32 bytes"),
    (json.dumps({"": _b64(os.urandom(32))}), "1 to 64 characters"),
])
def test_malformed_key_rings_are_refused_without_echoing_keys(text: str, message: str) -> None:
    with pytest.raises(KeyRingError) as error:
        parse_keys(text)
    assert message in str(error.value)


def test_the_active_key_must_be_in_the_ring() -> None:
    with pytest.raises(KeyRingError):
        KeyRing(parse_keys(json.dumps({"a": _b64(os.urandom(32))})), "b")
