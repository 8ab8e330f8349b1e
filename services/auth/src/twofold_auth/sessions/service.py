"""Sessions and refresh tokens: created only after both factors, rotated on every refresh.

How long a session lives (NIST SP 800-63B, AAL2): it ends after
``session_idle_seconds`` without a signed-in request or refresh, and
``session_seconds`` after sign-in.  The gateway knows a session only by its
access token's ``exp``, checked locally; so no access token outlives its
session's end, and none lasts longer than the idle timeout (the settings refuse
that): a person idle that long holds only an expired access token, and the
refresh that would renew it is where the idle timeout is enforced.

A refresh token is single-use.  Presenting one that was already used means
two parties hold it (a stolen copy, or a client bug), so the whole session is
revoked: both parties must sign in again, and only the owner can.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from twofold_common.db import Database
from twofold_common.errors import NotFound, Unauthorized
from twofold_common.events import SessionRevoked
from twofold_common.outbox import publish

from ..audit.service import Caller
from ..settings import EVENT_SOURCE, AuthSettings
from ..tokens import TokenHasher, TokenIssuer
from . import repository
from .repository import AppSession, RefreshTokenRow
from .schemas import SessionView, TokenPair

IDLE_TIMEOUT = "idle-timeout"


@dataclass(frozen=True)
class SignedIn:
    """The holder of a valid access token (checked by signature; whether its session is live is not)."""

    user_id: uuid.UUID
    session_id: uuid.UUID
    email: str | None


def session_ended() -> Unauthorized:
    return Unauthorized("The session has ended.", code="session-ended", headers={"WWW-Authenticate": "Bearer"})


@dataclass(frozen=True)
class Sessions:
    db: Database
    settings: AuthSettings
    hasher: TokenHasher
    issuer: TokenIssuer

    @property
    def idle(self) -> timedelta:
        return timedelta(seconds=self.settings.session_idle_seconds)

    async def start(self, session: AsyncSession, *, user_id: uuid.UUID, email: str, amr: list[str],
                    caller: Caller) -> TokenPair:
        now = datetime.now(UTC)
        session_id = uuid.uuid4()
        ends = now + timedelta(seconds=self.settings.session_seconds)
        refresh, refresh_hash = self.hasher.new("rt")
        await repository.insert_session(session, session_id=session_id, user_id=user_id, amr=amr, ip=caller.ip,
                                        user_agent=caller.user_agent, now=now, ends=ends, refresh_hash=refresh_hash,
                                        refresh_expires_at=self._refresh_expires_at(now, ends))
        return self._pair(refresh, session_id=session_id, user_id=user_id, email=email, amr=amr, now=now, ends=ends,
                          app=None)

    async def start_for_app(self, session: AsyncSession, *, session_id: uuid.UUID, user_id: uuid.UUID, email: str,
                            amr: list[str], auth_time: datetime, ends: datetime, app: AppSession,
                            caller: Caller) -> TokenPair:
        """An app's session (OpenID Connect), authorized from the person's session ``app.parent_id``.

        It inherits that sign-in's factors (``amr``), time (``auth_time``) and end (``ends``): no app keeps a
        person signed in longer than the sign-in it came from. The idle timeout applies to it as to any session.
        """
        now = datetime.now(UTC)
        refresh, refresh_hash = self.hasher.new("rt")
        await repository.insert_session(session, session_id=session_id, user_id=user_id, amr=amr, ip=caller.ip,
                                        user_agent=caller.user_agent, now=now, ends=ends, refresh_hash=refresh_hash,
                                        refresh_expires_at=self._refresh_expires_at(now, ends), auth_time=auth_time,
                                        app=app)
        return self._pair(refresh, session_id=session_id, user_id=user_id, email=email, amr=amr, now=now, ends=ends,
                          app=app)

    def _refresh_expires_at(self, now: datetime, ends: datetime) -> datetime:
        """A refresh token's end: it never outlives the session (``ends``)."""
        return min(now + timedelta(seconds=self.settings.refresh_token_seconds), ends)

    def _pair(self, refresh: str, *, session_id: uuid.UUID, user_id: uuid.UUID, email: str, amr: list[str],
              now: datetime, ends: datetime, app: AppSession | None) -> TokenPair:
        """``refresh`` (stored already) with a new access token that does not outlive the session."""
        access, expires = self.issuer.access_token(user_id=user_id, session_id=session_id, amr=amr, email=email,
                                                   session_ends=ends, client_id=app.client_id if app else None,
                                                   scopes=app.scopes if app else ())
        return TokenPair(access_token=access, refresh_token=refresh,
                         expires_in=max(0, expires - int(now.timestamp())), session_id=session_id)

    async def rotate(self, token: str) -> TokenPair:
        """Spend a person's refresh ``token`` and return a new pair; a spent token revokes its session."""
        pair, _ = await self._rotate(token, client_id=None)
        return pair

    async def rotate_for_app(self, token: str, client_id: str) -> tuple[TokenPair, RefreshTokenRow]:
        """``rotate`` for an app's session: the token must be one ``client_id`` was issued (RFC 6749 6)."""
        return await self._rotate(token, client_id=client_id)

    async def _rotate(self, token: str, *, client_id: str | None) -> tuple[TokenPair, RefreshTokenRow]:
        """One statement does the rotation (``repository.rotate_refresh_token``), in a transaction of its own
        because a refusal must keep what it wrote: the revocation of a reused token's session (or an idle one's)
        commits, and the request fails after the commit.

        A token of another party's session (an app's at the person's endpoint, a person's or another app's
        at an app's) is refused before it is spent: it changes nothing.
        """
        invalid = Unauthorized("Invalid refresh token.", code="invalid-refresh-token")
        now = datetime.now(UTC)
        refresh, refresh_hash = self.hasher.new("rt")
        async with self.db.transaction() as session:
            rotation = await repository.rotate_refresh_token(
                session, token_hash=self.hasher.hash(token), client_id=client_id, new_id=uuid.uuid4(),
                new_hash=refresh_hash, now=now, idle=self.idle,
                lifetime=timedelta(seconds=self.settings.refresh_token_seconds))
            if rotation is None or rotation.token.client_id != client_id:
                raise invalid
            row = rotation.token
            if rotation.issued:
                app = (AppSession(row.client_id, list(row.scopes or ()), row.parent_id)
                       if row.client_id is not None and row.parent_id is not None else None)
                pair = self._pair(refresh, session_id=row.session_id, user_id=row.user_id, email=row.email,
                                  amr=list(row.amr), now=now, ends=row.ends, app=app)
                return pair, row
            if row.revoked_at is None and not rotation.spent:
                await self.revoke(session, session_id=row.session_id, user_id=row.user_id,
                                  reason="refresh-token-reuse")
            elif row.revoked_at is None and row.ends > now and row.expires_at > now \
                    and row.last_activity_at <= now - self.idle:
                await self.revoke(session, session_id=row.session_id, user_id=row.user_id, reason=IDLE_TIMEOUT)
        raise invalid

    async def ensure_live(self, session: AsyncSession, me: SignedIn) -> None:
        """The token's session is live; the request is activity that keeps it from the idle timeout."""
        if not await repository.touch_if_live(session, session_id=me.session_id, user_id=me.user_id,
                                              now=datetime.now(UTC), idle=self.idle):
            raise session_ended()

    async def find_live(self, session: AsyncSession, session_id: uuid.UUID) -> RowMapping | None:
        """A live session, a person's or an app's, with its user's email (reading it is no activity)."""
        return await repository.find_live(session, session_id, now=datetime.now(UTC), idle=self.idle)

    def subject(self, me: SignedIn) -> Callable[[AsyncSession], Awaitable[uuid.UUID]]:
        """For a second-factor check of a signed-in request: its user, once its session is found live
        (in the check's first transaction)."""
        async def live_user(session: AsyncSession) -> uuid.UUID:
            await self.ensure_live(session, me)
            return me.user_id
        return live_user

    async def revoke(self, session: AsyncSession, *, session_id: uuid.UUID, user_id: uuid.UUID, reason: str) -> bool:
        """End a session, and the apps' sessions authorized from it, for the same reason: no app keeps a person
        signed in whose sign-in has ended. Each ended session is a ``session.revoked.v1`` (the gateway refuses its
        access tokens; an app hears of its own by back-channel logout). False when it had ended already."""
        ended = await repository.revoke(session, session_id=session_id, user_id=user_id, reason=reason)
        for one in ended:
            await publish(session, SessionRevoked(user_id=user_id, session_id=one.id, reason=reason,
                                                  client_id=one.client_id, parent_session_id=one.parent_id),
                          source=EVENT_SOURCE)
        return bool(ended)

    async def revoke_all(self, session: AsyncSession, *, user_id: uuid.UUID, reason: str) -> int:
        live = await repository.unrevoked_ids(session, user_id)
        for session_id in live:
            await self.revoke(session, session_id=session_id, user_id=user_id, reason=reason)
        return len(live)

    async def revoke_of_client(self, session: AsyncSession, *, client_id: str, reason: str) -> int:
        """Every app session of the client (a disabled client keeps none)."""
        live = await repository.unrevoked_of_client(session, client_id)
        for session_id, user_id in live:
            await self.revoke(session, session_id=session_id, user_id=user_id, reason=reason)
        return len(live)

    async def revoke_one(self, session: AsyncSession, *, user_id: uuid.UUID, session_id: uuid.UUID) -> None:
        if not await self.revoke(session, session_id=session_id, user_id=user_id, reason="revoked-by-user"):
            raise NotFound("No such live session.", code="session-not-found")

    async def count_live(self, session: AsyncSession, user_id: uuid.UUID) -> int:
        """The user's live sessions, apps' included."""
        return await repository.count_live(session, user_id, now=datetime.now(UTC), idle=self.idle)

    async def list(self, session: AsyncSession, *, user_id: uuid.UUID, current: uuid.UUID) -> list[SessionView]:
        rows = await repository.live_sessions(session, user_id, now=datetime.now(UTC), idle=self.idle)
        return [SessionView(id=r["id"], ip=str(r["ip"]) if r["ip"] else None, user_agent=r["user_agent"],
                            amr=list(r["amr"]), created_at=r["created_at"], last_activity_at=r["last_activity_at"],
                            expires_at=r["expires_at"], current=r["id"] == current, client_id=r["client_id"])
                for r in rows]
