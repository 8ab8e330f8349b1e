"""Code checks: auth's internal route (every second factor of a person), the unlock of operators and resets, and the
public route third-party apps reach through the gateway.  Thin: the rules are in service.py."""

from __future__ import annotations

from fastapi import APIRouter

from twofold_common.errors import TooManyRequests, Unauthorized, problem_responses
from twofold_common.runtime import CallingAppDep

from ..deps import CodeChecksDep, FromAuth
from ..schemas import SUBJECT_MAX_LENGTH, SubjectPath
from .schemas import AppCode, AppVerdict, CheckAnswer, CheckCode, Unlocked

router = APIRouter(prefix="/internal", tags=["code checks"])
apps_router = APIRouter(prefix="/api/v1", tags=["third-party apps"])


@router.post("/verify", response_model_exclude_defaults=True,
             summary="Check a TOTP or recovery code under the subject's attempt limit and lock",
             responses=problem_responses(401, 403, 422, 503))
async def check_code(_: FromAuth, body: CheckCode, checks: CodeChecksDep) -> CheckAnswer:
    return await checks.check(body.subject, code=body.code, recovery_code=body.recovery_code, seed_id=body.seed_id)


@router.post("/subjects/{subject}/unlock", summary="Unlock the subject; its failed codes stop counting",
             responses=problem_responses(401, 403, 422))
async def unlock_subject(_: FromAuth, subject: SubjectPath, checks: CodeChecksDep) -> Unlocked:
    return Unlocked(unlocked=await checks.unlock(subject))


@apps_router.post("/verify", responses=problem_responses(401, 403, 422, 429, 503))
async def verify_app_code(body: AppCode, checks: CodeChecksDep, app: CallingAppDep) -> AppVerdict:
    """Check a code of one of the app's users (enrolled through the app's setup), under the same attempt limits
    as a person's: 5 codes per 15 minutes per account, and 10 wrong ones in an hour lock the account."""
    if app is None:
        raise Unauthorized("An app API key is required.", code="unauthenticated")
    if len(app) + 1 + len(body.account) > SUBJECT_MAX_LENGTH:
        return AppVerdict(valid=False)  # longer than any account an app can enroll: nothing to check
    answer = await checks.check_app_code(app, body.account, body.code)
    if answer.outcome == "limited":
        assert answer.retry_after is not None
        raise TooManyRequests("Too many attempts; try again later.", retry_after=answer.retry_after)
    return AppVerdict(valid=answer.valid)
