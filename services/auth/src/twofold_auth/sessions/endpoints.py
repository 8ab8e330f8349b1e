import uuid

from fastapi import APIRouter, Response

from twofold_common.errors import problem_responses
from twofold_common.runtime import SessionDep

from ..deps import AuthDep, SignedInDep
from . import service
from .schemas import RefreshRequest, SessionList, TokenPair

router = APIRouter(prefix="/api/auth", tags=["sessions"])


@router.post("/token/refresh", responses=problem_responses(401, 422))
async def refresh(body: RefreshRequest, auth: AuthDep) -> TokenPair:
    """Spend a refresh token for a new pair. A token used twice ends its session."""
    return await service.rotate_refresh_token(auth, body.refresh_token)


@router.post("/logout", status_code=204, responses=problem_responses(401, 403))
async def logout(session: SessionDep, me: SignedInDep) -> Response:
    await service.revoke(session, session_id=me.session_id, user_id=me.user_id, reason="logout")
    return Response(status_code=204)


@router.get("/sessions", responses=problem_responses(401, 403))
async def list_sessions(session: SessionDep, auth: AuthDep, me: SignedInDep) -> SessionList:
    return SessionList(sessions=await service.list_sessions(session, auth.settings, user_id=me.user_id,
                                                            current=me.session_id))


@router.delete("/sessions/{session_id}", status_code=204, responses=problem_responses(401, 403, 404))
async def revoke_session(session_id: uuid.UUID, session: SessionDep, me: SignedInDep) -> Response:
    await service.revoke_one(session, user_id=me.user_id, session_id=session_id)
    return Response(status_code=204)


@router.delete("/sessions", status_code=204, responses=problem_responses(401, 403))
async def revoke_all_sessions(session: SessionDep, me: SignedInDep) -> Response:
    await service.revoke_all(session, user_id=me.user_id, reason="revoked-by-user")
    return Response(status_code=204)
