from fastapi import APIRouter

from twofold_common.errors import problem_responses

from ..deps import BearerDep, CallerDep, LoginDep
from ..second_factor.service import SecondFactor
from ..sessions.schemas import TokenPair
from .schemas import (
    ChallengeAnswer,
    EmailCode,
    LoginResponse,
    PasswordLogin,
    PasswordSignin,
    StepUp,
    Verified,
)

router = APIRouter(prefix="/api/auth", tags=["login"])


@router.post("/login", response_model_exclude_none=True, responses=problem_responses(401, 422, 429))
async def login(body: PasswordLogin, login: LoginDep, caller: CallerDep) -> LoginResponse:
    """Step 1: the password. Never a session: a challenge for the second factor, or a setup token."""
    return await login.password_step(body.email, body.password, caller)


@router.post("/login/2fa", responses=problem_responses(401, 422, 429, 503))
async def login_second_factor(body: ChallengeAnswer, login: LoginDep, caller: CallerDep) -> TokenPair:
    """Step 2: a TOTP code or a recovery code with the challenge; the session starts here."""
    factor = SecondFactor(code=body.code, recovery_code=body.recovery_code)
    return await login.challenge_step(body.challenge_token, factor, caller)


@router.post("/verify-2fa-internal", responses=problem_responses(401, 422, 429, 503))
async def verify_2fa_internal(body: EmailCode, login: LoginDep, caller: CallerDep) -> Verified:
    """The second factor of a password login, with the challenge that login gave (then ``signin-with-2fa``)."""
    return Verified(verified_at=await login.verify_code_for_login(body.email, body.challenge_token, body.code,
                                                                  caller))


@router.post("/signin-with-2fa", responses=problem_responses(401, 422, 429))
async def signin_with_2fa(body: PasswordSignin, login: LoginDep, caller: CallerDep) -> TokenPair:
    """A session, only if ``verify-2fa-internal`` verified this login's challenge."""
    return await login.signin_after_verification(body.email, body.password, body.challenge_token, caller)


@router.post("/verify-2fa", responses=problem_responses(401, 403, 422, 429, 503))
async def verify_2fa(body: StepUp, login: LoginDep, caller: CallerDep, me: BearerDep) -> Verified:
    """Step-up: a signed-in user proves the second factor again."""
    return Verified(verified_at=await login.step_up(me, body.code, caller))
