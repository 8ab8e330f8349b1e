import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from twofold_common.errors import problem_responses
from twofold_common.runtime import SessionDep

from ..deps import AdminDep, SignedInDep
from . import service
from .schemas import AuditPage

router = APIRouter(prefix="/api/auth", tags=["accounts"])
admin_router = APIRouter(prefix="/api/admin", tags=["admin"])


@router.get("/audit", responses=problem_responses(401, 403))
async def my_audit(session: SessionDep, me: SignedInDep,
                   before: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None) -> AuditPage:
    return AuditPage(entries=await service.entries(session, user_id=me.user_id, before=before))


@admin_router.get("/audit", responses=problem_responses(401, 403))
async def audit(session: SessionDep, admin: AdminDep, user_id: uuid.UUID | None = None,
                before: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None) -> AuditPage:
    return AuditPage(entries=await service.entries(session, user_id=user_id, before=before))
