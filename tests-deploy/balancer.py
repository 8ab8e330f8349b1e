"""A round-robin TCP balancer in a process of its own: the replica tests' stand-in for a Kubernetes Service.

``python balancer.py LISTEN_PORT PORT...`` sends each new connection to the next endpoint that accepts and
pipes bytes both ways. Like kube-proxy it knows nothing of HTTP, and it is not in the caller's process: a
busy test process would delay the bytes it forwards (by seconds, on two loaded cores), which no node's
kernel does. It prints ``ready`` once it listens; a line ``remove PORT`` on its stdin takes an endpoint out
(new connections no longer go there; open ones stay open), as a stopping pod leaves its Service.
"""

from __future__ import annotations

import asyncio
import sys


class Balancer:
    def __init__(self, ports: list[int]) -> None:
        self.ports = ports
        self._next = 0

    async def accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        for _ in list(self.ports):
            port = self.ports[self._next % len(self.ports)]
            self._next += 1
            try:
                upstream_r, upstream_w = await asyncio.open_connection("127.0.0.1", port)
                break
            except OSError:
                continue
        else:
            client_w.close()
            return
        await asyncio.gather(pipe(client_r, upstream_w), pipe(upstream_r, client_w))

    async def follow_commands(self) -> None:
        loop = asyncio.get_running_loop()
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            command, _, port = line.strip().partition(" ")
            if command == "remove" and int(port) in self.ports:
                self.ports.remove(int(port))


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


async def main(listen: int, ports: list[int]) -> None:
    balancer = Balancer(ports)
    server = await asyncio.start_server(balancer.accept, "127.0.0.1", listen, backlog=1024)
    print("ready", flush=True)
    async with server:
        await balancer.follow_commands()  # until stdin closes: the test is done with it


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), [int(port) for port in sys.argv[2:]]))
