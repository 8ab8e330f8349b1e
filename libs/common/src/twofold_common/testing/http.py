"""Small helpers for tests that talk HTTP to the services."""

from __future__ import annotations

import httpx

from .inprocess import InProcessService
from .processes import ServiceProcess


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def client_of(service: InProcessService | ServiceProcess) -> httpx.AsyncClient:
    """A client of the service: through its app (``httpx.ASGITransport``) when it runs in the test's process,
    through its port when it is a process."""
    if isinstance(service, InProcessService):
        return service.client()
    return httpx.AsyncClient(base_url=service.url, timeout=30)
