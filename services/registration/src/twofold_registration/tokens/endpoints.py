from fastapi import APIRouter

from twofold_common.errors import Unauthorized, problem_responses
from twofold_common.runtime import SessionDep

from ..deps import EnrollmentsDep, StarterDep
from . import service
from .schemas import (
    ConfirmSetup,
    RegistrationStatus,
    ResumeSetup,
    SetupCompleted,
    SetupResumed,
    SetupStarted,
    StartSetup,
)
from .service import Starter

router = APIRouter(prefix="/api/auth", tags=["enrollment"])


@router.post("/setup-2fa", status_code=201, response_model_exclude_none=True,
             responses=problem_responses(401, 403, 404, 409, 422, 503))
async def setup_2fa(body: StartSetup, session: SessionDep, enrollments: EnrollmentsDep,
                    starter: StarterDep) -> SetupStarted:
    """Start enrolling an authenticator: a deep link to the provider (``legitate``), or an
    ``otpauth://`` URI and QR code for any authenticator app (``native``, then ``/setup-2fa/confirm``).

    A person calls it with a setup token: the one from registration (or a password login of an account
    still in setup) opens setup only while the account has no authenticator (409 ``already-enrolled``
    after); the one from ``/api/auth/2fa/re-enroll`` replaces the current authenticator. A session's
    access token alone gets 403 ``setup-token-required``."""
    return await enrollments.start(session, starter, body)


@router.post("/setup-2fa/confirm", responses=problem_responses(400, 404, 409, 410, 422, 429, 503))
async def confirm_setup(body: ConfirmSetup, enrollments: EnrollmentsDep) -> SetupCompleted:
    """Finish a native enrollment with the first code the authenticator app shows (5 codes per 15
    minutes). A first enrollment answers with the account's recovery codes: shown this once."""
    return await enrollments.confirm_native(body)


@router.post("/setup-2fa/resume", response_model_exclude_none=True, responses=problem_responses(404, 422, 503))
async def resume_setup(body: ResumeSetup, session: SessionDep, enrollments: EnrollmentsDep) -> SetupResumed:
    """The way on with a registration, for its token's holder: the provider's link, or the authenticator app's
    URI and QR code again, while it is pending; its state once it is not. The pages use it when an app sends
    its user to ``/ui/enroll/app`` and when a person comes back to a step."""
    return await enrollments.resume(session, body.registration_token)


@router.get("/registrations/{registration_token}", responses=problem_responses(401, 404))
async def registration_status(registration_token: str, session: SessionDep, starter: StarterDep) -> RegistrationStatus:
    """The state of a registration, for whoever started it."""
    return await service.read_status(session, registration_token, starter)


apps_router = APIRouter(prefix="/api/v1", tags=["third-party apps"])


def app_only(starter: Starter) -> Starter:
    if starter.client_id is None:
        raise Unauthorized("An app API key is required.", code="unauthenticated")
    return starter


@apps_router.post("/setup", status_code=201, response_model_exclude_none=True,
                  responses=problem_responses(401, 403, 404, 422, 503))
async def app_setup(body: StartSetup, session: SessionDep, enrollments: EnrollmentsDep,
                    starter: StarterDep) -> SetupStarted:
    """An app starts 2FA setup for one of its users (``account``), optionally with a registered ``callbackUrl``."""
    return await enrollments.start(session, app_only(starter), body)


@apps_router.get("/registrations/{registration_token}", responses=problem_responses(401, 404))
async def app_registration_status(registration_token: str, session: SessionDep,
                                  starter: StarterDep) -> RegistrationStatus:
    return await service.read_status(session, registration_token, app_only(starter))
