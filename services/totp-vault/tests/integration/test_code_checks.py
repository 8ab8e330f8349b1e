"""Code checks with the default attempt limit (5 per 15 minutes) and lockout (10 failures an hour), on a real vault,
database and broker: the limits hold under parallel requests, a locked subject refuses even a right code, a
recovery code or an operator unlocks it, and an app's checks (the public route the gateway forwards) meet the
same rules."""

from __future__ import annotations

import asyncio
import contextvars
import uuid
from collections import Counter

import asyncpg
import httpx
from sqlalchemy import event

from twofold_common.db import to_libpq_url
from twofold_common.internal_auth import CLIENT_ID_HEADER
from twofold_common.testing.waiting import eventually
from twofold_vault.checks.repository import lock_statement


async def check(http: httpx.AsyncClient, subject: str, **factor: str) -> dict:
    response = await http.post("/internal/verify", json={"subject": subject, **factor})
    assert response.status_code == 200, response.text
    return response.json()


async def outcomes(vault, subject: str) -> Counter[str]:
    rows = await vault.sql("SELECT outcome FROM code_attempts WHERE subject = $1 AND method = 'totp'", subject)
    return Counter(row["outcome"] for row in rows)


async def age_attempts(vault, subject: str) -> None:
    """What the next quarter of an hour does to the attempt limit (not to the lockout's hour)."""
    await vault.sql("UPDATE code_attempts SET attempted_at = attempted_at - interval '16 minutes' "
                    "WHERE subject = $1", subject)


def wrong_code(seed) -> str:
    now = seed.step_now()
    near = {seed.code(step) for step in range(now - 2, now + 3)}
    return next(code for code in (f"{n:06d}" for n in range(1_000_000)) if code not in near)


async def test_fifty_parallel_wrong_codes_get_at_most_five_evaluations(start_vault) -> None:
    vault = await start_vault()
    seed = await vault.enroll()
    async with vault.client("auth") as http:
        answers = await asyncio.gather(*(check(http, seed.subject, code=wrong_code(seed)) for _ in range(50)))
    assert Counter(a["outcome"] for a in answers) == {"invalid": 5, "limited": 45}
    assert all(0 < a["retryAfter"] <= 900 for a in answers if a["outcome"] == "limited")
    assert await outcomes(vault, seed.subject) == {"failure": 5, "limited": 45}

    # the right code waits for the window too: the limit is the subject's, whatever the code
    async with vault.client("auth") as http:
        assert (await check(http, seed.subject, code=seed.code(seed.step_now())))["outcome"] == "limited"


async def test_fifty_parallel_uses_of_one_valid_code_accept_exactly_one(start_vault) -> None:
    vault = await start_vault()
    seed = await vault.enroll()
    code = seed.code(seed.step_now())
    async with vault.client("auth") as http:
        answers = await asyncio.gather(*(check(http, seed.subject, code=code) for _ in range(50)))
    assert Counter(a["outcome"] for a in answers) == {"ok": 1, "replayed": 5, "limited": 44}


async def test_a_totp_check_is_four_round_trips(start_vault) -> None:
    """BEGIN with the lock, one read, one write, COMMIT, as the vault's connections send them: a regression to more
    round trips shows here."""
    vault = await start_vault()
    seed = await vault.enroll()
    runtime = vault.process.runtime
    engine = runtime.database.engine.sync_engine
    this_check: contextvars.ContextVar[bool] = contextvars.ContextVar("this_check", default=False)
    sent: list[str] = []
    watched: list = []

    def logged(query) -> None:  # asyncpg calls it soon after, in the context of the task that sent the query
        if this_check.get():  # not the relay's, the consumer's or a job's
            sent.append(query.query)

    def checked_out(dbapi_connection, record, proxy) -> None:
        dbapi_connection.driver_connection.add_query_logger(logged)
        watched.append(dbapi_connection.driver_connection)

    event.listen(engine, "checkout", checked_out)
    try:
        for code, outcome in ((seed.code(seed.step_now()), "ok"), (wrong_code(seed), "invalid")):
            sent.clear()
            token = this_check.set(True)
            try:
                assert (await runtime.state["CodeChecks"].check(seed.subject, code=code)).outcome == outcome
            finally:
                this_check.reset(token)

            async def committed() -> bool:
                return bool(sent) and sent[-1].rstrip(";") == "COMMIT"

            await eventually(committed, timeout=5, interval=0.01)
            assert [query.split(None, 1)[0] for query in sent] == ["BEGIN;", "SELECT", "WITH", "COMMIT"]
            assert "pg_advisory_xact_lock" in sent[0]
    finally:
        event.remove(engine, "checkout", checked_out)
        for connection in watched:
            connection.remove_query_logger(logged)


async def test_a_check_holds_the_lock_key_of_the_releases_before(start_vault) -> None:
    """The lock now goes with BEGIN in a simple query, yet it is the key earlier releases took through a parameter
    (``hashtextextended`` of ``vault-check:<subject>``): replicas of two releases side by side exclude each other,
    and 50 parallel guesses still get at most 5 evaluations during a rolling update."""
    vault = await start_vault()
    subject = "client-ä:o'brien; DROP TABLE seeds --"  # quotes, a semicolon, non-ASCII: all inert as hex
    async with vault.process.runtime.database.driver_transaction(lock_statement(subject)):
        other = await asyncpg.connect(to_libpq_url(vault.database_url))
        try:
            assert await other.fetchval("SELECT pg_try_advisory_lock(hashtextextended($1, 0))",
                                        "vault-check:" + subject) is False
        finally:
            await other.close()


async def test_ten_failures_in_an_hour_lock_until_a_recovery_code(start_vault) -> None:
    vault = await start_vault()
    seed = await vault.enroll()
    async with vault.client("auth") as http:
        recovery = (await http.post(f"/internal/subjects/{seed.subject}/recovery-codes")).json()["codes"]
        answers = []
        for _ in range(2):
            answers += [await check(http, seed.subject, code=wrong_code(seed)) for _ in range(5)]
            await age_attempts(vault, seed.subject)
        assert answers[:9] == [{"valid": False, "outcome": "invalid"}] * 9
        assert answers[9] == {"valid": False, "outcome": "invalid", "locked": True, "lockedNow": True}

        # locked: the right code is not even evaluated, and counts as a failure
        right = seed.code(seed.step_now())
        assert await check(http, seed.subject, code=right) == {"valid": False, "outcome": "locked", "locked": True}
        wrong_recovery = await check(http, seed.subject, recoveryCode="aaaaa-aaaaa")
        assert wrong_recovery == {"valid": False, "outcome": "invalid", "locked": True, "recoveryCodesLeft": 10}
        unlocked = await check(http, seed.subject, recoveryCode=recovery[0])
        assert unlocked == {"valid": True, "outcome": "ok", "unlocked": True, "recoveryCodesLeft": 9}

        # the failures that locked it stopped counting; the right code works at once
        assert await outcomes(vault, seed.subject) == Counter()
        assert (await check(http, seed.subject, code=right))["outcome"] == "ok"


async def test_an_operator_unlock_clears_the_lock_and_the_failures(start_vault) -> None:
    vault = await start_vault()
    seed = await vault.enroll()
    async with vault.client("auth") as http:
        for _ in range(2):
            for _ in range(5):
                await check(http, seed.subject, code=wrong_code(seed))
            await age_attempts(vault, seed.subject)
        assert (await http.post(f"/internal/subjects/{seed.subject}/unlock")).json() == {"unlocked": True}
        assert (await http.post(f"/internal/subjects/{seed.subject}/unlock")).json() == {"unlocked": False}
        assert await outcomes(vault, seed.subject) == Counter()
        assert await check(http, seed.subject, code=seed.code(seed.step_now())) == {
            "valid": True, "outcome": "ok", "seedId": seed.seed_id}
    async with vault.client("registration") as http:
        assert (await http.post(f"/internal/subjects/{seed.subject}/unlock")).status_code == 403


async def test_an_app_checks_its_accounts_codes_under_the_same_rules(start_vault) -> None:
    vault = await start_vault()
    client_id = f"cl_{uuid.uuid4().hex[:16]}"
    seed = await vault.enroll(f"{client_id}:acct-1")
    app = {CLIENT_ID_HEADER: client_id}
    async with vault.client("gateway") as gateway:
        code = seed.code(seed.step_now())
        first = await gateway.post("/api/v1/verify", headers=app, json={"account": "acct-1", "code": code})
        assert first.status_code == 200 and first.json() == {"valid": True}
        again = await gateway.post("/api/v1/verify", headers=app, json={"account": "acct-1", "code": code})
        assert again.json() == {"valid": False}
        # another app's key never reaches this app's accounts
        other = await gateway.post("/api/v1/verify", headers={CLIENT_ID_HEADER: "cl_other"},
                                   json={"account": "acct-1", "code": seed.code(seed.step_now() + 1)})
        assert other.json() == {"valid": False}
        answers = [await gateway.post("/api/v1/verify", headers=app, json={"account": "acct-1", "code": "000000"})
                   for _ in range(5)]
        assert [a.status_code for a in answers] == [200] * 4 + [429]
        assert answers[-1].headers["content-type"] == "application/problem+json"
        assert int(answers[-1].headers["retry-after"]) > 0
        # ten failures in the hour lock the app's account too
        await age_attempts(vault, seed.subject)
        for _ in range(5):
            await gateway.post("/api/v1/verify", headers=app, json={"account": "acct-1", "code": "000000"})
        assert await vault.sql("SELECT 1 FROM subject_locks WHERE subject = $1", seed.subject)
        await age_attempts(vault, seed.subject)
        locked = await gateway.post("/api/v1/verify", headers=app,
                                    json={"account": "acct-1", "code": seed.code(seed.step_now() + 1)})
        assert locked.status_code == 200 and locked.json() == {"valid": False}

    # an app's user has no recovery code: the app enrolls them anew, and the completed enrollment unlocks
    renewed = await vault.enroll(seed.subject)
    async with vault.client("gateway") as gateway:
        unlocked = await gateway.post("/api/v1/verify", headers=app,
                                      json={"account": "acct-1", "code": renewed.code(renewed.step_now())})
        assert unlocked.json() == {"valid": True}

    # the app is named by the gateway alone: the header from anyone else, or no app at all, is refused
    async with vault.client("auth") as auth:
        spoofed = await auth.post("/api/v1/verify", headers=app, json={"account": "acct-1", "code": "000000"})
        assert spoofed.status_code == 401
    async with httpx.AsyncClient(base_url=vault.process.url) as anyone:
        assert (await anyone.post("/api/v1/verify", headers=app,
                                  json={"account": "acct-1", "code": "000000"})).status_code == 401
        assert (await anyone.post("/api/v1/verify", json={"account": "acct-1", "code": "000000"})).status_code == 401


async def test_the_cleanup_keeps_a_check_for_the_retention_and_no_longer(start_vault) -> None:
    vault = await start_vault(attempt_retention_seconds="7200", cleanup_interval_seconds="0.2")
    subject = f"user-{uuid.uuid4()}"
    for age in ("1 hour", "3 hours"):
        await vault.sql("INSERT INTO code_attempts (subject, method, outcome, reason, attempted_at) "
                        f"VALUES ($1, 'totp', 'failure', 'invalid', now() - interval '{age}')", subject)

    async def only_the_recent_one_left() -> bool:
        rows = await vault.sql("SELECT attempted_at > now() - interval '2 hours' AS recent FROM code_attempts "
                               "WHERE subject = $1", subject)
        return [row["recent"] for row in rows] == [True]

    await eventually(only_the_recent_one_left, timeout=20)
