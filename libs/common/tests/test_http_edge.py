"""The shared HTTP edge, driven in-process through httpx's ASGI transport (no database needed)."""

import asyncio
import signal

import httpx
import pytest
import uvicorn
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel

from twofold_common.db import Database
from twofold_common.draining import DrainingServer
from twofold_common.errors import NotFound, TooManyRequests, install_problem_handlers
from twofold_common.http import Draining, RequestContextMiddleware
from twofold_common.internal_auth import INTERNAL_AUTH_HEADER, internal_caller
from twofold_common.testing.http import dev_internal_auth
from twofold_common.testing.processes import free_port
from twofold_common.testing.waiting import eventually

vault_auth = dev_internal_auth("vault")


class Body(BaseModel):
    code: str
    count: int


def make_app(draining: Draining | None = None) -> FastAPI:
    router = APIRouter()

    @router.post("/echo")
    async def echo(body: Body) -> dict[str, int]:
        return {"count": body.count}

    @router.get("/missing")
    async def missing() -> None:
        raise NotFound("No such thing.")

    @router.get("/limited")
    async def limited() -> None:
        raise TooManyRequests("Slow down.", retry_after=30)

    @router.get("/slow")
    async def slow() -> None:
        await asyncio.sleep(60)

    @router.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    @router.get("/database")
    async def database() -> None:
        db = Database(f"postgresql://nobody@127.0.0.1:{free_port()}/gone", pool_size=1)  # nothing listens there
        try:
            await db.ping()
        finally:
            await db.dispose()

    @router.get("/internal")
    async def internal(caller: str = __import__("fastapi").Depends(internal_caller(lambda: vault_auth, {"auth"}))):
        return {"caller": caller}

    app = FastAPI()
    install_problem_handlers(app)
    app.add_middleware(RequestContextMiddleware, max_body_bytes=1024, draining=draining)
    app.include_router(router)
    return app


@pytest.fixture
async def client():
    transport = httpx.ASGITransport(app=make_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


async def test_validation_errors_are_problem_json_without_values(client: httpx.AsyncClient) -> None:
    r = await client.post("/echo", json={"code": "12ab56", "count": "many"})
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["type"].endswith("/invalid-request") and body["status"] == 422
    assert ["body", "count"] in [e["location"] for e in body["errors"]]
    assert "12ab56" not in r.text


async def test_malformed_json_and_oversized_bodies_are_4xx(client: httpx.AsyncClient) -> None:
    r = await client.post("/echo", content=b"{nope", headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    r = await client.post("/echo", content=b"x" * 5000, headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["type"].endswith("/body-too-large")


async def test_domain_problems_and_unexpected_errors(client: httpx.AsyncClient) -> None:
    r = await client.get("/missing")
    assert r.status_code == 404 and r.json()["detail"] == "No such thing."
    r = await client.get("/limited")
    assert r.status_code == 429 and r.headers["retry-after"] == "30"
    r = await client.get("/boom")
    assert r.status_code == 500 and "secret internals" not in r.text
    r = await client.get("/nowhere")
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"


async def test_request_ids_are_echoed_or_made(client: httpx.AsyncClient) -> None:
    r = await client.get("/missing", headers={"x-request-id": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123" and r.json()["request_id"] == "abc-123"
    r = await client.get("/missing", headers={"x-request-id": "bad id\n"})
    assert r.headers["x-request-id"] != "bad id\n" and len(r.headers["x-request-id"]) == 32
    assert r.headers["x-content-type-options"] == "nosniff"


async def test_internal_calls_need_a_token_for_this_service_from_an_allowed_caller(client: httpx.AsyncClient) -> None:
    assert (await client.get("/internal")).status_code == 401
    auth_service = dev_internal_auth("auth")
    ok = await client.get("/internal", headers={INTERNAL_AUTH_HEADER: auth_service.token_for("vault")})
    assert ok.status_code == 200 and ok.json() == {"caller": "auth"}
    wrong_audience = auth_service.token_for("registration")
    assert (await client.get("/internal", headers={INTERNAL_AUTH_HEADER: wrong_audience})).status_code == 401
    gateway = dev_internal_auth("gateway")
    as_gateway = {INTERNAL_AUTH_HEADER: gateway.token_for("vault")}
    assert (await client.get("/internal", headers=as_gateway)).status_code == 403
    # the gateway's own valid key, claiming to be auth: the gateway may not, auth may
    forged = dev_internal_auth("auth", key_of="gateway").token_for("vault")
    refused = await client.get("/internal", headers={INTERNAL_AUTH_HEADER: forged})
    assert refused.status_code == 401 and refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"].endswith("/internal-auth")


@pytest.mark.parametrize("content_type, content", [
    ("application/x-www-form-urlencoded", b"code=123456&count=1"),
    ("text/plain", b'{"code": "123456", "count": 1}'),
    ("multipart/form-data; boundary=x", b'--x\r\nContent-Disposition: form-data; name="code"\r\n\r\n1\r\n--x--\r\n'),
])
async def test_a_body_that_is_not_json_is_a_415_that_says_what_to_send(client: httpx.AsyncClient, content_type: str,
                                                                       content: bytes) -> None:
    r = await client.post("/echo", content=content, headers={"content-type": content_type})
    assert r.status_code == 415 and r.headers["content-type"] == "application/problem+json", r.text
    body = r.json()
    assert body["type"].endswith("/unsupported-media-type") and "application/json" in body["detail"]
    assert "123456" not in r.text


async def test_json_that_is_not_an_object_is_still_a_422(client: httpx.AsyncClient) -> None:
    r = await client.post("/echo", json=[1, 2])
    assert r.status_code == 422 and r.json()["type"].endswith("/invalid-request")


async def test_malformed_json_says_where_it_broke_without_the_values(client: httpx.AsyncClient) -> None:
    r = await client.post("/echo", content=b'{"code": "12ab56",\n "count": many}',
                          headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["type"].endswith("/invalid-request")
    assert "line 2, column 11" in body["detail"], body
    assert body["errors"] == [{"location": ["body"], "message": "Expecting value at line 2, column 11"}], body
    assert "12ab56" not in r.text and "many" not in r.text


async def test_an_unreachable_database_is_a_503_with_retry_after(client: httpx.AsyncClient) -> None:
    r = await client.get("/database")
    assert r.status_code == 503 and r.headers["content-type"] == "application/problem+json", r.text
    assert r.json()["type"].endswith("/database-unavailable") and int(r.headers["retry-after"]) >= 1


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str) -> int:
    return (await _exchange_head(reader, writer, path))[0]


async def _exchange_head(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                         path: str) -> tuple[int, dict[bytes, bytes]]:
    writer.write(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    headers = dict(line.lower().split(b": ", 1) for line in head.split(b"\r\n")[1:] if b": " in line)
    await reader.readexactly(int(headers[b"content-length"]))
    return int(head.split(b" ")[1]), headers


async def test_an_unexpected_error_keeps_the_connection_open_for_the_next_request() -> None:
    """A 500 must not close a kept-alive connection: the gateway may already be sending on it (a 502 then)."""
    server = uvicorn.Server(uvicorn.Config(make_app(), host="127.0.0.1", port=free_port(), lifespan="off",
                                           log_level="critical"))
    serving = asyncio.create_task(server.serve())
    try:
        await eventually(lambda: asyncio.sleep(0, server.started))
        reader, writer = await asyncio.open_connection("127.0.0.1", server.config.port)
        try:
            assert await _exchange(reader, writer, "/boom") == 500
            assert await _exchange(reader, writer, "/missing") == 404  # the same connection still answers
        finally:
            writer.close()
    finally:
        server.should_exit = True
        await serving


def _draining_server(*, drain_seconds: float, grace_seconds: int) -> tuple[DrainingServer, asyncio.Task[None]]:
    """The app served as a service serves it (cli.py), started; stop it with ``should_exit`` and await the task."""
    draining = Draining()
    server = DrainingServer(uvicorn.Config(make_app(draining), host="127.0.0.1", port=free_port(), lifespan="off",
                                           log_level="critical", timeout_graceful_shutdown=grace_seconds),
                            drain_seconds=drain_seconds, draining=draining)
    return server, asyncio.create_task(server.serve())


async def test_a_stopping_server_drains_closing_each_connection_after_its_answer_then_stops() -> None:
    """SIGTERM: no connection a caller keeps is closed under it; each is closed after an answer, then the server
    stops by itself (draining.py)."""
    server, serving = _draining_server(drain_seconds=1.0, grace_seconds=2)
    try:
        await eventually(lambda: asyncio.sleep(0, server.started))
        kept = await asyncio.open_connection("127.0.0.1", server.config.port)
        status, headers = await _exchange_head(*kept, "/missing")
        assert status == 404 and b"connection" not in headers

        server.handle_exit(signal.SIGTERM, None)  # what the signal does
        # the connection kept from before still answers, then is closed by the server
        status, headers = await asyncio.wait_for(_exchange_head(*kept, "/missing"), 5)
        assert status == 404 and headers[b"connection"] == b"close"
        assert await asyncio.wait_for(kept[0].read(), 5) == b""
        kept[1].close()
        # and while it drains, a new connection is still taken
        new = await asyncio.open_connection("127.0.0.1", server.config.port)
        assert (await asyncio.wait_for(_exchange_head(*new, "/missing"), 5))[1][b"connection"] == b"close"
        new[1].close()
        late = await asyncio.open_connection("127.0.0.1", server.config.port)
        # the drain over, the server stops listening ...
        await eventually(lambda: _refused(server.config.port), timeout=5)
        # ... but a request on a connection taken before is still read and answered
        assert (await asyncio.wait_for(_exchange_head(*late, "/missing"), 5))[0] == 404
        late[1].close()
        await asyncio.wait_for(asyncio.shield(serving), 10)  # then it stops
    finally:
        server.should_exit = True
        await serving


async def _refused(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except ConnectionRefusedError:
        return True
    writer.close()
    return False


async def test_a_request_the_stop_cancels_is_answered_503_stopping_not_500() -> None:
    """A request still running when the stop's grace is over (uvicorn cancels it) gets a problem the caller
    may retry elsewhere."""
    server, serving = _draining_server(drain_seconds=0.1, grace_seconds=1)
    try:
        await eventually(lambda: asyncio.sleep(0, server.started))
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.config.port}", timeout=30) as http:
            answering = asyncio.create_task(http.get("/slow"))
            await eventually(lambda: asyncio.sleep(0, bool(server.server_state.tasks)))
            server.handle_exit(signal.SIGTERM, None)
            answer = await answering
        assert answer.status_code == 503
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["type"].endswith("/stopping") and answer.headers["retry-after"] == "1"
        await asyncio.wait_for(asyncio.shield(serving), 10)
    finally:
        server.should_exit = True
        await serving
