"""A person's whole life cycle through the gateway's address alone, and revocation on every replica."""

from __future__ import annotations

import httpx

from twofold_common.testing.http import bearer
from twofold_common.testing.inprocess import InProcessService
from twofold_common.testing.processes import free_port
from twofold_common.testing.waiting import eventually


async def test_register_enroll_sign_in_refresh_and_log_out_through_the_gateway(world) -> None:
    person = await world.enroll(await world.register())

    # the caller's address is the gateway's peer, not what the caller claims
    tokens = await world.sign_in(person, **{"X-Forwarded-For": "203.0.113.9"})
    refreshed = await world.http.post("/api/auth/token/refresh", json={"refreshToken": tokens["refreshToken"]})
    assert refreshed.status_code == 200, refreshed.text
    access = refreshed.json()["accessToken"]
    listed = await world.http.get("/api/auth/sessions", headers=bearer(access))
    assert listed.status_code == 200, listed.text
    [session] = listed.json()["sessions"]
    assert session["id"] == tokens["sessionId"] and session["current"] and session["ip"] == "127.0.0.1"
    status = await world.http.get("/api/auth/2fa/status", headers=bearer(access))
    assert status.status_code == 200 and status.json()["enabled"] is True

    assert (await world.http.post("/api/auth/logout", headers=bearer(access))).status_code == 204

    # auth announces the revocation; the gateway refuses the token itself within seconds
    async def refused_by_the_gateway() -> bool:
        answer = await world.http.get("/api/auth/sessions", headers=bearer(access))
        return answer.status_code == 401 and answer.json()["type"].endswith("/session-revoked")

    await eventually(refused_by_the_gateway, timeout=10)
    await world.settled("auth")
    seen = world.requests_seen_by("auth", "/api/auth/sessions")
    for method, path in [("GET", "/api/auth/sessions"), ("POST", "/api/auth/verify-2fa"),
                         ("DELETE", f"/api/auth/sessions/{tokens['sessionId']}")]:
        answer = await world.http.request(method, path, headers=bearer(access), json={"code": "123456"})
        assert answer.status_code == 401 and answer.headers["content-type"] == "application/problem+json"
    await world.settled("auth")
    assert world.requests_seen_by("auth", "/api/auth/sessions") == seen

    # a replica started after the revocation knows it too (it reads back one token lifetime)
    first = world.stack["gateway"]
    port = free_port()
    env = {**first.env, "GATEWAY_PORT": str(port), "GATEWAY_METRICS_PORT": str(free_port())}
    second = await InProcessService("gateway-2", first.module, env, port).start()
    try:
        async with httpx.AsyncClient(base_url=second.url, timeout=30) as other:
            async def refused_by_the_new_replica() -> bool:
                answer = await other.get("/api/auth/sessions", headers=bearer(access))
                return answer.status_code == 401 and answer.json()["type"].endswith("/session-revoked")

            await eventually(refused_by_the_new_replica, timeout=15)
    finally:
        await second.stop()

    # the provider's callback carried the seed in its query: no log line of any process holds it
    assert person.enrollment is not None
    for process in world.stack.processes.values():
        assert person.enrollment.seed not in process.logs(), process.name
    assert "seed=" not in first.logs()
