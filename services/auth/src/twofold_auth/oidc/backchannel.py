"""Back-channel logout: an app hears within seconds that one of its sessions ended, whatever ended it (the person
signing out or ending the app's session there, their sign-in's end, a reused refresh token or code, the account
deleted).

Driven by the events: auth consumes its own ``session.revoked.v1``, and for an app's session whose client
registered a ``backchannel_logout_uri`` the handler adds a row to ``logout_deliveries``, in the consumer's
transaction and once per session, so a redelivered event adds nothing. A periodic job (one replica at a time)
sends the due rows, all at once, each with a short timeout: an app that is slow or away delays only its own
retries, never the consumer. A failed attempt is made again 1 s later, then 2, 4... at most 5 minutes apart,
and given up an hour after the session ended (audited, and counted). The logout token is made at each attempt,
so it is fresh (it lives two minutes); it is neither stored nor logged.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from datetime import UTC, datetime

import aiohttp
from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession

from twofold_common.events import CloudEvent, SessionRevoked

from ..audit.service import record
from ..clients import service as clients
from ..settings import AuthSettings
from . import repository
from .keys import IdTokenKeys
from .repository import LogoutDelivery
from .rules import BACKCHANNEL_LOGOUT_EVENT, next_logout_attempt

log = logging.getLogger(__name__)

LOGOUT_TOKEN_SECONDS = 120  # Back-Channel Logout 2.4 suggests two minutes
TIMEOUT_SECONDS = 5.0  # an app answers a logout at once; the job does not wait on it longer
BATCH = 50  # deliveries sent by one run of the job


async def on_session_revoked(session: AsyncSession, event: SessionRevoked, envelope: CloudEvent) -> None:
    """An app's session ended: its app is told, if it registered where."""
    if event.client_id is None or event.parent_session_id is None:
        return  # a person's own session: no app to tell
    client = await clients.find_openid_client(session, event.client_id)
    if client is None or client.backchannel_logout_uri is None:
        return
    await repository.add_delivery(session, session_id=event.session_id, client_id=client.id, user_id=event.user_id,
                                  sid=event.parent_session_id, uri=client.backchannel_logout_uri)


class BackChannelLogout:
    """The job that sends apps their logout tokens (``deliver_due``); its HTTP client is closed at the stop."""

    def __init__(self, settings: AuthSettings, keys: IdTokenKeys, outcomes: Counter) -> None:
        self.issuer = settings.issuer
        self.keys = keys
        self.outcomes = outcomes
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT_SECONDS),
                                          cookie_jar=aiohttp.DummyCookieJar())

    async def aclose(self) -> None:
        await self.http.close()

    async def deliver_due(self, session: AsyncSession) -> int:
        """Send every due logout token at once, then note each outcome; returns how many were sent."""
        now = datetime.now(UTC)
        due = await repository.due_deliveries(session, now, BATCH)
        errors = await asyncio.gather(*(self._send(delivery) for delivery in due))
        for delivery, error in zip(due, errors, strict=True):
            if error is None:
                await repository.delivered(session, delivery.session_id, now)
                self.outcomes.labels("delivered").inc()
                continue
            failures = delivery.failures + 1
            retry_at = next_logout_attempt(ended_at=delivery.created_at, now=now, failures=failures)
            await repository.failed(session, delivery.session_id, failures=failures, error=error, retry_at=retry_at,
                                    now=now)
            if retry_at is None:
                await record(session, action="oidc.backchannel_logout", outcome="failure", user_id=delivery.user_id,
                             reason="gave-up", details={"clientId": delivery.client_id, "failures": failures,
                                                        "error": error})
                log.warning("back-channel logout given up", extra={"client_id": delivery.client_id,
                                                                    "failures": failures, "error": error})
            self.outcomes.labels("failed" if retry_at is not None else "abandoned").inc()
        return len(due)

    async def _send(self, delivery: LogoutDelivery) -> str | None:
        """Back-Channel Logout 2.5 and 2.8: the token POSTed as a form, taken with a 200 (or a 204, which some
        frameworks answer for an empty 200). None when taken, else what went wrong, in a few words."""
        form = {"logout_token": self.logout_token(delivery)}
        try:
            async with self.http.post(delivery.uri, data=form, allow_redirects=False) as answer:
                return None if answer.status in (200, 204) else f"HTTP {answer.status}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            return type(exc).__name__

    def logout_token(self, delivery: LogoutDelivery) -> str:
        """Back-Channel Logout 2.4: signed like an ID token but typed ``logout+jwt``, with the event, the person
        (``sub``) and the sign-in the app's ID tokens named (``sid``); never a nonce, so it cannot pass for an
        ID token."""
        now = int(time.time())
        return self.keys.sign({
            "iss": self.issuer, "aud": delivery.client_id, "iat": now, "exp": now + LOGOUT_TOKEN_SECONDS,
            "jti": str(uuid.uuid4()), "sub": str(delivery.user_id), "sid": str(delivery.sid),
            "events": {BACKCHANNEL_LOGOUT_EVENT: {}},
        }, typ="logout+jwt")
