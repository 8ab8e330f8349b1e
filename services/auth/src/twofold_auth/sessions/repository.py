"""Every query on ``sessions`` and ``refresh_tokens``.  Nothing here commits: the caller's unit of work does."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import CursorResult, RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import refresh_tokens, sessions, users


def _live(now: datetime, idle: timedelta) -> tuple[sa.ColumnElement[bool], ...]:
    """A session neither revoked, past its end, nor idle for ``idle``."""
    return (sessions.c.revoked_at.is_(None), sessions.c.expires_at > now, sessions.c.last_activity_at > now - idle)


@dataclass(frozen=True)
class RefreshTokenRow:
    id: uuid.UUID
    expires_at: datetime
    session_id: uuid.UUID
    user_id: uuid.UUID
    amr: list[str]
    revoked_at: datetime | None
    ends: datetime
    last_activity_at: datetime
    email: str
    auth_time: datetime
    client_id: str | None  # an app's session (OpenID Connect): its client, scopes and the person's session
    scopes: list[str] | None
    parent_id: uuid.UUID | None


@dataclass(frozen=True)
class AppSession:
    """What an app's session was granted (OpenID Connect), for its refresh tokens and its access tokens."""

    client_id: str
    scopes: list[str]
    parent_id: uuid.UUID  # the person's session that authorized it


def _session_start() -> sa.Insert:
    """The statement of ``insert_session``, built once, with parameters under names no column has (one named as a
    column would be taken for a value to set)."""
    now = sa.bindparam("started_at", type_=sa.DateTime(timezone=True))
    started = sessions.insert().values(
        id=sa.bindparam("new_session_id"), user_id=sa.bindparam("of_user"), amr=sa.bindparam("factors"),
        ip=sa.bindparam("from_ip"), user_agent=sa.bindparam("from_user_agent"), created_at=now,
        last_activity_at=now, expires_at=sa.bindparam("ends"), auth_time=sa.bindparam("authenticated_at"),
        client_id=sa.bindparam("of_client"), scopes=sa.bindparam("granted"), parent_id=sa.bindparam("parent"),
    ).cte("started")
    # the token's foreign key is checked at the statement's end, when the session's row is there
    return refresh_tokens.insert().values(
        id=sa.bindparam("new_token_id"), token_hash=sa.bindparam("new_token_hash"),
        session_id=sa.bindparam("new_session_id"), expires_at=sa.bindparam("new_token_expires_at"),
    ).add_cte(started)


_SESSION_START = _session_start()


async def insert_session(session: AsyncSession, *, session_id: uuid.UUID, user_id: uuid.UUID, amr: list[str],
                         ip: str | None, user_agent: str | None, now: datetime, ends: datetime, refresh_hash: bytes,
                         refresh_expires_at: datetime, auth_time: datetime | None = None,
                         app: AppSession | None = None) -> None:
    """A session with its first refresh token, in one round trip."""
    await session.execute(_SESSION_START, {
        "new_session_id": session_id, "of_user": user_id, "factors": amr, "from_ip": ip, "from_user_agent": user_agent,
        "started_at": now, "ends": ends, "authenticated_at": auth_time or now,
        "of_client": app.client_id if app else None, "granted": app.scopes if app else None,
        "parent": app.parent_id if app else None,
        "new_token_id": uuid.uuid4(), "new_token_hash": refresh_hash, "new_token_expires_at": refresh_expires_at,
    })


@dataclass(frozen=True)
class Rotation:
    """What a refresh token's rotation found (``token``, as it was before), whether it spent the token now (False:
    it was spent before, a reuse), and whether it issued the new one (the session was live and not idle)."""

    token: RefreshTokenRow
    spent: bool
    issued: bool


def _rotation() -> sa.Select[Any]:
    """The statement of ``rotate_refresh_token``, built once. Its parameters are bound per call, under names no
    column of the updated tables has (a parameter named as a column would be taken for a value to set)."""
    now = sa.bindparam("now", type_=sa.DateTime(timezone=True))
    client_id = sa.bindparam("of_client", type_=sa.String)
    found = (
        sa.select(refresh_tokens.c.id, refresh_tokens.c.expires_at, refresh_tokens.c.session_id,
                  sessions.c.user_id, sessions.c.amr, sessions.c.revoked_at, sessions.c.expires_at.label("ends"),
                  sessions.c.last_activity_at, users.c.email, sessions.c.auth_time, sessions.c.client_id,
                  sessions.c.scopes, sessions.c.parent_id)
        .join(sessions, sessions.c.id == refresh_tokens.c.session_id)
        .join(users, users.c.id == sessions.c.user_id)
        .where(refresh_tokens.c.token_hash == sa.bindparam("presented_hash", type_=sa.LargeBinary))
    ).cte("found")
    spent = (
        sa.update(refresh_tokens)
        .where(refresh_tokens.c.id == found.c.id, refresh_tokens.c.used_at.is_(None),
               found.c.client_id.is_not_distinct_from(client_id))
        .values(used_at=now).returning(refresh_tokens.c.id)
    ).cte("spent")
    touched = (
        sa.update(sessions)
        .where(sessions.c.id == found.c.session_id, found.c.id.in_(sa.select(spent.c.id)), found.c.expires_at > now,
               sessions.c.revoked_at.is_(None), sessions.c.expires_at > now,
               sessions.c.last_activity_at > sa.bindparam("idle_since", type_=sa.DateTime(timezone=True)))
        .values(last_activity_at=now).returning(sessions.c.id, sessions.c.expires_at)
    ).cte("touched")
    issued = (
        sa.insert(refresh_tokens)
        .from_select(["id", "token_hash", "session_id", "expires_at"],
                     sa.select(sa.bindparam("new_id", type_=sa.Uuid), sa.bindparam("new_hash", type_=sa.LargeBinary),
                               touched.c.id,
                               sa.func.least(touched.c.expires_at,
                                             sa.bindparam("new_expires_at", type_=sa.DateTime(timezone=True)))))
        .returning(refresh_tokens.c.id)
    ).cte("issued")
    return sa.select(found, sa.exists(sa.select(spent.c.id)).label("spent"),
                     sa.exists(sa.select(issued.c.id)).label("issued"))


_ROTATION = _rotation()


async def rotate_refresh_token(session: AsyncSession, *, token_hash: bytes, client_id: str | None, new_id: uuid.UUID,
                               new_hash: bytes, now: datetime, idle: timedelta, lifetime: timedelta) -> Rotation | None:
    """A refresh token's whole rotation in one statement (one round trip): find the token with its session, spend
    it (only a token of ``client_id``'s session, only if unused: of two concurrent uses one spends it and the other
    is a reuse), and if the session is live and not idle, mark the activity and insert the new token, which never
    outlives the session. None: no such token. Revoking after a reuse or an idle session is the caller's."""
    row = (await session.execute(_ROTATION, {
        "presented_hash": token_hash, "of_client": client_id, "now": now, "idle_since": now - idle,
        "new_id": new_id, "new_hash": new_hash, "new_expires_at": now + lifetime,
    })).first()
    if row is None:
        return None
    fields = dict(row._mapping)
    spent_now, issued_now = fields.pop("spent"), fields.pop("issued")
    return Rotation(RefreshTokenRow(**fields), spent=spent_now, issued=issued_now)


async def touch_if_live(session: AsyncSession, *, session_id: uuid.UUID, user_id: uuid.UUID, now: datetime,
                        idle: timedelta) -> bool:
    """Activity on a live session; False when it has ended."""
    live = await session.scalar(
        sa.update(sessions)
        .where(sessions.c.id == session_id, sessions.c.user_id == user_id, *_live(now, idle))
        .values(last_activity_at=sa.func.now())
        .returning(sessions.c.id)
    )
    return live is not None


@dataclass(frozen=True)
class Revoked:
    id: uuid.UUID
    client_id: str | None  # an app's session: its client, and the person's session it was authorized from
    parent_id: uuid.UUID | None


async def revoke(session: AsyncSession, *, session_id: uuid.UUID, user_id: uuid.UUID,
                 reason: str) -> list[Revoked]:
    """End the session, if it was not ended yet, and with it the apps' sessions authorized from it; the sessions
    ended now, the one asked for first (none when it had ended already)."""
    ended = sa.update(sessions).where(sessions.c.user_id == user_id, sessions.c.revoked_at.is_(None)).values(
        revoked_at=sa.func.now(), revoked_reason=reason).returning(sessions.c.id, sessions.c.client_id,
                                                                   sessions.c.parent_id)
    first = (await session.execute(ended.where(sessions.c.id == session_id))).first()
    if first is None:
        return []
    children = (await session.execute(ended.where(sessions.c.parent_id == session_id))).all()
    return [Revoked(**row._mapping) for row in (first, *children)]


async def find_live(session: AsyncSession, session_id: uuid.UUID, *, now: datetime,
                    idle: timedelta) -> RowMapping | None:
    """A live session with its user's email, or None."""
    return (await session.execute(
        sa.select(sessions, users.c.email).join(users, users.c.id == sessions.c.user_id)
        .where(sessions.c.id == session_id, *_live(now, idle))
    )).mappings().first()


async def unrevoked_ids(session: AsyncSession, user_id: uuid.UUID) -> Sequence[uuid.UUID]:
    return (await session.scalars(
        sa.select(sessions.c.id).where(sessions.c.user_id == user_id, sessions.c.revoked_at.is_(None))
    )).all()


async def unrevoked_of_client(session: AsyncSession, client_id: str) -> Sequence[tuple[uuid.UUID, uuid.UUID]]:
    """Session id and user id of each app session of the client (OpenID Connect) not yet revoked."""
    result: Any = await session.execute(
        sa.select(sessions.c.id, sessions.c.user_id)
        .where(sessions.c.client_id == client_id, sessions.c.revoked_at.is_(None))
    )
    return [(row.id, row.user_id) for row in result]


async def count_live(session: AsyncSession, user_id: uuid.UUID, *, now: datetime, idle: timedelta) -> int:
    return await session.scalar(sa.select(sa.func.count()).where(sessions.c.user_id == user_id, *_live(now, idle))) or 0


async def live_sessions(session: AsyncSession, user_id: uuid.UUID, *, now: datetime,
                        idle: timedelta) -> Sequence[RowMapping]:
    result: Any = await session.execute(
        sa.select(sessions).where(sessions.c.user_id == user_id, *_live(now, idle))
        .order_by(sessions.c.last_activity_at.desc())
    )
    return result.mappings().all()


async def delete_ended(session: AsyncSession, before: datetime) -> int:
    """Sessions that ended, and refresh tokens that expired, before ``before``; returns how many rows."""
    ended = await session.execute(sa.delete(sessions).where(sa.or_(sessions.c.expires_at < before,
                                                                   sessions.c.revoked_at < before)))
    expired = await session.execute(sa.delete(refresh_tokens).where(refresh_tokens.c.expires_at < before))
    return _count(ended) + _count(expired)


def _count(result: Any) -> int:
    return cast(CursorResult[Any], result).rowcount  # a DELETE's result is a CursorResult
