"""Typed dependencies of registration: its domain services (built once) and who is starting an enrollment.

``prepare`` is the one place the services are put together; every route asks for the ones it uses.
"""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Header

from twofold_common.access_tokens import TokenVerifier, bearer_token
from twofold_common.errors import Unauthorized
from twofold_common.peer import PeerClient
from twofold_common.runtime import CallingAppDep, Runtime, provided

from .callback.service import Callbacks
from .peers import Apps, Vault
from .settings import RegistrationSettings
from .tokens.service import Enrollments, Starter


async def prepare(runtime: Runtime) -> list[PeerClient]:
    """``on_start``: build each service once; returns the HTTP clients, closed at the stop."""
    settings = cast(RegistrationSettings, runtime.settings)
    auth_http = runtime.internal_auth.client("auth", settings.auth_url)
    vault_http = runtime.internal_auth.client("vault", settings.vault_url, timeout=10)
    vault, apps = Vault(vault_http), Apps(auth_http)
    runtime.provide(
        TokenVerifier(issuer=settings.token_issuer, audience=settings.token_audience,
                      jwks_url="/.well-known/jwks.json", http=auth_http),
        Enrollments(runtime.database, settings, vault, apps),
        Callbacks(runtime.database, settings, vault, apps),
    )
    return [auth_http, vault_http]


EnrollmentsDep = Annotated[Enrollments, provided(Enrollments)]
CallbacksDep = Annotated[Callbacks, provided(Callbacks)]
VerifierDep = Annotated[TokenVerifier, provided(TokenVerifier)]


async def get_starter(
    verifier: VerifierDep,
    app: CallingAppDep,
    authorization: Annotated[str | None, Header()] = None,
) -> Starter:
    if app is not None:
        return Starter(client_id=app)
    token = bearer_token(authorization)
    if token is None:
        raise Unauthorized("A setup token, a session or an API key is required.", code="unauthenticated",
                           headers={"WWW-Authenticate": "Bearer"})
    claims = await verifier.verify(token)
    return Starter(user_id=claims.user_id, email=claims.email, enrollment=claims.enrollment)


StarterDep = Annotated[Starter, Depends(get_starter)]
