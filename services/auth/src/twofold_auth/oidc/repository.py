"""Every query on ``authorization_codes``, ``consents`` and ``logout_deliveries``.  Nothing here commits: the
caller's unit of work does."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import CursorResult, RowMapping
from sqlalchemy.dialects.postgresql import insert as upsert
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import authorization_codes, consents, logout_deliveries, users


async def insert(session: AsyncSession, *, token_hash: bytes, user_id: uuid.UUID, client_id: str, redirect_uri: str,
                 session_id: uuid.UUID, scopes: list[str], nonce: str | None, code_challenge: str,
                 auth_time: datetime, amr: list[str], expires_at: datetime) -> None:
    await session.execute(authorization_codes.insert().values(
        id=uuid.uuid4(), token_hash=token_hash, user_id=user_id, client_id=client_id, redirect_uri=redirect_uri,
        session_id=session_id, scopes=scopes, nonce=nonce, code_challenge=code_challenge, auth_time=auth_time,
        amr=amr, expires_at=expires_at,
    ))


async def find(session: AsyncSession, token_hash: bytes) -> RowMapping | None:
    """A code, spent or not, with its user's email."""
    return (await session.execute(
        sa.select(authorization_codes, users.c.email)
        .join(users, users.c.id == authorization_codes.c.user_id)
        .where(authorization_codes.c.token_hash == token_hash)
    )).mappings().first()


async def spend(session: AsyncSession, code_id: uuid.UUID, *, issued_session_id: uuid.UUID, now: datetime) -> bool:
    """Atomic spend: of two concurrent exchanges, one gets True and the other waits for its commit, then is a
    reuse that finds the winner's ``issued_session_id``."""
    spent = await session.scalar(
        sa.update(authorization_codes)
        .where(authorization_codes.c.id == code_id, authorization_codes.c.used_at.is_(None))
        .values(used_at=now, issued_session_id=issued_session_id)
        .returning(authorization_codes.c.id)
    )
    return spent is not None


async def issued_session(session: AsyncSession, code_id: uuid.UUID) -> uuid.UUID | None:
    return await session.scalar(
        sa.select(authorization_codes.c.issued_session_id).where(authorization_codes.c.id == code_id))


async def delete_old(session: AsyncSession, before: datetime) -> int:
    """Codes that expired before ``before``; returns how many."""
    result = await session.execute(sa.delete(authorization_codes).where(authorization_codes.c.expires_at < before))
    return cast(CursorResult[Any], result).rowcount


async def consented_scopes(session: AsyncSession, user_id: uuid.UUID, client_id: str) -> set[str]:
    """The scopes the person allowed this app so far (none: never asked, or never allowed)."""
    scopes = await session.scalar(sa.select(consents.c.scopes).where(consents.c.user_id == user_id,
                                                                    consents.c.client_id == client_id))
    return set(scopes or ())


async def grant(session: AsyncSession, user_id: uuid.UUID, client_id: str, scopes: list[str]) -> None:
    """What the person allowed the app from now on: ``scopes`` replace the earlier grant's."""
    row = {"user_id": user_id, "client_id": client_id, "scopes": scopes}
    statement = upsert(consents).values(row)
    await session.execute(statement.on_conflict_do_update(
        index_elements=[consents.c.user_id, consents.c.client_id],
        set_={"scopes": statement.excluded.scopes, "granted_at": sa.func.now()}))
@dataclass(frozen=True)
class LogoutDelivery:
    session_id: uuid.UUID
    client_id: str
    user_id: uuid.UUID
    sid: uuid.UUID
    uri: str
    created_at: datetime
    failures: int


async def add_delivery(session: AsyncSession, *, session_id: uuid.UUID, client_id: str, user_id: uuid.UUID,
                       sid: uuid.UUID, uri: str) -> None:
    """One delivery per app session, however often its end is heard."""
    await session.execute(upsert(logout_deliveries).values(
        session_id=session_id, client_id=client_id, user_id=user_id, sid=sid, uri=uri,
    ).on_conflict_do_nothing(index_elements=[logout_deliveries.c.session_id]))


async def due_deliveries(session: AsyncSession, now: datetime, limit: int) -> list[LogoutDelivery]:
    """Deliveries waiting for their next attempt, the longest waiting first, held until the caller's commit."""
    pending = sa.and_(logout_deliveries.c.delivered_at.is_(None), logout_deliveries.c.abandoned_at.is_(None))
    rows = (await session.execute(
        sa.select(logout_deliveries.c.session_id, logout_deliveries.c.client_id, logout_deliveries.c.user_id,
                  logout_deliveries.c.sid, logout_deliveries.c.uri, logout_deliveries.c.created_at,
                  logout_deliveries.c.failures)
        .where(pending, logout_deliveries.c.next_attempt_at <= now)
        .order_by(logout_deliveries.c.next_attempt_at).limit(limit)
        .with_for_update(skip_locked=True)
    )).all()
    return [LogoutDelivery(**row._mapping) for row in rows]


async def delivered(session: AsyncSession, session_id: uuid.UUID, now: datetime) -> None:
    await session.execute(sa.update(logout_deliveries).where(logout_deliveries.c.session_id == session_id)
                          .values(delivered_at=now))


async def failed(session: AsyncSession, session_id: uuid.UUID, *, failures: int, error: str,
                 retry_at: datetime | None, now: datetime) -> None:
    """A failed attempt: tried again at ``retry_at``, or given up when it is None."""
    values = {"next_attempt_at": retry_at} if retry_at is not None else {"abandoned_at": now}
    await session.execute(sa.update(logout_deliveries).where(logout_deliveries.c.session_id == session_id)
                          .values(failures=failures, last_error=error[:200], **values))


async def delete_finished_deliveries(session: AsyncSession, before: datetime) -> int:
    """Deliveries done (delivered or given up) before ``before``; returns how many."""
    result = await session.execute(sa.delete(logout_deliveries).where(
        sa.or_(logout_deliveries.c.delivered_at < before, logout_deliveries.c.abandoned_at < before)))
    return cast(CursorResult[Any], result).rowcount
