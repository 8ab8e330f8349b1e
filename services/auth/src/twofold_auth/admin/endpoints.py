"""The admin API: the operators' actions over HTTP, for an admin client (HTTP Basic, the ``admin`` scope).

Routed by the gateway like ``/api/admin/audit`` (policy ``admin``, which auth checks itself); the audit names the
admin client as the operator. The command line does the same through ``admin.service``.
"""

import uuid
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Response

from twofold_common.errors import problem_responses
from twofold_common.runtime import SessionDep

from ..deps import AdminDep, AdminServiceDep
from . import service
from .schemas import (
    ClientChanged,
    ClientState,
    Reason,
    RotatedSecret,
    Rotation,
    SessionsRevoked,
    UserLookup,
    UserSummary,
)
from .service import Operator

router = APIRouter(prefix="/api/admin", tags=["admin"])
ClientId = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]


def _operator(admin: str, reason: str | None) -> Operator:
    return Operator(name=admin, via="api", reason=reason)


@router.post("/users/find", responses=problem_responses(401, 403, 404, 422))
async def find_user(body: UserLookup, session: SessionDep, ops: AdminServiceDep, admin: AdminDep) -> UserSummary:
    """An account by its email (in the body, so it stays out of access logs), as the login looks it up."""
    return await ops.find_user(session, body.email, _operator(admin, body.reason))


@router.post("/users/{user_id}/unlock", status_code=204, responses=problem_responses(401, 403, 404, 422))
async def unlock_user(user_id: uuid.UUID, session: SessionDep, ops: AdminServiceDep, admin: AdminDep,
                      body: Reason | None = None) -> Response:
    await ops.unlock_user(session, user_id, _operator(admin, body.reason if body else None))
    return Response(status_code=204)


@router.post("/users/{user_id}/reset-2fa", responses=problem_responses(401, 403, 404, 422))
async def reset_two_factor(user_id: uuid.UUID, session: SessionDep, ops: AdminServiceDep, admin: AdminDep,
                           body: Reason | None = None) -> SessionsRevoked:
    return await ops.reset_two_factor(session, user_id, _operator(admin, body.reason if body else None))


@router.post("/users/{user_id}/revoke-sessions", responses=problem_responses(401, 403, 404, 422))
async def revoke_sessions(user_id: uuid.UUID, session: SessionDep, ops: AdminServiceDep, admin: AdminDep,
                          body: Reason | None = None) -> SessionsRevoked:
    return await ops.revoke_sessions(session, user_id, _operator(admin, body.reason if body else None))


@router.get("/clients", responses=problem_responses(401, 403))
async def list_clients(session: SessionDep, admin: AdminDep) -> list[ClientState]:
    return await service.list_clients(session)


@router.post("/clients/{client_id}/disable", responses=problem_responses(401, 403, 404, 422))
async def disable_client(client_id: ClientId, session: SessionDep, ops: AdminServiceDep, admin: AdminDep,
                         body: Reason | None = None) -> ClientChanged:
    return await ops.set_client_enabled(session, client_id, False, _operator(admin, body.reason if body else None))


@router.post("/clients/{client_id}/enable", responses=problem_responses(401, 403, 404, 422))
async def enable_client(client_id: ClientId, session: SessionDep, ops: AdminServiceDep, admin: AdminDep,
                        body: Reason | None = None) -> ClientChanged:
    return await ops.set_client_enabled(session, client_id, True, _operator(admin, body.reason if body else None))


@router.post("/clients/{client_id}/rotate-secret", responses=problem_responses(401, 403, 404, 422))
async def rotate_client_secret(client_id: ClientId, body: Rotation, session: SessionDep, ops: AdminServiceDep,
                               admin: AdminDep) -> RotatedSecret:
    """A new secret, shown once in this answer; the current one keeps working for ``overlapSeconds``."""
    return await ops.rotate_client_secret(session, client_id, timedelta(seconds=body.overlap_seconds),
                                          _operator(admin, body.reason))
