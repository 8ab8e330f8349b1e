"""How long a session lives (NIST SP 800-63B, AAL2): an idle timeout and an absolute end, both settings.

The gateway knows a session only by its access token's ``exp``, checked
locally; so no access token outlives its session's end, and none lasts longer
than the idle timeout (the settings refuse that): a person idle that long
holds only an expired access token, and the refresh that would renew it is
where the idle timeout is enforced.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from ..models import sessions
from ..settings import AuthSettings

IDLE_TIMEOUT = "idle-timeout"


def live_session(settings: AuthSettings, now: datetime) -> tuple[sa.ColumnElement[bool], ...]:
    """Conditions on a ``sessions`` row that is neither revoked, past its end, nor idle too long."""
    return (sessions.c.revoked_at.is_(None), sessions.c.expires_at > now,
            sessions.c.last_activity_at > now - timedelta(seconds=settings.session_idle_seconds))


def session_end(settings: AuthSettings, started: datetime) -> datetime:
    return started + timedelta(seconds=settings.session_seconds)


def is_idle(settings: AuthSettings, last_activity_at: datetime, now: datetime) -> bool:
    return last_activity_at <= now - timedelta(seconds=settings.session_idle_seconds)
