"""Typed dependencies: the registration toolbox, and who is starting an enrollment."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header

from twofold_common.access_tokens import TokenVerifier, bearer_token
from twofold_common.db import Database
from twofold_common.errors import Unauthorized
from twofold_common.runtime import CallingAppDep, RuntimeDep

from .peers import Apps, Vault
from .settings import RegistrationSettings


@dataclass
class Registration:
    settings: RegistrationSettings
    db: Database
    verifier: TokenVerifier
    vault: Vault
    apps: Apps


async def get_registration(runtime: RuntimeDep) -> Registration:
    return runtime.state["registration"]


RegistrationDep = Annotated[Registration, Depends(get_registration)]


@dataclass(frozen=True)
class Starter:
    """Who starts an enrollment: a person (setup token or session) or a third-party app (API key)."""

    user_id: uuid.UUID | None = None
    email: str | None = None
    client_id: str | None = None
    # a person's setup token says what it may enroll (first | replace); None for a session's access token
    enrollment: str | None = None


async def get_starter(
    registration: RegistrationDep,
    app: CallingAppDep,
    authorization: Annotated[str | None, Header()] = None,
) -> Starter:
    if app is not None:
        return Starter(client_id=app)
    token = bearer_token(authorization)
    if token is None:
        raise Unauthorized("A setup token, a session or an API key is required.", code="unauthenticated",
                           headers={"WWW-Authenticate": "Bearer"})
    claims = await registration.verifier.verify(token)
    return Starter(user_id=claims.user_id, email=claims.email, enrollment=claims.enrollment)


StarterDep = Annotated[Starter, Depends(get_starter)]
