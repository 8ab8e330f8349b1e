"""Housekeeping, run periodically by one replica at a time (``Runtime.every``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from .login import repository as login
from .oidc import repository as oidc
from .sessions import repository as sessions

# Ended rows stay a day for support questions; password attempts as long as the longest limit window needs them.
GRACE = timedelta(days=1)


async def delete_expired(session: AsyncSession) -> int:
    before = datetime.now(UTC) - GRACE
    return (await sessions.delete_ended(session, before) + await login.delete_old(session, before)
            + await oidc.delete_old(session, before) + await oidc.delete_finished_deliveries(session, before))
