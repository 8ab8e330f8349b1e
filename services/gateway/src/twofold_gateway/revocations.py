"""Sessions revoked by auth, remembered by every replica until their last access token has expired.

An access token stays valid by its signature until it expires, even after its
session ended.  Auth announces each revocation (``SessionRevoked``); every
gateway replica hears all of them (a broadcast, no consumer group) and refuses
the session's tokens from then on.  A revoked session never gets a new access
token, so one access-token lifetime after the revocation nothing is left to
refuse and the entry is dropped: the map stays as small as the revocations of
the last 15 minutes.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from twofold_common.events import CloudEvent, SessionRevoked

# Clocks of auth and the gateway may differ a little; a token is refused a bit longer rather than too briefly.
CLOCK_SKEW_SECONDS = 60
PRUNE_INTERVAL_SECONDS = 60


class RevokedSessions:
    def __init__(self, access_token_seconds: float, *, clock: Callable[[], float] = time.time) -> None:
        self.access_token_seconds = access_token_seconds
        self.clock = clock
        self._until: dict[uuid.UUID, float] = {}
        self._pruned_at = clock()

    def __contains__(self, session_id: uuid.UUID) -> bool:
        until = self._until.get(session_id)
        return until is not None and until > self.clock()

    def __len__(self) -> int:
        return len(self._until)

    async def on_session_revoked(self, event: SessionRevoked, envelope: CloudEvent) -> None:
        self.revoke(event.session_id, revoked_at=envelope.time.timestamp())

    def revoke(self, session_id: uuid.UUID, *, revoked_at: float) -> None:
        until = revoked_at + self.access_token_seconds + CLOCK_SKEW_SECONDS
        now = self.clock()
        if until > now:
            self._until[session_id] = max(until, self._until.get(session_id, 0.0))
        if now - self._pruned_at > PRUNE_INTERVAL_SECONDS:
            self._pruned_at = now
            self._until = {sid: t for sid, t in self._until.items() if t > now}
