import io
import json
import logging

from twofold_common.logging import REDACTED, JsonFormatter, redact, redact_text

SEED = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def test_secrets_in_free_text_and_query_strings_are_redacted() -> None:
    line = (f"GET /api/auth/totp-callback?success=true&regToken=reg_abcdefghijklmnopqrstuv&seed={SEED}"
            "&code=123456&seedId=s1")
    out = redact_text(line)
    assert SEED not in out and "123456" not in out and "reg_abcdefghijklmnopqrstuv" not in out
    assert "success=true" in out


def test_secret_keys_are_redacted_but_ids_are_kept() -> None:
    out = redact({"seed": SEED, "password": "hunter2", "nested": {"refresh_token": "rt_x"}, "seed_id": "s-1",
                  "totpSeedId": "s-2", "Authorization": "Bearer abc.def.ghi", "email": "a@b.c"})
    assert out["seed"] == out["password"] == out["nested"]["refresh_token"] == out["Authorization"] == REDACTED
    assert out["seed_id"] == "s-1" and out["totpSeedId"] == "s-2" and out["email"] == "a@b.c"


def test_bearer_tokens_and_token_shaped_values_are_redacted() -> None:
    out = redact_text("calling with Bearer eyJhbGciOi.eyJzdWIi.sig and reg_0123456789abcdefghij")
    assert "eyJhbGciOi" not in out and "0123456789abcdefghij" not in out


def test_the_json_formatter_never_writes_a_seed() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("test"))
    logger = logging.getLogger("redaction-test")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("callback seed=%s received", SEED, extra={"seed": SEED, "code": "654321", "user": "u1"})
        try:
            raise ValueError(f"bad seed={SEED}")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert SEED not in text and "654321" not in text
    entry = json.loads(text.splitlines()[0])
    assert entry["user"] == "u1" and entry["level"] == "warning" and entry["service"] == "test"


def test_text_without_a_secret_word_is_passed_as_it_is_and_any_case_of_one_is_redacted() -> None:
    """The quick check before the patterns (most log text holds no secret) must not let a case variant by."""
    for plain in ("/api/v1/verify", "0b5e4f7c-1d2e-4c3b-9a8f-000000000001", "198.18.3.4", "POST"):
        assert redact_text(plain) is plain
    for text in ("SEED=ABCDEF", "RegToken: abcdef", "x OTP=123456", "BEARER abc.def", "sk_0123456789abcdefghij"):
        assert REDACTED in redact_text(text), text
