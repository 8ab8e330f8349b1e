from __future__ import annotations

from fastapi import APIRouter, status

from twofold_common.errors import problem_responses
from twofold_common.runtime import SessionDep

from ..deps import FromAuth
from ..schemas import SubjectPath
from .service import shred_subject

router = APIRouter(prefix="/internal/subjects", tags=["subjects"])


@router.delete("/{subject}", status_code=status.HTTP_204_NO_CONTENT,
               summary="Delete every seed and recovery code of the subject",
               responses=problem_responses(401, 403, 422))
async def delete_subject(_: FromAuth, subject: SubjectPath, session: SessionDep) -> None:
    await shred_subject(session, subject)
