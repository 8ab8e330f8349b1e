"""Internal routes for recovery codes (auth calls them in 2FA management; a code is used by a code check)."""

from __future__ import annotations

from fastapi import APIRouter, status

from twofold_common.errors import problem_responses

from ..deps import FromAuth, RecoveryCodesDep
from ..schemas import SubjectPath
from .schemas import RecoveryCodeCount, RecoveryCodeSet

router = APIRouter(prefix="/internal/subjects/{subject}/recovery-codes", tags=["recovery codes"])


@router.post("", status_code=status.HTTP_201_CREATED, summary="Generate a new set, replacing the old one",
             responses=problem_responses(401, 403, 422))
async def regenerate_recovery_codes(_: FromAuth, subject: SubjectPath,
                                    codes: RecoveryCodesDep) -> RecoveryCodeSet:
    return RecoveryCodeSet(codes=await codes.regenerate(subject))


@router.get("", summary="How many unused codes the subject has", responses=problem_responses(401, 403, 422))
async def count_recovery_codes(_: FromAuth, subject: SubjectPath, codes: RecoveryCodesDep) -> RecoveryCodeCount:
    return RecoveryCodeCount(remaining=await codes.unused(subject))
