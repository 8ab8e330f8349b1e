from fastapi import APIRouter

from twofold_common.errors import Unauthorized, problem_responses
from twofold_common.runtime import CallingAppDep

from ..deps import AuthDep, CallerDep, SignedInDep
from ..sessions.schemas import TokenPair
from . import second_factor, service
from .schemas import (
    AppCode,
    AppVerdict,
    ChallengeAnswer,
    EmailCode,
    LoginResponse,
    PasswordLogin,
    PasswordSignin,
    StepUp,
    Verified,
)
from .second_factor import SecondFactor

router = APIRouter(prefix="/api/auth", tags=["login"])


@router.post("/login", response_model_exclude_none=True, responses=problem_responses(401, 422, 429))
async def login(body: PasswordLogin, auth: AuthDep, caller: CallerDep) -> LoginResponse:
    """Step 1: the password. Never a session: a challenge for the second factor, or a setup token."""
    return await service.password_step(auth, body.email, body.password, caller)


@router.post("/login/2fa", responses=problem_responses(401, 422, 429, 503))
async def login_second_factor(body: ChallengeAnswer, auth: AuthDep, caller: CallerDep) -> TokenPair:
    """Step 2: a TOTP code or a recovery code with the challenge; the session starts here."""
    factor = SecondFactor(code=body.code, recovery_code=body.recovery_code)
    return await service.challenge_step(auth, body.challenge_token, factor, caller)


@router.post("/verify-2fa-internal", responses=problem_responses(401, 422, 429, 503))
async def verify_2fa_internal(body: EmailCode, auth: AuthDep, caller: CallerDep) -> Verified:
    """The second factor of a password login, with the challenge that login gave (then ``signin-with-2fa``)."""
    return Verified(verified_at=await service.verify_code_for_login(auth, body.email, body.challenge_token,
                                                                    body.code, caller))


@router.post("/signin-with-2fa", responses=problem_responses(401, 422, 429))
async def signin_with_2fa(body: PasswordSignin, auth: AuthDep, caller: CallerDep) -> TokenPair:
    """A session, only if ``verify-2fa-internal`` verified this login's challenge."""
    return await service.signin_after_verification(auth, body.email, body.password, body.challenge_token, caller)


@router.post("/verify-2fa", responses=problem_responses(401, 403, 422, 429, 503))
async def verify_2fa(body: StepUp, auth: AuthDep, caller: CallerDep, me: SignedInDep) -> Verified:
    """Step-up: a signed-in user proves the second factor again."""
    return Verified(verified_at=await service.step_up(auth, me.user_id, body.code, caller))


apps_router = APIRouter(prefix="/api/v1", tags=["third-party apps"])


@apps_router.post("/verify", responses=problem_responses(401, 403, 422, 429, 503))
async def verify_app_code(body: AppCode, auth: AuthDep, caller: CallerDep, app: CallingAppDep) -> AppVerdict:
    """Check a code of one of the app's users (enrolled through the app's setup), under the same attempt limits."""
    if app is None:
        raise Unauthorized("An app API key is required.", code="unauthenticated")
    return AppVerdict(valid=await second_factor.check_app_code(auth, app, body.account, body.code, caller))
