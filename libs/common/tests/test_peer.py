"""Calls between services when the peer drops a connection: what is sent again, and what is not.

A replica that stops closes the connections whose request it has not read, and a new connection may still
reach it just before it stops listening: an idempotent request is sent again (aiohttp retries once, the
client once more), a POST never (the peer may have acted on it)."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from twofold_common.peer import PeerClient, PeerUnreachable, may_go_again


class DropsFirstRequests:
    """A peer that reads the first two requests and closes their connections without an answer (as a
    replica that stops does), then answers 200 to every later one."""

    def __init__(self) -> None:
        self.requests = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.readuntil(b"\r\n\r\n"):
            self.requests += 1
            if self.requests <= 2:
                break
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{}")
            await writer.drain()
        writer.close()


@pytest.fixture
async def peer():
    behaviour = DropsFirstRequests()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await behaviour.handle(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with PeerClient("vault", f"http://127.0.0.1:{port}", timeout=5) as client:
        yield client, behaviour
    server.close()
    await server.wait_closed()


async def test_an_idempotent_request_is_sent_again_when_the_peer_closed_without_an_answer(peer) -> None:
    client, behaviour = peer
    answer = await client.get("/internal/subjects/x/authenticators")
    assert answer.status_code == 200
    assert behaviour.requests == 3


async def test_a_post_is_not_sent_twice_the_peer_may_have_acted_on_it(peer) -> None:
    client, behaviour = peer
    with pytest.raises(PeerUnreachable):
        await client.post("/internal/verify", json={"subject": "x", "code": "123456"})
    assert behaviour.requests == 1


@pytest.mark.parametrize("error", [
    aiohttp.ServerDisconnectedError(),
    # the peer closed the connection while the request was being written (not an OSError in aiohttp)
    aiohttp.ClientConnectionResetError("Cannot write to closing transport"),
], ids=["closed before the answer", "closed while writing"])
def test_a_broken_connection_is_tried_again_for_an_idempotent_request_only(error: Exception) -> None:
    assert may_go_again("GET", error)
    assert not may_go_again("POST", error)
