"""Recovery codes, forgetting a subject, and the events in and out, on a real vault, database and broker."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from twofold_common.events import AUTH_TOPIC, VAULT_TOPIC, CloudEvent, TwoFactorReset, UserDeleted
from twofold_common.testing.topics import events_in
from twofold_common.testing.waiting import eventually


async def recovery_codes(vault, subject: str) -> list[str]:
    async with vault.client("auth") as http:
        response = await http.post(f"/internal/subjects/{subject}/recovery-codes")
    assert response.status_code == 201, response.text
    return response.json()["codes"]


async def consume(vault, subject: str, code: str) -> dict:
    """A recovery code's check as auth asks for it: whether it was valid (then it is used up), and how many are left."""
    async with vault.client("auth") as http:
        response = await http.post("/internal/verify", json={"subject": subject, "recoveryCode": code})
    assert response.status_code == 200, response.text
    return {"valid": response.json()["valid"], "remaining": response.json()["recoveryCodesLeft"]}


async def test_ten_codes_each_usable_once_and_a_new_set_replaces_the_old(vault) -> None:
    subject = f"user-{uuid.uuid4()}"
    codes = await recovery_codes(vault, subject)
    assert len(set(codes)) == 10 and all(re.fullmatch(r"[a-z2-7]{5}-[a-z2-7]{5}", c) for c in codes)

    assert await consume(vault, subject, codes[0]) == {"valid": True, "remaining": 9}
    assert await consume(vault, subject, codes[0]) == {"valid": False, "remaining": 9}
    assert await consume(vault, subject, codes[1].upper().replace("-", " ")) == {"valid": True, "remaining": 8}
    assert await consume(vault, f"user-{uuid.uuid4()}", codes[2]) == {"valid": False, "remaining": 0}
    assert await consume(vault, subject, "not a code") == {"valid": False, "remaining": 8}

    async with vault.client("auth") as http:
        responses = await asyncio.gather(*(
            http.post("/internal/verify", json={"subject": subject, "recoveryCode": codes[3]})
            for _ in range(20)
        ))
    assert sum(r.json()["valid"] for r in responses) == 1

    stored = await vault.sql("SELECT * FROM recovery_codes WHERE subject = $1", subject)
    assert len(stored) == 10 and not any(c.replace("-", "") in repr(dict(row)) for row in stored for c in codes)

    fresh = await recovery_codes(vault, subject)
    assert await consume(vault, subject, codes[4]) == {"valid": False, "remaining": 10}
    assert await consume(vault, subject, fresh[0]) == {"valid": True, "remaining": 9}
    used = await vault.sql("SELECT payload FROM outbox_events WHERE event_type = 'recovery_code.used.v1' "
                           "AND key = $1 ORDER BY id", subject)
    assert [json.loads(e["payload"])["data"]["remaining"] for e in used] == [9, 8, 7, 9]


async def test_deleting_a_subject_shreds_its_seeds_and_codes(vault) -> None:
    seed = await vault.enroll()
    await vault.enroll(seed.subject)
    await recovery_codes(vault, seed.subject)
    survivor = await vault.enroll()
    async with vault.client("auth") as http:
        assert (await http.delete(f"/internal/subjects/{seed.subject}")).status_code == 204
        assert (await http.delete(f"/internal/subjects/{seed.subject}")).status_code == 204  # nothing left: fine
        verified = await http.post("/internal/verify", json={"subject": seed.subject,
                                                              "code": seed.code(seed.step_now())})
    assert verified.json() == {"valid": False, "outcome": "no-authenticator"}
    assert await vault.sql("SELECT id FROM seeds WHERE subject = $1", seed.subject) == []
    assert await vault.sql("SELECT id FROM recovery_codes WHERE subject = $1", seed.subject) == []
    assert len(await vault.sql("SELECT id FROM seeds WHERE subject = $1", survivor.subject)) == 1


async def publish_to_auth_topic(bootstrap: str, *events) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for event in events:  # an event, or an envelope made earlier
            envelope = event if isinstance(event, CloudEvent) else event.envelope("/auth")
            await producer.send_and_wait(AUTH_TOPIC, value=envelope.model_dump_json().encode(),
                                         key=envelope.subject.encode())
    finally:
        await producer.stop()


async def test_a_user_deleted_event_shreds_the_user(vault, infra) -> None:
    user_id = uuid.uuid4()
    await vault.enroll(str(user_id))
    await recovery_codes(vault, str(user_id))
    deleted = UserDeleted(user_id=user_id)
    # published twice, as a redelivery would: the second has no effect
    await publish_to_auth_topic(infra.kafka_bootstrap, deleted, deleted)

    async def shredded() -> bool:
        seeds = await vault.sql("SELECT id FROM seeds WHERE subject = $1", str(user_id))
        codes = await vault.sql("SELECT id FROM recovery_codes WHERE subject = $1", str(user_id))
        return not seeds and not codes

    await eventually(shredded, timeout=60)
    handled = await vault.sql("SELECT outcome FROM processed_events WHERE event_type = 'user.deleted.v1'")
    assert "handled" in [row["outcome"] for row in handled]


async def test_a_two_factor_reset_event_revokes_every_seed_and_recovery_code_of_the_user(vault, infra) -> None:
    user_id = uuid.uuid4()
    first = await vault.enroll(str(user_id))
    second = await vault.enroll(str(user_id))
    await recovery_codes(vault, str(user_id))
    reset = TwoFactorReset(user_id=user_id).envelope("/auth")
    # enrolled after the reset was made, before the vault hears of it: the person enrolling anew
    late = await vault.enroll(str(user_id))
    await publish_to_auth_topic(infra.kafka_bootstrap, reset)

    async def revoked() -> list:
        rows = await vault.sql("SELECT id, status, revoke_reason, ciphertext FROM seeds WHERE subject = $1 "
                               "AND id <> $2::uuid", str(user_id), late.seed_id)
        return rows if all(row["status"] == "revoked" for row in rows) else []

    rows = await eventually(revoked, timeout=60)
    assert {str(r["id"]) for r in rows} == {first.seed_id, second.seed_id}
    assert [(r["revoke_reason"], r["ciphertext"]) for r in rows] == [("reset", None), ("reset", None)]
    assert await vault.sql("SELECT id FROM recovery_codes WHERE subject = $1", str(user_id)) == []
    [kept] = await vault.sql("SELECT status FROM seeds WHERE id = $1::uuid", late.seed_id)
    assert kept["status"] == "active"
    events = await vault.sql("SELECT event_type FROM outbox_events WHERE key = $1 ORDER BY id", str(user_id))
    assert [e["event_type"] for e in events] == ["seed.stored.v1"] * 3 + ["seed.revoked.v1"] * 2
    async with vault.client("auth") as http:
        verified = await http.post("/internal/verify", json={"subject": str(user_id),
                                                              "code": first.code(first.step_now())})
    assert verified.json()["valid"] is False  # the revoked seed's code: only the late one is left


async def test_the_vaults_events_reach_the_broker(vault, infra) -> None:
    seed = await vault.enroll()
    consumer = AIOKafkaConsumer(VAULT_TOPIC, bootstrap_servers=infra.kafka_bootstrap, group_id=None,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        deadline = time.monotonic() + 60
        found = None
        while found is None and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                for record, envelope in events_in(records):  # passes over what is not a JSON event
                    if envelope["data"].get("seed_id") == seed.seed_id:
                        found = (record, envelope)
    finally:
        await consumer.stop()
    assert found is not None, "seed.stored.v1 never reached the broker"
    record, envelope = found
    assert envelope["type"] == "seed.stored.v1" and envelope["source"] == "/vault"
    assert record.key == seed.subject.encode()
    assert seed.secret not in record.value.decode()
