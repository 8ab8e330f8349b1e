"""One account per email however it is spelled, and a registration answer that need not tell whether it exists."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from twofold_auth.__main__ import MIGRATIONS
from twofold_common.db import to_libpq_url
from twofold_common.migrations import upgrade

PASSWORD = "correct horse battery staple"
ACUTE_E, COMBINING_ACUTE = "\u00e9", "\u0301"


def full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def new_local_part() -> str:
    return f"jose-{uuid.uuid4().hex[:8]}"


async def register(auth_stack, email: str):
    return await auth_stack.http.post("/api/auth/register", json={"email": email, "password": PASSWORD})


async def test_look_alike_spellings_of_an_email_are_the_same_account(auth_stack) -> None:
    tail = uuid.uuid4().hex[:8]
    first = await register(auth_stack, f"jos{ACUTE_E}-{tail}@example.com")
    assert first.status_code == 201, first.text
    variants = [
        f"{full_width('jos')}{ACUTE_E}{full_width('-' + tail)}@example.com",  # full-width letters and digits
        f"{full_width('JOS')}{ACUTE_E.upper()}{full_width('-' + tail.upper())}@EXAMPLE.com",  # and upper case
        f"jose{COMBINING_ACUTE}-{tail}@example.com",  # e + a combining acute accent
        f"jos{ACUTE_E}-{tail}@{full_width('example.com')}",  # a full-width domain
    ]
    for variant in variants:
        again = await register(auth_stack, variant)
        assert again.status_code == 409, (variant, again.text)
        assert again.json()["type"].endswith("/account-exists")
        login = await auth_stack.http.post("/api/auth/login", json={"email": variant, "password": PASSWORD})
        assert login.status_code == 200, (variant, login.text)
        assert login.json()["status"] == "2fa_setup_required"


@pytest.mark.parametrize("email", [
    "p\u0430ypal-{}@example.com",  # a Cyrillic "а" among Latin letters
    "al\u200bice-{}@example.com",  # a zero-width space
    "bob\u202e-{}@example.com",  # a right-to-left override
])
async def test_confusable_emails_that_cannot_be_normalised_are_refused(auth_stack, email: str) -> None:
    answer = await register(auth_stack, email.format(uuid.uuid4().hex[:8]))
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert any(error["location"][-1] == "email" for error in answer.json()["errors"])


async def test_a_single_script_local_part_other_than_latin_is_welcome(auth_stack) -> None:
    answer = await register(auth_stack, f"\u0430\u043b\u0438\u0441\u0430-{uuid.uuid4().int % 10**8}@example.com")
    assert answer.status_code == 201, answer.text


@pytest.mark.auth_env(AUTH_CONCEAL_REGISTERED_EMAILS="true")
async def test_registration_can_answer_the_same_whether_the_email_exists(auth_stack) -> None:
    local = new_local_part()
    new = await register(auth_stack, f"{local}@example.com")
    existing = await register(auth_stack, f"{full_width(local)}@example.com")
    assert new.status_code == existing.status_code == 202, (new.text, existing.text)
    assert new.json() == existing.json()
    assert "setupToken" not in new.text and "userId" not in new.text

    # the new account's owner goes on by signing in; the existing account's owner hears of the attempt
    login = await auth_stack.http.post("/api/auth/login", json={"email": f"{local}@example.com", "password": PASSWORD})
    assert login.status_code == 200 and login.json()["status"] == "2fa_setup_required" and login.json()["setupToken"]
    [user] = await auth_stack.sql("SELECT id FROM users WHERE email_normalized = $1", f"{local}@example.com")
    user_id = uuid.UUID(str(user["id"]))
    wanted = {"user.registered.v1", "account.registration_attempted.v1"}
    assert wanted <= await auth_stack.events_about(user_id, wanted)
    assert (await auth_stack.sql("SELECT count(*) AS n FROM users"))[0]["n"] == 1


async def test_existing_rows_are_rekeyed_by_the_new_rule_without_merging_accounts(create_database) -> None:
    url = await create_database("auth_emails")
    await asyncio.to_thread(upgrade, MIGRATIONS, url, "0004")
    ids = [uuid.uuid4() for _ in range(4)]
    rows = [  # (email as stored, key under the old rule lower(email))
        ("bob@example.com", "bob@example.com"),
        ("ｂｏｂ@example.com", "ｂｏｂ@example.com"),  # a look-alike made before the rule: keeps its old key
        ("ＣＡＲＯＬ@example.com", "ｃａｒｏｌ@example.com"),  # alone: now keyed as carol@example.com
        ("p\u0430ypal@example.com", "p\u0430ypal@example.com"),  # refused by the new rule: left as it was
    ]
    conn = await asyncpg.connect(to_libpq_url(url))
    try:
        for n, (user_id, (email, key)) in enumerate(zip(ids, rows, strict=True)):
            await conn.execute("INSERT INTO users (id, email, email_normalized, password_hash, status, created_at) "
                               "VALUES ($1, $2, $3, 'x', 'active', now() + make_interval(secs => $4))",
                               user_id, email, key, float(n))
        await asyncio.to_thread(upgrade, MIGRATIONS, url)
        keys = {r["id"]: r["email_normalized"] for r in await conn.fetch("SELECT id, email_normalized FROM users")}
    finally:
        await conn.close()
    assert [keys[i] for i in ids] == ["bob@example.com", "ｂｏｂ@example.com", "carol@example.com",
                                      "p\u0430ypal@example.com"]
