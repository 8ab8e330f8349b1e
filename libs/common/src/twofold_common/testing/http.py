"""Small helpers for tests that talk HTTP to the services."""

from __future__ import annotations

import httpx

from ..internal_auth import INTERNAL_AUTH_HEADER, InternalAuth
from ..internal_keys import dev_public_keys, dev_signing_key
from ..peer import KEEPALIVE_EXPIRY_SECONDS
from .inprocess import InProcessService
from .processes import ServiceProcess

# kept below the services' keep-alive, as our peer client does (see ServiceSettings.keep_alive_seconds)
POOL = httpx.Limits(keepalive_expiry=KEEPALIVE_EXPIRY_SECONDS)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def client_of(service: InProcessService | ServiceProcess) -> httpx.AsyncClient:
    """A client of the service: through its app (``httpx.ASGITransport``) when it runs in the test's process,
    through its port when it is a process."""
    if isinstance(service, InProcessService):
        return service.client()
    return httpx.AsyncClient(base_url=service.url, timeout=30, limits=POOL)


def dev_internal_auth(service: str, *, key_of: str | None = None) -> InternalAuth:
    """The ``InternalAuth`` a service holds with the development settings: its key, the development ring.

    ``key_of`` signs with that other service's key instead: a forgery, which every receiver must refuse."""
    return InternalAuth(service, dev_signing_key(key_of or service), dev_public_keys())


def signed_client(caller: InternalAuth, audience: str, base_url: str) -> httpx.AsyncClient:
    """A test's client that calls ``audience`` as the service ``caller`` signs (the services themselves use
    ``InternalAuth.client``): every request carries a fresh internal token."""

    async def sign(request: httpx.Request) -> None:
        request.headers[INTERNAL_AUTH_HEADER] = caller.token_for(audience)

    return httpx.AsyncClient(base_url=base_url, timeout=30, limits=POOL, event_hooks={"request": [sign]})
