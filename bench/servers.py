"""A small Starlette app, given as source, served by uvicorn in a process of its own: the sink of the tracing
bench, the server of the HTTP client bench.  Its own process, so its CPU is not the measured one's."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from twofold_common.testing.processes import free_port


@contextmanager
def small_server(source: str, *, timeout: float = 10) -> Iterator[str]:
    """Serves ``source``'s ``app`` with the services' loop and parser; yields its URL once it answers."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", f"{source}\nimport uvicorn\nuvicorn.run(app, port={port}, "
                               "log_level='warning', access_log=False, loop='uvloop', http='httptools')"])
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout
        while True:
            try:
                httpx.get(url)  # any answer will do (a 404 or 405 too): it listens
                break
            except httpx.HTTPError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the server did not start (exit {server.poll()})") from None
                time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait(10)
