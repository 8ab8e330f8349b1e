import uuid

from fastapi import APIRouter, Response

from twofold_common.errors import problem_responses
from twofold_common.runtime import SessionDep

from ..deps import SessionsDep, SignedInDep
from .schemas import RefreshRequest, SessionList, TokenPair

router = APIRouter(prefix="/api/auth", tags=["sessions"])


@router.post("/token/refresh", responses=problem_responses(401, 422))
async def refresh(body: RefreshRequest, sessions: SessionsDep) -> TokenPair:
    """Spend a refresh token for a new pair. A token used twice ends its session."""
    return await sessions.rotate(body.refresh_token)


@router.post("/logout", status_code=204, responses=problem_responses(401, 403))
async def logout(session: SessionDep, sessions: SessionsDep, me: SignedInDep) -> Response:
    await sessions.revoke(session, session_id=me.session_id, user_id=me.user_id, reason="logout")
    return Response(status_code=204)


@router.get("/sessions", responses=problem_responses(401, 403))
async def list_sessions(session: SessionDep, sessions: SessionsDep, me: SignedInDep) -> SessionList:
    return SessionList(sessions=await sessions.list(session, user_id=me.user_id, current=me.session_id))


@router.delete("/sessions/{session_id}", status_code=204, responses=problem_responses(401, 403, 404))
async def revoke_session(session_id: uuid.UUID, session: SessionDep, sessions: SessionsDep,
                         me: SignedInDep) -> Response:
    await sessions.revoke_one(session, user_id=me.user_id, session_id=session_id)
    return Response(status_code=204)


@router.delete("/sessions", status_code=204, responses=problem_responses(401, 403))
async def revoke_all_sessions(session: SessionDep, sessions: SessionsDep, me: SignedInDep) -> Response:
    await sessions.revoke_all(session, user_id=me.user_id, reason="revoked-by-user")
    return Response(status_code=204)
