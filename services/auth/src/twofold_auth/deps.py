"""Typed dependencies of the auth service: the domain toolbox, the caller, the signed-in session."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

import sqlalchemy as sa
from fastapi import Depends, Header, Request

from twofold_common.access_tokens import TokenVerifier, bearer_token
from twofold_common.db import Database
from twofold_common.errors import Forbidden, Unauthorized
from twofold_common.internal_auth import INTERNAL_AUTH_HEADER
from twofold_common.runtime import Runtime, RuntimeDep

from .attempts import AttemptLimiter, PasswordLimiter
from .audit import Caller
from .models import sessions
from .passwords import Passwords
from .sessions.lifetime import live_session
from .settings import AuthSettings
from .tokens import TokenHasher, TokenIssuer
from .vault import VaultClient


@dataclass
class Auth:
    """Everything the auth domain uses, built once in the lifespan."""

    settings: AuthSettings
    db: Database
    passwords: Passwords
    issuer: TokenIssuer
    hasher: TokenHasher
    verifier: TokenVerifier
    limiter: AttemptLimiter
    vault: VaultClient
    password_limiter: PasswordLimiter


async def get_auth(runtime: RuntimeDep) -> Auth:
    return runtime.state["auth"]


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


AuthDep = Annotated[Auth, Depends(get_auth)]
CallerDep = Annotated[Caller, Depends(get_caller)]


@dataclass(frozen=True)
class SignedIn:
    user_id: uuid.UUID
    session_id: uuid.UUID
    email: str | None


async def get_signed_in(auth: AuthDep, authorization: Annotated[str | None, Header()] = None) -> SignedIn:
    """A full session: a valid access token (never a setup token) whose session is live in the database."""
    token = bearer_token(authorization)
    if token is None:
        raise Unauthorized("Sign in first.", code="unauthenticated", headers={"WWW-Authenticate": "Bearer"})
    claims = await auth.verifier.verify(token)
    if claims.is_setup_token or claims.session_id is None:
        raise Forbidden("A setup token can only start 2FA enrollment.", code="setup-token-only")
    async with auth.db.transaction() as session:
        # every signed-in request is activity: it keeps the session from the idle timeout
        live = await session.scalar(
            sa.update(sessions)
            .where(sessions.c.id == claims.session_id, sessions.c.user_id == claims.user_id,
                   *live_session(auth.settings, datetime.now(UTC)))
            .values(last_activity_at=sa.func.now())
            .returning(sessions.c.id)
        )
    if live is None:
        raise Unauthorized("The session has ended.", code="session-ended", headers={"WWW-Authenticate": "Bearer"})
    return SignedIn(claims.user_id, claims.session_id, claims.email)


SignedInDep = Annotated[SignedIn, Depends(get_signed_in)]
