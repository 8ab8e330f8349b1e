"""Sessions and refresh tokens: created only after both factors, rotated on every refresh.

A session ends after ``session_idle_seconds`` without a signed-in request
or refresh, and ``session_seconds`` after sign-in (``lifetime``).  A
refresh token is single-use.  Presenting one that was already used means
two parties hold it (a stolen copy, or a client bug), so the whole session is
revoked: both parties must sign in again, and only the owner can.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from twofold_common.errors import NotFound, Unauthorized
from twofold_common.events import SessionRevoked
from twofold_common.outbox import publish

from ..audit import Caller
from ..deps import Auth
from ..models import refresh_tokens, sessions, users
from ..settings import AuthSettings
from .lifetime import IDLE_TIMEOUT, is_idle, live_session, session_end
from .schemas import SessionView, TokenPair

SOURCE = "/auth"


async def start_session(session: AsyncSession, auth: Auth, *, user_id: uuid.UUID, email: str,
                        amr: list[str], caller: Caller) -> TokenPair:
    now = datetime.now(UTC)
    session_id = uuid.uuid4()
    ends = session_end(auth.settings, now)
    await session.execute(sessions.insert().values(
        id=session_id, user_id=user_id, amr=amr, ip=caller.ip, user_agent=caller.user_agent,
        created_at=now, last_activity_at=now, expires_at=ends,
    ))
    return await _issue_pair(session, auth, session_id=session_id, user_id=user_id, email=email, amr=amr, now=now,
                             ends=ends)


async def _issue_pair(session: AsyncSession, auth: Auth, *, session_id: uuid.UUID, user_id: uuid.UUID,
                      email: str, amr: list[str], now: datetime, ends: datetime) -> TokenPair:
    """A refresh token and an access token, neither outliving the session (``ends``)."""
    refresh, refresh_hash = auth.hasher.new("rt")
    await session.execute(refresh_tokens.insert().values(
        id=uuid.uuid4(), token_hash=refresh_hash, session_id=session_id,
        expires_at=min(now + timedelta(seconds=auth.settings.refresh_token_seconds), ends),
    ))
    access, expires = auth.issuer.access_token(user_id=user_id, session_id=session_id, amr=amr, email=email,
                                               session_ends=ends)
    return TokenPair(access_token=access, refresh_token=refresh, expires_in=max(0, expires - int(now.timestamp())),
                     session_id=session_id)


async def rotate_refresh_token(auth: Auth, token: str) -> TokenPair:
    """Spend ``token`` and return a new pair; a spent token revokes its session."""
    invalid = Unauthorized("Invalid refresh token.", code="invalid-refresh-token")
    now = datetime.now(UTC)
    async with auth.db.transaction() as session:
        row = (await session.execute(
            sa.select(refresh_tokens.c.id, refresh_tokens.c.expires_at, refresh_tokens.c.session_id,
                      sessions.c.user_id, sessions.c.amr, sessions.c.revoked_at, sessions.c.expires_at.label("ends"),
                      sessions.c.last_activity_at, users.c.email)
            .join(sessions, sessions.c.id == refresh_tokens.c.session_id)
            .join(users, users.c.id == sessions.c.user_id)
            .where(refresh_tokens.c.token_hash == auth.hasher.hash(token))
        )).first()
        if row is None:
            raise invalid
        # Atomic spend: of two concurrent uses, one wins and the other is a reuse.
        spent = await session.scalar(
            sa.update(refresh_tokens).where(refresh_tokens.c.id == row.id, refresh_tokens.c.used_at.is_(None))
            .values(used_at=now).returning(refresh_tokens.c.id)
        )
        reused = spent is None
        if reused and row.revoked_at is None:
            await revoke(session, session_id=row.session_id, user_id=row.user_id, reason="refresh-token-reuse")
        live = not reused and row.revoked_at is None and row.ends > now and row.expires_at > now
        if live and is_idle(auth.settings, row.last_activity_at, now):
            await revoke(session, session_id=row.session_id, user_id=row.user_id, reason=IDLE_TIMEOUT)
        elif live:
            # a refresh is activity: the idle timeout starts again
            await session.execute(sa.update(sessions).where(sessions.c.id == row.session_id)
                                  .values(last_activity_at=now))
            return await _issue_pair(session, auth, session_id=row.session_id, user_id=row.user_id,
                                     email=row.email, amr=list(row.amr), now=now, ends=row.ends)
    raise invalid  # after the commit: a reuse's or an idle session's revocation stays


async def revoke(session: AsyncSession, *, session_id: uuid.UUID, user_id: uuid.UUID, reason: str) -> bool:
    revoked = await session.scalar(
        sa.update(sessions)
        .where(sessions.c.id == session_id, sessions.c.user_id == user_id, sessions.c.revoked_at.is_(None))
        .values(revoked_at=sa.func.now(), revoked_reason=reason)
        .returning(sessions.c.id)
    )
    if revoked is None:
        return False
    await publish(session, SessionRevoked(user_id=user_id, session_id=session_id, reason=reason), source=SOURCE)
    return True


async def revoke_all(session: AsyncSession, *, user_id: uuid.UUID, reason: str) -> int:
    live = (await session.scalars(
        sa.select(sessions.c.id).where(sessions.c.user_id == user_id, sessions.c.revoked_at.is_(None))
    )).all()
    for session_id in live:
        await revoke(session, session_id=session_id, user_id=user_id, reason=reason)
    return len(live)


async def revoke_one(session: AsyncSession, *, user_id: uuid.UUID, session_id: uuid.UUID) -> None:
    if not await revoke(session, session_id=session_id, user_id=user_id, reason="revoked-by-user"):
        raise NotFound("No such live session.", code="session-not-found")


async def list_sessions(session: AsyncSession, settings: AuthSettings, *, user_id: uuid.UUID,
                        current: uuid.UUID) -> list[SessionView]:
    rows = (await session.execute(
        sa.select(sessions).where(sessions.c.user_id == user_id, *live_session(settings, datetime.now(UTC)))
        .order_by(sessions.c.last_activity_at.desc())
    )).mappings()
    return [SessionView(id=r["id"], ip=str(r["ip"]) if r["ip"] else None, user_agent=r["user_agent"],
                        amr=list(r["amr"]), created_at=r["created_at"], last_activity_at=r["last_activity_at"],
                        expires_at=r["expires_at"], current=r["id"] == current) for r in rows]
