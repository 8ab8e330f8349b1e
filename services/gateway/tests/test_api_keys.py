"""API keys checked in the gateway from auth's client events (``client.changed.v1``): no request to auth per
call, a disabled client refused by every replica within seconds (the gateway used to trust a key auth accepted for
30 s), a rotated secret's overlap, and a client from before verifiers getting one at its first check."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from twofold_common.api_keys import key_verifier
from twofold_common.events import AUTH_CLIENTS_TOPIC
from twofold_common.testing.http import client_of
from twofold_common.testing.inprocess import InProcessService
from twofold_common.testing.processes import free_port
from twofold_common.testing.stack import service_sql
from twofold_common.testing.topics import events_in, records_until_now
from twofold_common.testing.waiting import eventually
from twofold_gateway.api_keys import ApiKeys

AUTHENTICATE = "/internal/clients/authenticate"
# an app's call that registration answers 404 once the gateway let the key through, and the gateway 401 if not
STATUS_OF_NOTHING = "/api/v1/registrations/reg_nothing-here"
HEARD_WITHIN = 5.0  # seconds: far under the 30 s the gateway trusted an accepted key before


def api_keys_of(gateway: InProcessService) -> ApiKeys:
    return gateway.runtime.state["gateway"].callers.api_keys


async def answer(http: httpx.AsyncClient, client_id: str, secret: str) -> int:
    """404: the key was accepted (and registration knows no such registration); 401: refused."""
    answered = await http.get(STATUS_OF_NOTHING, auth=(client_id, secret))
    assert answered.status_code in (401, 404), answered.text
    if answered.status_code == 401:
        assert answered.json()["type"].endswith("/invalid-client")
    return answered.status_code


def operator(world, *args: str) -> dict:
    done = world.stack["auth"].command(*args, "--operator", "test")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@asynccontextmanager
async def second_replica(world) -> AsyncIterator[tuple[InProcessService, httpx.AsyncClient]]:
    """Another gateway beside the world's, with its settings: it hears the clients' topic from its beginning."""
    first = world.stack["gateway"]
    port = free_port()
    env = {**first.env, "GATEWAY_PORT": str(port), "GATEWAY_METRICS_PORT": str(free_port())}
    replica = await InProcessService("gateway", first.module, env, port).start()
    try:
        async with client_of(replica) as http:
            yield replica, http
    finally:
        await replica.stop()


async def test_every_replica_checks_keys_without_auth_and_refuses_a_disabled_client_within_seconds(world) -> None:
    app = world.create_client()
    client_id, secret = app["clientId"], app["clientSecret"]
    assert await answer(world.http, client_id, secret) == 404  # at once: auth answers while the event is on its way

    async with second_replica(world) as (replica, replica_http):
        gateways, callers = [world.stack["gateway"], replica], [world.http, replica_http]

        async def every_replica_knows(enabled: bool) -> bool:
            known = [api_keys_of(gateway).known(client_id) for gateway in gateways]
            return all(k is not None and k.enabled is enabled for k in known)

        await eventually(lambda: every_replica_knows(True), timeout=60)
        before = world.requests_seen_by("auth", AUTHENTICATE)
        for http in callers:
            for _ in range(10):
                assert await answer(http, client_id, secret) == 404
        await world.settled("auth")
        assert world.requests_seen_by("auth", AUTHENTICATE) == before

        async def refused_by_every_replica() -> bool:
            return all([await answer(http, client_id, secret) == 401 for http in callers])

        operator(world, "disable-client", "--client-id", client_id)
        disabled_at = time.monotonic()
        await eventually(refused_by_every_replica, timeout=HEARD_WITHIN, interval=0.05)
        print(f"refused by both replicas {time.monotonic() - disabled_at:.3f} s after disable-client returned")
        await world.settled("auth")
        assert world.requests_seen_by("auth", AUTHENTICATE) == before  # refused from the event, auth not asked

        operator(world, "enable-client", "--client-id", client_id)
        await eventually(lambda: every_replica_knows(True), timeout=HEARD_WITHIN, interval=0.05)
        for http in callers:
            assert await answer(http, client_id, secret) == 404

    # what the gateway heard: the client's changes, a verifier of its secret, never the secret
    records = await records_until_now(world.stack.infra.kafka_bootstrap, AUTH_CLIENTS_TOPIC)
    assert all(secret.encode() not in (record.value or b"") for record in records)
    events = [event for _, event in events_in(records) if event["data"].get("client_id") == client_id]
    assert [event["data"]["change"] for event in events] == ["created", "disabled", "enabled"]
    assert {v["digest"] for event in events for v in event["data"]["verifiers"]} == \
        {key_verifier(client_id, secret).hex()}


async def test_a_rotated_secret_works_at_once_and_the_previous_one_until_its_overlap_ends(world) -> None:
    app = world.create_client()
    client_id, old = app["clientId"], app["clientSecret"]
    rotated = operator(world, "rotate-client-secret", "--client-id", client_id, "--overlap", "3s")
    new = rotated["clientSecret"]
    assert await answer(world.http, client_id, new) == 404  # auth answers while the event is on its way
    assert await answer(world.http, client_id, old) == 404

    async def both_heard() -> bool:
        known = api_keys_of(world.stack["gateway"]).known(client_id)
        return known is not None and len(known.verifiers) == 2

    await eventually(both_heard, timeout=HEARD_WITHIN, interval=0.05)
    assert await answer(world.http, client_id, "sk_" + "x" * 43) == 401

    async def old_refused() -> bool:
        return await answer(world.http, client_id, old) == 401

    await eventually(old_refused, timeout=15)
    assert await answer(world.http, client_id, new) == 404


async def test_a_client_from_before_verifiers_gets_one_at_its_first_key_check(world) -> None:
    app = world.create_client()
    client_id, secret = app["clientId"], app["clientSecret"]
    # as before migration 0010: no verifier; a change of the client then announces it without one
    await service_sql(world.stack, "auth", "UPDATE api_clients SET secret_verifier = NULL WHERE id = $1", client_id)
    operator(world, "disable-client", "--client-id", client_id)
    operator(world, "enable-client", "--client-id", client_id)
    gateway = world.stack["gateway"]

    async def heard_without_verifier() -> bool:
        known = api_keys_of(gateway).known(client_id)
        return known is not None and known.enabled and not known.verifiers

    await eventually(heard_without_verifier, timeout=HEARD_WITHIN, interval=0.05)
    assert await answer(world.http, client_id, secret) == 404  # auth checks its keyed hash, records the verifier
    [row] = await service_sql(world.stack, "auth", "SELECT secret_verifier FROM api_clients WHERE id = $1", client_id)
    assert row["secret_verifier"] == key_verifier(client_id, secret)

    async def heard_with_verifier() -> bool:
        known = api_keys_of(gateway).known(client_id)
        return known is not None and len(known.verifiers) == 1

    await eventually(heard_with_verifier, timeout=HEARD_WITHIN, interval=0.05)
    before = world.requests_seen_by("auth", AUTHENTICATE)
    for _ in range(5):
        assert await answer(world.http, client_id, secret) == 404
    await world.settled("auth")
    assert world.requests_seen_by("auth", AUTHENTICATE) == before
