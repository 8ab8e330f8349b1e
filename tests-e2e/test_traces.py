"""Traces across HTTP and Kafka (twofold_common.tracing): one trace shows an enrollment from the provider's callback
through registration's outbox relay to auth's handling of registration.completed.

The services run in the test's process with tracing on, each exporting over OTLP/HTTP to a collector in the test
(``testing.collector``), as they would to an OpenTelemetry collector.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from twofold_common.events import REGISTRATION_TOPIC
from twofold_common.testing.collector import Collector, ReceivedSpan
from twofold_common.testing.inprocess import InProcessStack
from twofold_common.testing.people import PublicApi
from twofold_common.testing.provider import SimpleTotp
from twofold_common.testing.waiting import eventually

SERVICES = ("vault", "auth", "registration", "gateway")
CALLBACK = "GET /api/auth/totp-callback"
# what a caller outside might send: the gateway starts a trace of its own and keeps this one as a link
OUTSIDE_TRACE, OUTSIDE_SPAN = "ab" * 16, "cd" * 8


@pytest.fixture
async def traced(app_stack: InProcessStack, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[
        tuple[PublicApi, Collector]]:
    collector = await Collector().start()
    # each service's batch of spans leaves every 50 ms, not every 5 s (read when its tracer starts)
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
    try:
        await app_stack.start(*SERVICES, env={name: {"OTEL_EXPORTER_OTLP_ENDPOINT": collector.url}
                                              for name in SERVICES})
        async with httpx.AsyncClient(base_url=app_stack["gateway"].url, timeout=30) as http:
            yield PublicApi(http, SimpleTotp()), collector
    finally:
        await app_stack.stop()  # their last spans sent while the collector still listens
        await collector.stop()


def event_spans(collector: Collector, service: str, kind: str, event_type: str) -> list[ReceivedSpan]:
    return [span for span in collector.find(service=service, kind=kind)
            if span.attributes.get("cloudevents.event_type") == event_type]


async def test_one_trace_follows_an_enrollment_from_the_callback_through_the_outbox_to_auths_consumer(
        traced, app_stack: InProcessStack) -> None:
    api, collector = traced
    person = await api.register()
    deep_link = (await api.setup(person)).json()["deepLink"]
    callback, enrollment = api.provider.accept(deep_link)
    landed = await api.http.get(callback.removeprefix(str(api.http.base_url).rstrip("/")),
                                headers={"traceparent": f"00-{OUTSIDE_TRACE}-{OUTSIDE_SPAN}-01"})
    assert landed.status_code == 200, landed.text
    await eventually(lambda: api.login_is(person, "2fa_required"))  # auth handled registration.completed

    async def arrived() -> bool:  # exported in batches, by each service on its own
        return bool(event_spans(collector, "auth", "producer", "user.2fa_enabled.v1"))

    await eventually(arrived, timeout=15)
    [edge] = collector.find(service="gateway", kind="server", name=CALLBACK)
    [served] = collector.find(service="registration", kind="server", name=CALLBACK)
    [sent] = event_spans(collector, "registration", "producer", "registration.completed.v1")
    # auth's consumer, a new group, also goes over the events earlier tests left on the topic: this one's
    [handled] = [span for span in event_spans(collector, "auth", "consumer", "registration.completed.v1")
                 if span.attributes["messaging.message.id"] == sent.attributes["messaging.message.id"]]
    [enabled] = event_spans(collector, "auth", "producer", "user.2fa_enabled.v1")

    # the public edge believes no caller's context: its span starts the trace, the caller's is a link
    assert edge.parent_id == "" and edge.trace_id != OUTSIDE_TRACE
    assert edge.links == ((OUTSIDE_TRACE, OUTSIDE_SPAN),)
    # gateway -> registration's callback -> its relay's send -> auth's handling -> auth's own relay, one trace
    assert served.parent_id == edge.span_id
    assert sent.parent_id == served.span_id
    assert handled.parent_id == sent.span_id
    assert enabled.parent_id == handled.span_id
    assert {edge.trace_id, served.trace_id, sent.trace_id, handled.trace_id, enabled.trace_id} == {edge.trace_id}
    # registration's call to the vault (PeerClient) is in it too, under the callback
    [stored] = [span for span in collector.find(service="vault", kind="server") if span.parent_id == served.span_id]
    assert stored.name == "POST /internal/seeds" and stored.trace_id == edge.trace_id

    assert (sent.name, handled.name) == (f"send {REGISTRATION_TOPIC}", f"process {REGISTRATION_TOPIC}")
    assert served.attributes == {"http.request.method": "GET", "http.route": "/api/auth/totp-callback",
                                 "http.response.status_code": 200}
    assert handled.attributes["messaging.consumer.group.name"] == app_stack["auth"].env["AUTH_CONSUMER_GROUP"]
    assert not any(span.error for span in (edge, served, sent, handled, enabled, stored))

    # no span says who the person is, nor any secret of the callback's query
    told = " ".join(f"{span.name} {span.attributes}" for span in collector.spans)
    reg_token = SimpleTotp.read_deep_link(deep_link)["regToken"]
    for secret in (enrollment.seed, reg_token, person.email, person.user_id, person.setup_token):
        assert secret not in told
    assert "?" not in told
