"""Typed dependencies of the auth service: its domain services (built once), the caller, the signed-in user.

``prepare`` is the one place the services are put together; every route asks for the ones it uses.
"""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Header, Request
from fastapi.security import HTTPBasic, HTTPBasicCredentials

from twofold_common.access_tokens import TokenVerifier, bearer_token
from twofold_common.errors import Forbidden, Unauthorized
from twofold_common.internal_auth import INTERNAL_AUTH_HEADER
from twofold_common.peer import PeerClient
from twofold_common.runtime import Runtime, RuntimeDep, SessionDep, provided

from .accounts.service import Accounts
from .admin.service import Admin
from .audit.service import Caller
from .clients import service as clients
from .login.repository import PasswordLimiter
from .login.service import Login
from .metrics import AuthMetrics
from .oidc.backchannel import BackChannelLogout
from .oidc.keys import IdTokenKeys
from .oidc.service import OpenIdProvider
from .passwords import Passwords
from .second_factor.service import SecondFactorCheck
from .sessions.service import Sessions, SignedIn
from .settings import AuthSettings
from .tokens import SigningKeyRing, TokenHasher, TokenIssuer
from .vault import VaultClient


async def prepare(runtime: Runtime, ring: SigningKeyRing,
                  id_token_keys: IdTokenKeys) -> tuple[PeerClient, BackChannelLogout]:
    """``on_start``: build each service once; returns the vault's HTTP client and the back-channel logout job,
    which hold connections closed at the stop."""
    settings = cast(AuthSettings, runtime.settings)
    vault_http = runtime.internal_auth.client("vault", settings.vault_url)
    vault = VaultClient(vault_http)
    issuer = TokenIssuer(settings, ring)
    hasher = TokenHasher(settings.token_pepper.get_secret_value())
    metrics = AuthMetrics.registered_in(runtime.metrics)
    passwords = Passwords(settings, metrics.password_hashing)
    check = SecondFactorCheck(runtime.database, vault, metrics)
    sessions = Sessions(runtime.database, settings, hasher, issuer)
    runtime.provide(
        hasher,
        TokenVerifier(issuer=settings.issuer, audience=settings.audience, jwks=ring.jwks()),
        sessions,
        check,
        Login(runtime.database, settings, passwords, PasswordLimiter(settings), issuer, hasher, check, sessions,
              metrics),
        Accounts(settings, passwords, issuer, vault, check, sessions, metrics),
        Admin(sessions, vault, hasher),
        OpenIdProvider(settings, hasher, sessions, id_token_keys, TokenVerifier(
            issuer=settings.issuer, audience=issuer.userinfo_audience, jwks=ring.jwks())),
    )
    return vault_http, BackChannelLogout(settings, id_token_keys, metrics.backchannel_logouts)


LoginDep = Annotated[Login, provided(Login)]
AccountsDep = Annotated[Accounts, provided(Accounts)]
AdminServiceDep = Annotated[Admin, provided(Admin)]
SessionsDep = Annotated[Sessions, provided(Sessions)]
SecondFactorDep = Annotated[SecondFactorCheck, provided(SecondFactorCheck)]
HasherDep = Annotated[TokenHasher, provided(TokenHasher)]
VerifierDep = Annotated[TokenVerifier, provided(TokenVerifier)]
OpenIdProviderDep = Annotated[OpenIdProvider, provided(OpenIdProvider)]


async def get_caller(request: Request, runtime: RuntimeDep) -> Caller:
    """The person's address as the gateway computed it, or the peer's own when the gateway did not send the request.

    X-Forwarded-For is believed only together with the gateway's internal credential: a direct
    caller could write anything there, and the address decides whose password guesses are limited.
    """
    peer = request.client.host if request.client else None
    ip = peer
    forwarded = request.headers.get("x-forwarded-for")
    if forwarded and _from_gateway(runtime, request.headers.get(INTERNAL_AUTH_HEADER)):
        ip = forwarded.split(",")[0].strip() or peer
    return Caller(ip=ip, user_agent=(request.headers.get("user-agent") or "")[:512] or None)


def _from_gateway(runtime: Runtime, credential: str | None) -> bool:
    if not credential:
        return False
    try:
        return runtime.internal_auth.verify(credential) == "gateway"
    except Unauthorized:
        return False


CallerDep = Annotated[Caller, Depends(get_caller)]


async def get_bearer(verifier: VerifierDep, authorization: Annotated[str | None, Header()] = None) -> SignedIn:
    """A valid access token (never a setup token). Whether its session is still live is checked by the
    request's own unit of work: ``SignedInDep``, or the first transaction of a second-factor check."""
    token = bearer_token(authorization)
    if token is None:
        raise Unauthorized("Sign in first.", code="unauthenticated", headers={"WWW-Authenticate": "Bearer"})
    claims = await verifier.verify(token)
    if claims.is_setup_token or claims.session_id is None:
        raise Forbidden("A setup token can only start 2FA enrollment.", code="setup-token-only")
    return SignedIn(claims.user_id, claims.session_id, claims.email)


BearerDep = Annotated[SignedIn, Depends(get_bearer)]


async def get_signed_in(me: BearerDep, session: SessionDep, sessions: SessionsDep) -> SignedIn:
    """A full session: a valid access token whose session is live (the request counts as activity)."""
    await sessions.ensure_live(session, me)
    return me


SignedInDep = Annotated[SignedIn, Depends(get_signed_in)]


async def get_maybe_signed_in(verifier: VerifierDep, session: SessionDep, sessions: SessionsDep,
                              authorization: Annotated[str | None, Header()] = None) -> SignedIn | None:
    """The person, when the request comes with an access token of a live session; None otherwise, a token that
    is not one included: for what anyone may ask, signed in or not (an app's logout request)."""
    if bearer_token(authorization) is None:
        return None
    try:
        me = await get_bearer(verifier, authorization)
    except (Unauthorized, Forbidden):
        return None
    live = await sessions.find_live(session, me.session_id)
    return me if live is not None and live["user_id"] == me.user_id else None


MaybeSignedInDep = Annotated[SignedIn | None, Depends(get_maybe_signed_in)]


async def require_admin(session: SessionDep, hasher: HasherDep,
                        credentials: Annotated[HTTPBasicCredentials, Depends(HTTPBasic())]) -> str:
    client = await clients.authenticate(session, hasher, credentials.username, credentials.password)
    if "admin" not in client.scopes:
        raise Forbidden("This client has no admin scope.", code="scope-missing")
    return client.id


AdminDep = Annotated[str, Depends(require_admin)]
