"""Who is calling, checked before anything is forwarded: the route's policy says what is needed.

Tokens are verified here, locally, against auth's published keys: a forged,
expired or foreign token, a revoked session, or a setup token outside
enrollment is refused without a request to any service.  Services check the
token again themselves; this check is what keeps such requests off them.
"""

from __future__ import annotations

import base64
import binascii

from twofold_common.access_tokens import TokenVerifier
from twofold_common.errors import Forbidden, Unauthorized

from .api_keys import BASIC_CHALLENGE, ApiKeys, App
from .revocations import RevokedSessions
from .routes import Policy, Route

BEARER_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="twofold"'}


class CallerChecks:
    def __init__(self, verifier: TokenVerifier, revoked: RevokedSessions, api_keys: ApiKeys) -> None:
        self.verifier = verifier
        self.revoked = revoked
        self.api_keys = api_keys

    async def check(self, route: Route, authorization: str | None) -> App | None:
        """Raise 401/403 unless the caller may use ``route``; the app, when an API key was checked."""
        if route.policy in (Policy.OPEN, Policy.ADMIN, Policy.PAGE):
            return None
        scheme, _, credentials = (authorization or "").partition(" ")
        scheme, credentials = scheme.lower(), credentials.strip()
        if route.policy is Policy.APP or (route.policy is Policy.ENROLLMENT and scheme == "basic"):
            return await self._app(route, scheme, credentials)
        if scheme != "bearer" or not credentials:
            raise Unauthorized("Sign in first.", code="unauthenticated", headers=_challenge(route))
        await self._person(route, credentials)
        return None

    async def _person(self, route: Route, token: str) -> None:
        try:
            claims = await self.verifier.verify(token)
        except Unauthorized as exc:
            exc.headers = {**BEARER_CHALLENGE, **exc.headers}
            raise
        if claims.is_setup_token:
            if route.policy is Policy.ENROLLMENT:
                return
            raise Forbidden("A setup token can only start 2FA enrollment.", code="setup-token-only")
        if claims.session_id is None:
            raise Unauthorized("Invalid token.", code="invalid-token", headers=BEARER_CHALLENGE)
        if claims.session_id in self.revoked:
            raise Unauthorized("The session has been revoked.", code="session-revoked", headers=BEARER_CHALLENGE)

    async def _app(self, route: Route, scheme: str, credentials: str) -> App:
        if scheme != "basic":
            raise Unauthorized("An API key is required (HTTP Basic, client id and secret).", code="unauthenticated",
                               headers=BASIC_CHALLENGE)
        client_id, secret = _basic_credentials(credentials)
        app = await self.api_keys.authenticate(client_id, secret)
        if route.scope not in app.scopes:
            raise Forbidden(f"This API key has no {route.scope!r} scope.", code="scope-missing")
        return app


def _basic_credentials(encoded: str) -> tuple[str, str]:
    try:
        client_id, colon, secret = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        client_id, colon, secret = "", "", ""
    if not colon or not client_id or not secret:
        raise Unauthorized("Malformed API key.", code="invalid-client", headers=BASIC_CHALLENGE)
    return client_id, secret


def _challenge(route: Route) -> dict[str, str]:
    if route.policy is Policy.ENROLLMENT:
        return {"WWW-Authenticate": f'{BEARER_CHALLENGE["WWW-Authenticate"]}, {BASIC_CHALLENGE["WWW-Authenticate"]}'}
    return BEARER_CHALLENGE
