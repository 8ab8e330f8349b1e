"""Provider callbacks that race each other, and a registration that dies between the vault's commit and its own."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from twofold_common.db import to_libpq_url
from twofold_common.testing.waiting import eventually


async def test_parallel_callbacks_with_different_seeds_one_wins_the_others_conflict(system) -> None:
    person = await system.register()
    deep_link = (await system.setup(person)).json()["deepLink"]
    callbacks = [system.provider.accept(deep_link) for _ in range(5)]
    answers = await asyncio.gather(*(system.browse(url) for url, _ in callbacks))
    assert sorted(a.status_code for a in answers) == [200, 409, 409, 409, 409], [a.text for a in answers]
    assert all(a.headers["content-type"] == "application/problem+json" for a in answers if a.status_code == 409)
    winner = next(enrollment for (_, enrollment), a in zip(callbacks, answers, strict=True) if a.status_code == 200)
    seeds = await system.sql("vault", "SELECT external_seed_id FROM seeds WHERE subject = $1 AND status = 'active'",
                             person.user_id)
    assert [s["external_seed_id"] for s in seeds] == [winner.seed_id]


@pytest.mark.processes  # kills registration
async def test_a_registration_killed_between_the_vaults_commit_and_its_own_completes_on_the_next_callback(
        system) -> None:
    person = await system.register()
    deep_link = (await system.setup(person)).json()["deepLink"]
    lost_callback, lost = system.provider.accept(deep_link)

    # Hold registration's outbox: its completion (status change + event, one transaction) stops at the
    # event's insert, after the vault committed the seed. Then registration dies for real.
    registration_db = await asyncpg.connect(to_libpq_url(system.stack["registration"].env["REGISTRATION_DATABASE_URL"]))
    try:
        holder = registration_db.transaction()
        await holder.start()
        await registration_db.execute("LOCK TABLE outbox_events IN EXCLUSIVE MODE")
        request = asyncio.ensure_future(system.browse(lost_callback))

        async def vault_committed() -> bool:
            rows = await system.sql("vault", "SELECT 1 FROM seeds WHERE external_seed_id = $1", lost.seed_id)
            return bool(rows)

        await eventually(vault_committed)
        system.stack["registration"].kill()
        # the person saw an error: the gateway found registration gone (its GET was tried again on a fresh
        # connection, and nothing listens); nothing completed
        answer = await request
        assert answer.status_code == 503 and answer.json()["type"].endswith("/service-unavailable"), answer.text
        await holder.rollback()
    finally:
        await registration_db.close()

    pending = await system.sql("registration", "SELECT status FROM registrations WHERE user_id = $1::uuid",
                               person.user_id)
    assert [r["status"] for r in pending] == ["pending"]
    system.stack["registration"].start()
    system.stack["registration"].wait_healthy(path="/readyz")

    # the provider tries again with a new seed: it supersedes the orphan, and the account becomes usable
    retry_callback, person.enrollment = system.provider.accept(deep_link)
    answer = await system.browse(retry_callback)
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["recoveryCodes"]) == 10
    seeds = await system.sql("vault", "SELECT external_seed_id, status FROM seeds WHERE subject = $1", person.user_id)
    assert [(s["external_seed_id"], s["status"]) for s in seeds] == [(person.enrollment.seed_id, "active")]
    await eventually(lambda: system.login_is(person, "2fa_required"))
    await system.sign_in(person)

