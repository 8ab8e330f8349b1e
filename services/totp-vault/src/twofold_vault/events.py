"""What the vault does when other services' events arrive.

The common consumer runs each handler in a transaction that also records the
event id, so a redelivered event has no second effect.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.ext.asyncio import AsyncSession

from twofold_common.consumer import Handler
from twofold_common.events import CloudEvent, Event, TwoFactorReset, UserDeleted

from .recovery.service import discard as discard_recovery_codes
from .seeds.service import revoke_all
from .subjects.service import shred_subject


async def on_user_deleted(session: AsyncSession, event: UserDeleted, envelope: CloudEvent) -> None:
    await shred_subject(session, str(event.user_id))


async def on_two_factor_reset(session: AsyncSession, event: TwoFactorReset, envelope: CloudEvent) -> None:
    """A reset is the one way to lose the last authenticator: the user enrolls anew. Only what existed when the
    reset was made goes, so an enrollment that came first after it (the event may arrive late) is kept."""
    await revoke_all(session, str(event.user_id), reason="reset", created_before=envelope.time)
    await discard_recovery_codes(session, str(event.user_id), created_before=envelope.time)


HANDLERS: Mapping[type[Event], Handler] = {
    UserDeleted: on_user_deleted,
    TwoFactorReset: on_two_factor_reset,
}
