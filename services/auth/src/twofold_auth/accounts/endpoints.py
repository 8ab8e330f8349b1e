import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import JSONResponse
from fastapi.security import HTTPBasic, HTTPBasicCredentials

from twofold_common.errors import Forbidden, NotFound, problem_responses
from twofold_common.runtime import SessionDep

from ..clients import service as clients
from ..deps import AuthDep, CallerDep, SignedInDep
from ..login.second_factor import SecondFactor, unlock
from . import service
from .schemas import (
    Adoption,
    AuditPage,
    FreshCode,
    RecoveryCodes,
    Registered,
    Registration,
    RegistrationAccepted,
    SetupToken,
    TwoFactorStatus,
)

router = APIRouter(prefix="/api/auth", tags=["accounts"])
admin_router = APIRouter(prefix="/api/admin", tags=["admin"])


@router.post("/register", status_code=201, response_model=Registered, responses={
    **problem_responses(409, 422),
    202: {"model": RegistrationAccepted, "description": "Registration received; the same answer whether or not "
                                                        "the email had an account (AUTH_CONCEAL_REGISTERED_EMAILS)"},
})
async def register(body: Registration, session: SessionDep, auth: AuthDep, caller: CallerDep) -> Registered | Response:
    """Creates a ``pending_2fa`` account and a setup token; no session until a TOTP authenticator is enrolled."""
    registered = await service.register(session, auth, body, caller)
    if isinstance(registered, RegistrationAccepted):
        return JSONResponse(registered.model_dump(mode="json", by_alias=True), status_code=202)
    return registered


@router.get("/2fa/status", responses=problem_responses(401, 403, 503))
async def two_factor_status(session: SessionDep, auth: AuthDep, me: SignedInDep) -> TwoFactorStatus:
    return await service.two_factor_status(session, auth, me.user_id)


@router.post("/2fa/recovery-codes", status_code=201, responses=problem_responses(401, 403, 422, 429, 503))
async def regenerate_recovery_codes(body: FreshCode, auth: AuthDep, caller: CallerDep,
                                    me: SignedInDep) -> RecoveryCodes:
    """A new set of recovery codes, shown once; the old set stops working."""
    return RecoveryCodes(codes=await service.regenerate_recovery_codes(auth, me.user_id, _factor(body), caller))


@router.post("/2fa/re-enroll", responses=problem_responses(401, 403, 422, 429, 503))
async def reenroll(body: FreshCode, auth: AuthDep, caller: CallerDep, me: SignedInDep) -> SetupToken:
    """A setup token that replaces the current authenticator, for a fresh code (or a recovery code)."""
    return await service.start_reenrollment(auth, me.user_id, _factor(body), caller)


@router.post("/account/delete", status_code=204, responses=problem_responses(401, 403, 422, 429, 503))
async def delete_account(body: FreshCode, auth: AuthDep, caller: CallerDep, me: SignedInDep) -> Response:
    await service.delete_account(auth, me.user_id, _factor(body), caller)
    return Response(status_code=204)


def _factor(body: FreshCode) -> SecondFactor:
    return SecondFactor(code=body.code, recovery_code=body.recovery_code)


@router.get("/audit", responses=problem_responses(401, 403))
async def my_audit(session: SessionDep, me: SignedInDep,
                   before: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None) -> AuditPage:
    return AuditPage(entries=await service.audit_entries(session, user_id=me.user_id, before=before))


async def require_admin(auth: AuthDep, credentials: Annotated[HTTPBasicCredentials, Depends(HTTPBasic())]) -> str:
    async with auth.db.transaction() as session:
        client = await clients.authenticate(session, auth.hasher, credentials.username, credentials.password)
    if "admin" not in client.scopes:
        raise Forbidden("This client has no admin scope.", code="scope-missing")
    return client.id


AdminDep = Annotated[str, Depends(require_admin)]


@admin_router.get("/audit", responses=problem_responses(401, 403))
async def audit(session: SessionDep, admin: AdminDep, user_id: uuid.UUID | None = None,
                before: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None) -> AuditPage:
    return AuditPage(entries=await service.audit_entries(session, user_id=user_id, before=before))


@admin_router.get("/adoption", responses=problem_responses(401, 403))
async def adoption(session: SessionDep, admin: AdminDep) -> Adoption:
    """Share of users who completed 2FA enrollment."""
    return await service.adoption(session)


@admin_router.post("/users/{user_id}/unlock", status_code=204, responses=problem_responses(401, 403, 404))
async def unlock_user(user_id: uuid.UUID, session: SessionDep, auth: AuthDep, admin: AdminDep) -> Response:
    if not await unlock(session, auth, user_id, by="admin", caller=None):
        raise NotFound("No locked user with this id.", code="user-not-locked")
    return Response(status_code=204)


