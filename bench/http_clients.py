"""CPU per request of the HTTP clients a service can use to call another: httpx, httpx over aiohttp, aiohttp,
and the services' own ``PeerClient`` (aiohttp underneath).

    uv run --frozen python bench/http_clients.py [--requests 4000] [--concurrency 32]

Starts a minimal uvicorn server (its own process, the services' loop and parser), then each client
sends the same JSON POSTs with ``--concurrency`` in flight; the figure is this process's CPU time per
request (the server's is the same for all).  Why every HTTP call of the services goes through aiohttp
(``twofold_common.peer``); httpx and httpx-aiohttp are here only to compare (the dev group has them).
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import time

import aiohttp
import httpx
import uvloop
from httpx_aiohttp import AiohttpTransport
from servers import small_server

from twofold_common.peer import PeerClient

SERVER = """
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

async def answer(request):
    await request.body()
    return JSONResponse({"accessToken": "a" * 300, "refreshToken": "r" * 50})

app = Starlette(routes=[Route("/r", answer, methods=["POST"])])
"""
BODY = b'{"refreshToken": "' + b"z" * 60 + b'"}'


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def measure(send, requests: int, concurrency: int) -> tuple[float, float]:
    slots = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with slots:
            await send()

    await asyncio.gather(*(one() for _ in range(200)))  # connections open, caches warm
    started_cpu, started = cpu(), time.perf_counter()
    await asyncio.gather(*(one() for _ in range(requests)))
    return (cpu() - started_cpu) / requests * 1000, requests / (time.perf_counter() - started)


async def with_httpx(url: str, requests: int, concurrency: int, transport: str) -> tuple[float, float]:
    if transport == "aiohttp":  # httpx's API, aiohttp's connections
        client = httpx.AsyncClient(base_url=url, timeout=10, transport=AiohttpTransport(
            limits=httpx.Limits(max_connections=100)))
    else:
        client = httpx.AsyncClient(base_url=url, timeout=10, limits=httpx.Limits(max_connections=100),
                                   transport=httpx.AsyncHTTPTransport(retries=1))
    async with client:
        async def send() -> None:
            (await client.post("/r", content=BODY, headers={"content-type": "application/json"})).raise_for_status()

        return await measure(send, requests, concurrency)


async def with_aiohttp(url: str, requests: int, concurrency: int) -> tuple[float, float]:
    async with aiohttp.ClientSession(url, connector=aiohttp.TCPConnector(limit=100)) as session:
        async def send() -> None:
            async with session.post("/r", data=BODY, headers={"content-type": "application/json"}) as answer:
                answer.raise_for_status()
                await answer.read()

        return await measure(send, requests, concurrency)


async def with_peer_client(url: str, requests: int, concurrency: int) -> tuple[float, float]:
    async with PeerClient("bench", url, timeout=10) as peer:
        async def send() -> None:
            answer = await peer.post("/r", json={"refreshToken": "z" * 60})  # BODY, encoded here
            assert answer.is_success, answer.status_code

        return await measure(send, requests, concurrency)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    with small_server(SERVER) as url:
        runs = {
            "httpx (its own transport)": lambda: with_httpx(url, args.requests, args.concurrency, "httpx"),
            "httpx over aiohttp (httpx-aiohttp)": lambda: with_httpx(url, args.requests, args.concurrency, "aiohttp"),
            "aiohttp": lambda: with_aiohttp(url, args.requests, args.concurrency),
            "PeerClient (the services' client)": lambda: with_peer_client(url, args.requests, args.concurrency),
        }
        for name, run in runs.items():
            ms, rate = uvloop.run(run())
            print(f"{name:38s} {ms:6.3f} ms CPU per request, {rate:7.0f} requests/s")


if __name__ == "__main__":
    main()
