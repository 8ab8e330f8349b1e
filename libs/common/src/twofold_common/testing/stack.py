"""Several real service processes wired to each other, each with a fresh database, for one test."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from .infra import Infra, fetch
from .processes import ServiceProcess, free_port, stop_all

# name -> (module, env prefix, has a database)
SERVICES = {
    "vault": ("twofold_vault", "VAULT", True),
    "auth": ("twofold_auth", "AUTH", True),
    "registration": ("twofold_registration", "REGISTRATION", True),
    "web": ("twofold_web", "WEB", False),
    "gateway": ("twofold_gateway", "GATEWAY", False),
}
START_ORDER = ["vault", "auth", "registration", "web", "gateway"]


async def service_sql(stack: Any, service: str, query: str, *args: object) -> list[asyncpg.Record]:
    """An observer's look into one service's own database (``stack``: processes or apps in process)."""
    return await fetch(stack[service].env[f"{SERVICES[service][1]}_DATABASE_URL"], query, *args)


def metrics_url(stack: Any, service: str) -> str:
    """Where Prometheus would scrape one service of ``stack`` (processes or apps in process)."""
    return f"http://127.0.0.1:{stack[service].env[f'{SERVICES[service][1]}_METRICS_PORT']}/metrics"


async def service_env(infra: Infra, create_database: Callable[[str], Awaitable[str]], name: str,
                      ports: dict[str, int], extra: dict[str, str]) -> dict[str, str]:
    """The settings (environment variables) of service ``name`` among the services on ``ports``: its own port,
    metrics port and database, its own consumer group, its peers' addresses, then ``extra``."""
    urls = {peer: f"http://127.0.0.1:{port}" for peer, port in ports.items()}
    # a stack without the pages: a port nothing listens on, never the web service of a stack running beside
    urls.setdefault("web", f"http://127.0.0.1:{free_port()}")
    public = urls.get("gateway") or urls.get("registration", "")
    wiring = {
        "AUTH_URL": urls.get("auth", ""), "VAULT_URL": urls.get("vault", ""),
        "REGISTRATION_URL": urls.get("registration", ""),
        "WEB_URL": urls.get("web", ""), "GATEWAY_URL": urls.get("gateway", ""),
        "CALLBACK_URL": f"{public}/api/auth/totp-callback",
    }
    _, prefix, has_database = SERVICES[name]
    values = {f"{prefix}_PORT": str(ports[name]), f"{prefix}_METRICS_PORT": str(free_port()),
              f"{prefix}_KAFKA_BOOTSTRAP": infra.kafka_bootstrap,
              f"{prefix}_CONSUMER_GROUP": f"test-{name}-{uuid.uuid4().hex[:8]}",
              # no drain before a SIGTERM'd process stops: no balancer here sends it a caller's connection
              f"{prefix}_SHUTDOWN_DRAIN_SECONDS": "0",
              **{f"{prefix}_{k}": v for k, v in wiring.items() if v}}
    if "gateway" in urls:
        # the public address is the gateway's: auth's issuer (OpenID Connect discovery is fetched there and
        # names its endpoints from it), which the gateway and registration check in every token
        values.update({"auth": {"AUTH_ISSUER": urls["gateway"]},
                       "gateway": {"GATEWAY_TOKEN_ISSUER": urls["gateway"]},
                       "registration": {"REGISTRATION_TOKEN_ISSUER": urls["gateway"]}}.get(name, {}))
    if has_database:
        values[f"{prefix}_DATABASE_URL"] = await create_database(name)
    return {**values, **extra}


@dataclass
class ServiceStack:
    infra: Infra
    create_database: Callable[[str], Awaitable[str]]
    log_dir: Path
    processes: dict[str, ServiceProcess] = field(default_factory=dict)

    def __getitem__(self, name: str) -> ServiceProcess:
        return self.processes[name]

    async def start(self, *names: str, env: dict[str, dict[str, str]] | None = None) -> ServiceStack:
        ports = {name: free_port() for name in names}
        for name in sorted(names, key=START_ORDER.index):  # all at once: none needs a peer to become ready
            values = await service_env(self.infra, self.create_database, name, ports, (env or {}).get(name, {}))
            process = ServiceProcess(name, SERVICES[name][0], values, ports[name], self.log_dir)
            self.processes[name] = process.start(wait=False)
        for name in names:
            self.processes[name].wait_healthy(path="/readyz")
        return self

    def stop(self) -> None:
        stop_all([self.processes[name] for name in reversed(START_ORDER) if name in self.processes])
