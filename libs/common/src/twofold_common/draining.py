"""Stopping without breaking a caller's request: drain first, then close.

When uvicorn gets SIGTERM it closes its listening socket and its idle kept-alive connections at once. A
caller that picked such a connection from its pool at that moment, or whose connection waited in the
listen queue, gets no answer (a 502 at the gateway) for a request that did nothing wrong. So on the first
SIGTERM the server drains for ``shutdown_drain_seconds``: it keeps serving, answers ``/readyz`` with 503
(Kubernetes, where the pod's endpoint is also removed, sends nothing new), and closes each connection
after its answer (``Connection: close``). Callers keep an idle connection 2 s at most
(``peer.KEEPALIVE_EXPIRY_SECONDS``), so when the drain ends, none of them holds one to close under it;
then the server stops listening, and the connections already open get ``SETTLE_SECONDS`` more: a request
written on one just before may still wait in the socket for a busy event loop, and uvicorn's stop closes
every connection it has not read a request from. A caller's new connection is refused meanwhile, which
it may send elsewhere whatever the method (``peer.may_go_again``). Then uvicorn stops as usual (requests
in flight finish, then the lifespan's shutdown). A second signal stops at once.
"""

from __future__ import annotations

import time
from types import FrameType

import uvicorn

from .http import Draining

SETTLE_SECONDS = 1.0


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, drain_seconds: float, draining: Draining) -> None:
        super().__init__(config)
        self.drain_seconds = drain_seconds
        self.draining = draining
        self.drain_ends: float | None = None
        self.settle_ends: float | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.drain_ends is None and self.drain_seconds > 0:
            self.drain_ends = time.monotonic() + self.drain_seconds
            self.draining.start()
            return
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        now = time.monotonic()
        if self.drain_ends is not None and now >= self.drain_ends:
            if self.settle_ends is None:
                self.settle_ends = now + SETTLE_SECONDS
                for server in self.servers:
                    server.close()  # stops listening; the open connections stay (closed by uvicorn's stop)
            elif now >= self.settle_ends:
                self.should_exit = True
        return await super().on_tick(counter)
