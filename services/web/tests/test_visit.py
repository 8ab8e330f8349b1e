"""The visit cookie: what the browser holds is sealed (it can neither read nor change it), and anything else it
sends (changed, foreign, expired, garbage) starts a new visit instead of failing the page."""

from __future__ import annotations

import base64
import binascii
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from twofold_web.pages.authorize import MAX_QUERY
from twofold_web.visit import Authorization, Challenge, Enrollment, Session, Visit, VisitCookie

KEY = "a test key for the visit cookie, long enough"
MAX_AGE = 3600


def cookie(key: str = KEY, *, secure: bool = True, max_age: int = MAX_AGE) -> VisitCookie:
    return VisitCookie(key, secure=secure, max_age=max_age)


def full_visit() -> Visit:
    """A visit with every part filled in, each value easy to find in a text."""
    return Visit(
        email="person-4f2a@example.com",
        enrollment=Enrollment(setup_token="setup-token-5b1c", replacing=True, registration_token="reg-token-9d3e",
                              provider="native", client_id="cl_app-7a", app_name="An App"),
        recovery_codes=["recovery-code-1111", "recovery-code-2222"],
        challenge=Challenge(token="challenge-token-3c8f", deep_link="https://provider.example/code?c=2"),
        session=Session(access_token="access-token-6e0b", refresh_token="refresh-token-8f4d",
                        session_id="0b5e2a44-1111-4222-8333-944455556666", expires_at=1_900_000_000.5),
        authorization=Authorization(query="client_id=cl_app-7a&state=state-2e7f", redirect_origin="https://app.example",
                                    client_name="An App", fresh=True),
    )


def assert_fresh(opened: Visit, previous: Visit) -> None:
    """A new, empty visit: nothing of ``previous`` came through, its CSRF token included."""
    assert opened == Visit(csrf=opened.csrf)
    assert opened.csrf and opened.csrf != previous.csrf


def test_a_sealed_visit_opens_equal_with_all_its_parts() -> None:
    visit = full_visit()
    opened = cookie().open(cookie().seal(visit))  # another replica with the same key opens it too
    assert opened == visit
    assert isinstance(opened.enrollment, Enrollment) and isinstance(opened.challenge, Challenge)
    assert isinstance(opened.session, Session) and opened.session.expires_at == 1_900_000_000.5
    assert isinstance(opened.authorization, Authorization) and opened.authorization.fresh is True
    empty = Visit()
    assert cookie().open(cookie().seal(empty)) == empty  # the parts that are None stay None


def test_the_sealed_value_does_not_show_what_it_holds() -> None:
    visit = full_visit()
    sealed = cookie().seal(visit)
    raw = base64.urlsafe_b64decode(sealed)
    secrets_held = [visit.email, visit.csrf, "setup-token-5b1c", "reg-token-9d3e", "JBSWY3DPEHPK3PXP",
                    "challenge-token-3c8f", "access-token-6e0b", "refresh-token-8f4d", "recovery-code-1111",
                    "state-2e7f"]
    for text in secrets_held:
        assert text not in sealed, text
        assert text.encode() not in raw, text
    assert cookie().seal(visit) != sealed  # a fresh IV each time: equal visits are not recognisable


def test_a_cookie_changed_by_one_character_opens_as_a_new_visit() -> None:
    visit = full_visit()
    sealed = cookie().seal(visit)
    original = base64.urlsafe_b64decode(sealed)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    changed = 0
    for i, character in enumerate(sealed):
        if character == "=":
            continue
        other = alphabet[(alphabet.index(character) + 1) % len(alphabet)]
        value = sealed[:i] + other + sealed[i + 1:]
        try:
            if base64.urlsafe_b64decode(value) == original:
                continue  # a padding bit base64 ignores: the same bytes, not a change
        except binascii.Error:
            pass
        assert_fresh(cookie().open(value), visit)
        changed += 1
    assert changed > len(sealed) - 4


def test_a_cookie_sealed_under_another_key_opens_as_a_new_visit() -> None:
    visit = full_visit()
    assert_fresh(cookie().open(cookie("another key of another deployment").seal(visit)), visit)
    assert_fresh(cookie("another key of another deployment").open(cookie().seal(visit)), visit)


def test_a_cookie_older_than_max_age_opens_as_a_new_visit() -> None:
    visit = full_visit()
    sealing = cookie(max_age=60)
    # sealed at a chosen time by the cookie's own Fernet (its timestamp is what the age is counted from)
    old = sealing._fernet.encrypt_at_time(visit.to_json(), int(time.time()) - 61).decode()
    assert_fresh(sealing.open(old), visit)
    recent = sealing._fernet.encrypt_at_time(visit.to_json(), int(time.time()) - 50).decode()
    assert sealing.open(recent) == visit
    assert cookie(max_age=3600).open(old) == visit  # the age is the cookie's setting, not a fixed one


@pytest.mark.parametrize("value", [
    None, "", "garbage", "gAAAAA", "====", "not base64 at all!", "gAAAAAB" + "A" * 200,
    base64.urlsafe_b64encode(b"\x80" + b"\x00" * 100).decode(), "\u00e9t\u00e9", "a" * 10_000,
], ids=["none", "empty", "word", "fernet-prefix", "padding", "punctuation", "zeros", "version-byte", "unicode",
        "long"])
def test_garbage_or_no_cookie_opens_as_a_new_visit(value: str | None) -> None:
    previous = Visit()
    assert_fresh(cookie().open(value), previous)


@pytest.mark.parametrize("content", [
    b"not json", b'{"unknown_field": 1}', b'{"enrollment": {"setup_token": "x", "dropped_field": 1}}',
    b'{"enrollment": "x"}', b'{"session": {"access_token": "a"}}',
], ids=["not-json", "unknown-field", "unknown-part-field", "part-not-an-object", "part-incomplete"])
def test_a_sealed_value_that_is_not_a_visit_of_this_version_opens_as_a_new_visit(content: bytes) -> None:
    """A visit sealed by an earlier version of the pages (a field since renamed) starts again, not a 500."""
    sealing = cookie()
    assert_fresh(sealing.open(sealing._fernet.encrypt(content).decode()), Visit())


def test_two_new_visits_have_different_csrf_tokens() -> None:
    tokens = {cookie().open(None).csrf for _ in range(20)}
    assert len(tokens) == 20 and all(len(token) >= 24 for token in tokens)


def test_the_cookie_name_pins_a_secure_cookie_to_the_host() -> None:
    assert cookie(secure=True).name == "__Host-twofold" and cookie(secure=True).secure is True
    assert cookie(secure=False).name == "twofold" and cookie(secure=False).secure is False
    assert cookie(max_age=123).max_age == 123


def test_the_required_page_is_the_recovery_codes_then_the_enrollment() -> None:
    enrollment = Enrollment(setup_token="setup")
    session = Session(access_token="a", refresh_token="r", session_id="s", expires_at=0.0)
    assert Visit(recovery_codes=["c1"], enrollment=enrollment).required_page() == "/ui/recovery-codes"
    assert Visit(recovery_codes=["c1"], session=session).required_page() == "/ui/recovery-codes"
    assert Visit(enrollment=enrollment, session=session).required_page() == "/ui/enroll"
    assert Visit(recovery_codes=[], enrollment=enrollment).required_page() == "/ui/enroll"  # saved: none left
    assert Visit(challenge=Challenge("c"), session=session, email="e@example.com").required_page() is None
    assert Visit().required_page() is None
    # what a visit holds decides it, also once sealed and opened again
    assert cookie().open(cookie().seal(Visit(recovery_codes=["c1"], enrollment=enrollment))).required_page() == \
        "/ui/recovery-codes"


def test_the_largest_visit_an_authorization_makes_fits_in_a_cookie() -> None:
    """Browsers keep a cookie of at most 4096 bytes, name and value: a longer one is dropped, silently.
    The largest visit: a 254-character email (RFC 5321's longest path) also in the access token, an app's
    request of the longest length kept, and the longest client name."""
    email = "e" * 64 + "@" + "d" * 189
    access_token = jwt.encode({"iss": "https://auth.example.com", "aud": "twofold-api", "sub": str(uuid.uuid4()),
                               "sid": str(uuid.uuid4()), "amr": ["pwd", "otp"], "email": email, "iat": 1_900_000_000,
                               "exp": 1_900_000_900}, Ed25519PrivateKey.generate(), algorithm="EdDSA",
                              headers={"kid": "key-2026-01"})
    visit = Visit(email=email, session=Session(access_token, "rt_" + "r" * 43, str(uuid.uuid4()), 1.9e9),
                  authorization=Authorization("q" * MAX_QUERY, "https://" + "h" * 60 + ":8443", "n" * 200, True))
    sealing = cookie()
    assert len(sealing.name) + 1 + len(sealing.seal(visit)) < 4096
