"""Key rotation with the real command against a serving vault, unreadable seeds, and logs without seeds."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid

import pyotp

# Wrong codes over and over, each decrypting the seed: the attempt limit (tested in test_code_checks.py) would stop
# the decrypting after five.
NO_LIMITS = {"attempt_limit": "1000000", "lockout_failures": "1000000"}


async def rotate_keys(vault, *args: str, **settings: str) -> tuple[int, str]:
    """``python -m twofold_vault rotate-keys`` with the vault's environment and VAULT_* ``settings``."""
    env = {**os.environ, **vault.process.env, **{f"VAULT_{k.upper()}": v for k, v in settings.items()}}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "twofold_vault", "rotate-keys", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output, _ = await asyncio.wait_for(process.communicate(), 120)
    return process.returncode, output.decode()


async def key_ids(vault) -> dict[str, int]:
    rows = await vault.sql("SELECT key_id, count(*) AS n FROM seeds GROUP BY key_id")
    return {row["key_id"]: row["n"] for row in rows}


async def test_rotation_reseals_every_row_while_the_vault_serves(start_vault, ring_json, fresh_step) -> None:
    key_a, key_b = os.urandom(32), os.urandom(32)
    before = await start_vault("vault-a", encryption_keys=ring_json(a=key_a), active_key_id="a")
    seeds = [await before.enroll(digits=8, algorithm="SHA256") for _ in range(7)]
    async with before.client("registration") as http:
        pending = await http.post("/internal/seeds/generate", json={
            "subject": f"user-{uuid.uuid4()}", "account": "ann", "registrationId": str(uuid.uuid4())})
    assert pending.status_code == 201
    assert await key_ids(before) == {"a": 8}
    await before.process.stop()

    serving = await start_vault("vault-ab", encryption_keys=ring_json(a=key_a, b=key_b), active_key_id="b",
                                **NO_LIMITS)
    seeds.append(await serving.enroll())  # new seeds are sealed under the active key at once
    assert await key_ids(serving) == {"a": 8, "b": 1}

    async def keep_verifying(stop: asyncio.Event) -> list[int]:
        statuses = []
        async with serving.client("auth") as http:
            while not stop.is_set():
                for seed in seeds:  # wrong codes: every request still decrypts the seed
                    response = await http.post("/internal/verify", json={"subject": seed.subject, "code": "00000000"})
                    statuses.append(response.status_code)
        return statuses

    stop = asyncio.Event()
    load = asyncio.create_task(keep_verifying(stop))
    code, output = await rotate_keys(serving, "--batch-size", "3",
                                     encryption_keys=ring_json(a=key_a, b=key_b), active_key_id="b")
    stop.set()
    statuses = await load
    assert code == 0, output
    assert "rotated 8 seeds to key 'b'; 0 unreadable; 0 still under other keys" in output
    assert statuses and set(statuses) == {200}
    assert await key_ids(serving) == {"b": 9}

    code, output = await rotate_keys(serving, encryption_keys=ring_json(a=key_a, b=key_b), active_key_id="b")
    assert code == 0 and "rotated 0 seeds" in output  # resumable: a rerun has nothing left to do
    await serving.process.stop()

    after = await start_vault("vault-b", encryption_keys=ring_json(b=key_b), active_key_id="b", **NO_LIMITS)
    await fresh_step()
    async with after.client("auth") as http:
        for seed in seeds:  # key a is gone and every seed still verifies
            response = await http.post("/internal/verify", json={"subject": seed.subject,
                                                                  "code": seed.code(seed.step_now())})
            assert response.json() == {"valid": True, "outcome": "ok", "seedId": seed.seed_id}


async def test_a_seed_under_an_unknown_key_is_a_clear_503_and_rotation_reports_it(start_vault, ring_json) -> None:
    key = os.urandom(32)
    vault = await start_vault(encryption_keys=ring_json(current=key), active_key_id="current", **NO_LIMITS)
    lost, fine = await vault.enroll(), await vault.enroll()
    await vault.sql("UPDATE seeds SET key_id = 'retired' WHERE id = $1", uuid.UUID(lost.seed_id))

    async with vault.client("auth") as http:
        response = await http.post("/internal/verify", json={"subject": lost.subject,
                                                              "code": lost.code(lost.step_now())})
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"].endswith("/key-unavailable")
        ok = await http.post("/internal/verify", json={"subject": fine.subject, "code": fine.code(fine.step_now())})
        assert ok.json()["valid"] is True
    assert '"key_id": "retired"' in vault.process.logs() and '"error": "UnknownKey"' in vault.process.logs()

    code, output = await rotate_keys(vault, encryption_keys=ring_json(current=key, next=os.urandom(32)),
                                     active_key_id="next")
    assert code == 1
    assert "rotated 1 seeds to key 'next'; 1 unreadable; 1 still under other keys" in output


async def test_no_seed_reaches_a_log_line(start_vault, ring_json) -> None:
    """Store, a failed store, native enrollment, verification and rotation, all logging at DEBUG."""
    key_a, key_b = os.urandom(32), os.urandom(32)
    vault = await start_vault(encryption_keys=ring_json(a=key_a), active_key_id="a", log_level="DEBUG",
                              **NO_LIMITS)
    secrets = []
    for _ in range(3):
        seed = await vault.enroll()
        secrets.append(seed.secret)
        async with vault.client("auth") as http:
            await http.post("/internal/verify", json={"subject": seed.subject, "code": seed.code(seed.step_now())})
            await http.post("/internal/verify", json={"subject": seed.subject, "code": "000000"})
    refused = pyotp.random_base32(32)
    secrets.append(refused)
    async with vault.client("registration") as http:
        response = await http.post("/internal/seeds", json={
            "subject": "s", "seed": refused, "code": "000000", "provider": "legitate",
            "registrationId": str(uuid.uuid4())})
        assert response.status_code == 422
        response = await http.post("/internal/seeds", json={
            "subject": "s", "seed": refused, "code": "000000", "provider": "legitate", "registrationId": "bad"})
        assert response.status_code == 422
        generated = (await http.post("/internal/seeds/generate", json={
            "subject": "s", "account": "a", "registrationId": str(uuid.uuid4())})).json()
        native = pyotp.parse_uri(generated["otpauthUri"])
        secrets.append(native.secret)
        confirmed = await http.post(f"/internal/seeds/{generated['seedId']}/confirm", json={"code": native.now()})
        assert confirmed.status_code == 200
    code, output = await rotate_keys(vault, encryption_keys=ring_json(a=key_a, b=key_b), active_key_id="b",
                                     log_level="DEBUG")
    assert code == 0, output
    logs = vault.process.logs() + output
    assert '"level": "debug"' in logs and "rotated 4 seeds" in output
    for secret in secrets:
        for shape in (secret, secret.lower(), pyotp.TOTP(secret).byte_secret().hex()):
            assert shape not in logs
