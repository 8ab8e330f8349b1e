"""Seeds through the internal API of a real vault process, on a real database."""

from __future__ import annotations

import asyncio
import base64
import os
import time
import uuid
from urllib.parse import parse_qs, urlparse

import pyotp
import pytest


async def verify(vault, subject: str, code: str, seed_id: str | None = None) -> dict:
    async with vault.client("auth") as http:
        response = await http.post("/internal/verify", json={"subject": subject, "code": code, "seedId": seed_id})
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_code_is_accepted_once_and_never_after_a_later_one(vault, fresh_step) -> None:
    await fresh_step()
    seed = await vault.enroll()
    now = seed.step_now()

    # the enrollment code (previous step) was recorded as used: it cannot log anyone in
    assert await verify(vault, seed.subject, seed.code(now - 1)) == {"valid": False, "outcome": "replayed"}
    assert await verify(vault, seed.subject, seed.code(now)) == {"valid": True, "outcome": "ok",
                                                                 "seedId": seed.seed_id}
    assert await verify(vault, seed.subject, seed.code(now)) == {"valid": False, "outcome": "replayed"}
    assert await verify(vault, seed.subject, seed.code(now - 1)) == {"valid": False, "outcome": "replayed"}
    assert await verify(vault, seed.subject, seed.code(now + 3)) == {"valid": False, "outcome": "invalid"}
    assert await verify(vault, seed.subject, "12ab56") == {"valid": False, "outcome": "invalid"}
    assert await verify(vault, seed.subject, "1234567") == {"valid": False, "outcome": "invalid"}
    assert await verify(vault, f"nobody-{uuid.uuid4()}", seed.code(now)) == {"valid": False,
                                                                             "outcome": "no-authenticator"}
    row = (await vault.sql("SELECT last_used_step, last_used_at FROM seeds WHERE id = $1", uuid.UUID(seed.seed_id)))[0]
    assert row["last_used_step"] == now and row["last_used_at"] is not None


async def test_fifty_concurrent_verifications_of_one_code_yield_exactly_one_success(vault) -> None:
    seed = await vault.enroll()
    code = seed.code(seed.step_now())
    async with vault.client("auth") as http:
        responses = await asyncio.gather(*(
            http.post("/internal/verify", json={"subject": seed.subject, "code": code}) for _ in range(50)
        ))
    assert [r.status_code for r in responses] == [200] * 50
    outcomes = [r.json() for r in responses]
    assert sum(o["valid"] for o in outcomes) == 1
    assert all(o == {"valid": False, "outcome": "replayed"} for o in outcomes if not o["valid"])


async def test_any_active_seed_of_the_subject_is_accepted_and_a_seed_id_narrows_it(vault, fresh_step) -> None:
    await fresh_step()
    phone = await vault.enroll(label="phone")
    backup = await vault.enroll(phone.subject, digits=8, algorithm="SHA512", label="backup key")
    now = phone.step_now()
    assert await verify(vault, phone.subject, backup.code(now)) == {"valid": True, "outcome": "ok",
                                                                    "seedId": backup.seed_id}
    assert (await verify(vault, phone.subject, phone.code(now), seed_id=backup.seed_id))["valid"] is False
    assert await verify(vault, phone.subject, phone.code(now), seed_id=phone.seed_id) == {
        "valid": True, "outcome": "ok", "seedId": phone.seed_id}
    stranger = await vault.enroll()
    assert await verify(vault, phone.subject, stranger.code(now), seed_id=stranger.seed_id) == {
        "valid": False, "outcome": "no-authenticator"}


async def test_a_wrong_code_stores_nothing(vault) -> None:
    secret, registration = pyotp.random_base32(32), str(uuid.uuid4())
    wrong = str((int(pyotp.TOTP(secret).now()) + 1) % 1_000_000).zfill(6)
    async with vault.client("registration") as http:
        response = await http.post("/internal/seeds", json={
            "subject": f"user-{uuid.uuid4()}", "seed": secret, "code": wrong, "provider": "legitate",
            "registrationId": registration})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/code-mismatch")
    assert secret not in response.text
    assert await vault.sql("SELECT id FROM seeds WHERE registration_id = $1", uuid.UUID(registration)) == []


SHORT_SEED = base64.b32encode(os.urandom(15)).decode()  # 120 bits


@pytest.mark.parametrize(("seed", "why"), [("not base32 at all!", "base32"), (SHORT_SEED, "bytes")])
async def test_an_unusable_seed_is_refused(vault, seed: str, why: str) -> None:
    async with vault.client("registration") as http:
        response = await http.post("/internal/seeds", json={
            "subject": "someone", "seed": seed, "code": "123456", "provider": "legitate",
            "registrationId": str(uuid.uuid4())})
    assert response.status_code == 422 and response.json()["type"].endswith("/invalid-seed")
    assert why in response.json()["detail"] and seed not in response.text


async def test_storing_is_idempotent_per_registration(vault) -> None:
    secret, registration, subject = pyotp.random_base32(32), str(uuid.uuid4()), f"user-{uuid.uuid4()}"
    totp = pyotp.TOTP(secret, digits=8)
    body = {"subject": subject, "seed": secret, "code": totp.now(), "provider": "legitate",
            "registrationId": registration, "externalSeedId": "legitate-42", "label": "Simple TOTP"}
    async with vault.client("registration") as http:
        responses = await asyncio.gather(*(http.post("/internal/seeds", json=body) for _ in range(5)))
        assert sorted(r.status_code for r in responses) == [200, 200, 200, 200, 201]
        assert len({r.json()["seedId"] for r in responses}) == 1
        stored = responses[0].json()
        assert {k: stored[k] for k in ("subject", "status", "digits", "algorithm", "period", "label",
                                       "externalSeedId")} == {
            "subject": subject, "status": "active", "digits": 8, "algorithm": "SHA1", "period": 30,
            "label": "Simple TOTP", "externalSeedId": "legitate-42"}
        # another subject is not a retry
        other = await http.post("/internal/seeds", json={**body, "subject": "someone-else"})
        assert other.status_code == 409 and other.json()["type"].endswith("/registration-conflict")
        # another seed is the provider's next try after an answer got lost (registration calls only while its
        # registration is pending): it supersedes the one kept before
        newer = pyotp.random_base32(32)
        superseding = await http.post("/internal/seeds", json={
            **body, "seed": newer, "code": pyotp.TOTP(newer, digits=8).now()})
        assert superseding.status_code == 201, superseding.text
        assert superseding.json()["seedId"] != stored["seedId"]
    rows = await vault.sql("SELECT id FROM seeds WHERE registration_id = $1", uuid.UUID(registration))
    assert [str(r["id"]) for r in rows] == [superseding.json()["seedId"]]
    events = await vault.sql("SELECT event_type FROM outbox_events WHERE key = $1 ORDER BY id", subject)
    assert [e["event_type"] for e in events] == ["seed.stored.v1", "seed.revoked.v1", "seed.stored.v1"]


async def test_native_enrollment_generates_a_pending_seed_confirmed_by_a_first_code(vault, fresh_step) -> None:
    await fresh_step()
    step = int(time.time() // 30)
    subject, registration = f"client-7:{uuid.uuid4()}", str(uuid.uuid4())
    body = {"subject": subject, "account": "ann@example.org", "registrationId": registration,
            "digits": 8, "algorithm": "SHA256", "period": 30, "label": "my phone"}
    async with vault.client("registration") as http:
        generated = await http.post("/internal/seeds/generate", json=body)
        assert generated.status_code == 201, generated.text
        enrollment = generated.json()
        assert enrollment["status"] == "pending" and enrollment["qrSvg"].startswith("<svg")
        uri = urlparse(enrollment["otpauthUri"])
        query = {k: v[0] for k, v in parse_qs(uri.query).items()}
        assert (uri.scheme, uri.netloc, uri.path) == ("otpauth", "totp", "/twofold:ann%40example.org")
        assert query.keys() == {"secret", "issuer", "algorithm", "digits", "period"}
        assert [query[k] for k in ("issuer", "algorithm", "digits", "period")] == ["twofold", "SHA256", "8", "30"]
        app = pyotp.parse_uri(enrollment["otpauthUri"])  # what the person's authenticator app sees

        retried = await http.post("/internal/seeds/generate", json=body)
        assert retried.status_code == 200 and retried.json()["otpauthUri"] == enrollment["otpauthUri"]

        code = app.generate_otp(step)
        assert await verify(vault, subject, code) == {"valid": False, "outcome": "no-authenticator"}

        seed_id = enrollment["seedId"]
        wrong_code = str((int(code) + 1) % 10**8).zfill(8)
        wrong = await http.post(f"/internal/seeds/{seed_id}/confirm", json={"code": wrong_code})
        assert wrong.status_code == 422 and wrong.json()["type"].endswith("/code-mismatch")
        confirmed = await http.post(f"/internal/seeds/{seed_id}/confirm", json={"code": code})
        assert confirmed.status_code == 200, confirmed.text
        assert confirmed.json()["status"] == "active" and confirmed.json()["provider"] == "native"
        assert (await http.post("/internal/seeds/generate", json=body)).status_code == 409

    assert await verify(vault, subject, code) == {"valid": False, "outcome": "replayed"}
    assert await verify(vault, subject, app.generate_otp(step + 1)) == {"valid": True, "outcome": "ok",
                                                                        "seedId": seed_id}
    events = await vault.sql("SELECT payload FROM outbox_events WHERE key = $1", subject)
    assert len(events) == 1 and '"provider":"native"' in events[0]["payload"]


async def test_authenticators_are_listed_renamed_and_revoked_but_never_the_last(vault) -> None:
    phone = await vault.enroll(label="phone")
    backup = await vault.enroll(phone.subject, label="backup")
    async with vault.client("auth") as http:
        listed = (await http.get(f"/internal/subjects/{phone.subject}/authenticators")).json()
        assert [(a["seedId"], a["label"], a["status"], a["provider"]) for a in listed] == [
            (phone.seed_id, "phone", "active", "legitate"), (backup.seed_id, "backup", "active", "legitate")]
        assert all("seed" not in a and "ciphertext" not in a for a in listed)

        renamed = await http.patch(f"/internal/seeds/{backup.seed_id}", json={"label": "  yubikey  "})
        assert renamed.status_code == 200 and renamed.json()["label"] == "yubikey"

        assert (await http.delete(f"/internal/seeds/{phone.seed_id}")).status_code == 204
        assert (await http.delete(f"/internal/seeds/{phone.seed_id}")).status_code == 204  # already revoked
        last = await http.delete(f"/internal/seeds/{backup.seed_id}")
        assert last.status_code == 409 and last.json()["type"].endswith("/last-authenticator")
        assert (await http.delete(f"/internal/seeds/{uuid.uuid4()}")).status_code == 404
        assert (await http.patch(f"/internal/seeds/{uuid.uuid4()}", json={"label": "x"})).status_code == 404

        listed = (await http.get(f"/internal/subjects/{phone.subject}/authenticators")).json()
        assert [(a["label"], a["status"]) for a in listed] == [("phone", "revoked"), ("yubikey", "active")]

    assert (await verify(vault, phone.subject, phone.code(phone.step_now())))["valid"] is False
    row = (await vault.sql("SELECT key_id, nonce, ciphertext, revoke_reason FROM seeds WHERE id = $1",
                           uuid.UUID(phone.seed_id)))[0]
    assert dict(row) == {"key_id": None, "nonce": None, "ciphertext": None, "revoke_reason": "revoked"}
    events = await vault.sql("SELECT event_type FROM outbox_events WHERE key = $1 ORDER BY id", phone.subject)
    assert [e["event_type"] for e in events] == ["seed.stored.v1", "seed.stored.v1", "seed.revoked.v1"]


async def test_concurrent_revocations_leave_one_active_authenticator(vault) -> None:
    first = await vault.enroll()
    second = await vault.enroll(first.subject)
    async with vault.client("auth") as http:
        responses = await asyncio.gather(*(http.delete(f"/internal/seeds/{s.seed_id}") for s in (first, second)))
    assert sorted(r.status_code for r in responses) == [204, 409]
    active = await vault.sql("SELECT id FROM seeds WHERE subject = $1 AND status = 'active'", first.subject)
    assert len(active) == 1


async def test_a_ciphertext_copied_onto_another_row_does_not_decrypt(vault) -> None:
    victim = await vault.enroll()
    attacker = await vault.enroll()
    await vault.sql(
        "UPDATE seeds SET key_id = v.key_id, nonce = v.nonce, ciphertext = v.ciphertext "
        "FROM seeds v WHERE v.id = $1 AND seeds.id = $2", uuid.UUID(victim.seed_id), uuid.UUID(attacker.seed_id))
    async with vault.client("auth") as http:
        response = await http.post(
            "/internal/verify", json={"subject": attacker.subject, "code": victim.code(victim.step_now())})
    assert response.status_code == 503
    assert response.json()["type"].endswith("/key-unavailable")
    assert f'"seed_id": "{attacker.seed_id}"' in vault.process.logs()
