from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from twofold_common.errors import problem_responses
from twofold_common.runtime import SessionDep

from ..deps import AccountsDep, AdminDep, BearerDep, CallerDep, SignedInDep
from ..second_factor.service import SecondFactor
from . import service
from .schemas import (
    Adoption,
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
async def register(body: Registration, session: SessionDep, accounts: AccountsDep,
                   caller: CallerDep) -> Registered | Response:
    """Creates a ``pending_2fa`` account and a setup token; no session until a TOTP authenticator is enrolled."""
    registered = await accounts.register(session, body, caller)
    if isinstance(registered, RegistrationAccepted):
        return JSONResponse(registered.model_dump(mode="json", by_alias=True), status_code=202)
    return registered


@router.get("/2fa/status", responses=problem_responses(401, 403, 503))
async def two_factor_status(session: SessionDep, accounts: AccountsDep, me: SignedInDep) -> TwoFactorStatus:
    return await accounts.two_factor_status(session, me.user_id)


# Each change below asks a fresh second factor; the check owns its transactions (second_factor.service).

@router.post("/2fa/recovery-codes", status_code=201, responses=problem_responses(401, 403, 422, 429, 503))
async def regenerate_recovery_codes(body: FreshCode, accounts: AccountsDep, caller: CallerDep,
                                    me: BearerDep) -> RecoveryCodes:
    """A new set of recovery codes, shown once; the old set stops working."""
    return RecoveryCodes(codes=await accounts.regenerate_recovery_codes(me, _factor(body), caller))


@router.post("/2fa/re-enroll", responses=problem_responses(401, 403, 422, 429, 503))
async def reenroll(body: FreshCode, accounts: AccountsDep, caller: CallerDep, me: BearerDep) -> SetupToken:
    """A setup token that replaces the current authenticator, for a fresh code (or a recovery code)."""
    return await accounts.start_reenrollment(me, _factor(body), caller)


@router.post("/account/delete", status_code=204, responses=problem_responses(401, 403, 422, 429, 503))
async def delete_account(body: FreshCode, accounts: AccountsDep, caller: CallerDep, me: BearerDep) -> Response:
    await accounts.delete(me, _factor(body), caller)
    return Response(status_code=204)


def _factor(body: FreshCode) -> SecondFactor:
    return SecondFactor(code=body.code, recovery_code=body.recovery_code)


@admin_router.get("/adoption", responses=problem_responses(401, 403))
async def adoption(session: SessionDep, admin: AdminDep) -> Adoption:
    """Share of users who completed 2FA enrollment."""
    return await service.adoption(session)

