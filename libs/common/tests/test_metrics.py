"""The metrics every service shares: its own listener, requests counted by route template and status class."""

from __future__ import annotations

import logging
import socket
from typing import ClassVar

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from pydantic_settings import SettingsConfigDict

from twofold_common.errors import NotFound
from twofold_common.runtime import create_service_app
from twofold_common.settings import ServiceSettings
from twofold_common.testing.metrics import moved, scrape
from twofold_common.testing.processes import free_port


class PlainSettings(ServiceSettings):
    """A service with neither database nor broker: the edge and the listener alone."""

    model_config = SettingsConfigDict(env_prefix="PLAIN_", extra="ignore")
    service_name: ClassVar[str] = "plain"
    uses_broker: ClassVar[bool] = False

    def _needs_database(self) -> bool:
        return False


def plain_app(settings: PlainSettings) -> FastAPI:
    router = APIRouter()

    @router.get("/items/{item_id}")
    async def item(item_id: str) -> dict[str, str]:
        if item_id == "missing":
            raise NotFound("No such item.")
        return {"id": item_id}

    return create_service_app(settings, title="plain", routers=[router])


async def test_requests_are_counted_by_route_template_and_status_class_on_a_port_of_their_own() -> None:
    settings = PlainSettings(port=free_port(), metrics_port=free_port())
    app = plain_app(settings)
    url = f"http://127.0.0.1:{settings.metrics_port}/metrics"
    async with app.router.lifespan_context(app), \
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://plain") as client:
        before = await scrape(url)
        for path in ("/items/1", "/items/2", "/items/missing", "/no/such/path", "/items/user@example.com"):
            await client.get(path)
        await client.request("BREW", "/items/3")
        assert (await client.get("/metrics")).status_code == 404  # not on the service's own port
        after = await scrape(url)

    template = 'route="/items/{item_id}"'
    assert moved(before, after) == {
        f'twofold_http_requests_total{{method="GET",{template},status_class="2xx"}}': 3,
        f'twofold_http_requests_total{{method="GET",{template},status_class="4xx"}}': 1,
        'twofold_http_requests_total{method="GET",route="unmatched",status_class="4xx"}': 2,
        f'twofold_http_requests_total{{method="other",{template},status_class="4xx"}}': 1,
        f'twofold_http_request_duration_seconds_count{{method="GET",{template}}}': 4,
        'twofold_http_request_duration_seconds_count{method="GET",route="unmatched"}': 2,
        f'twofold_http_request_duration_seconds_count{{method="other",{template}}}': 1,
    }
    assert not any("user@example.com" in key or "/no/such" in key for key in after)
    assert after["process_resident_memory_bytes"] > 0


async def test_a_metrics_port_that_is_taken_is_logged_and_the_service_runs_without_it(
        caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        settings = PlainSettings(port=free_port(), metrics_port=taken.getsockname()[1])
        app = plain_app(settings)
        with caplog.at_level(logging.ERROR, logger="twofold_common.metrics"):
            async with app.router.lifespan_context(app), \
                    httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://plain") as client:
                assert (await client.get("/items/1")).status_code == 200
    assert "the metrics listener cannot listen" in caplog.text


def test_the_metrics_port_is_the_service_port_plus_1000_unless_set_and_0_turns_it_off() -> None:
    assert PlainSettings(port=8001).metrics_listen_port == 9001
    assert PlainSettings(port=8001, metrics_port=0).metrics_listen_port == 0
    assert PlainSettings(port=8001, metrics_port=9100).metrics_listen_port == 9100
    with pytest.raises(ValueError, match="PLAIN_METRICS_PORT"):
        PlainSettings(port=8001, metrics_port=8001)
    with pytest.raises(ValueError, match="PLAIN_METRICS_PORT"):
        PlainSettings(port=65000)
