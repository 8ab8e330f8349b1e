"""The OpenID Provider: the authorization step for the pages, the token endpoint, userinfo, discovery, and the
check of an app's logout request for the pages (RP-initiated logout; back-channel logout is ``backchannel``).

An authorization code is bound to everything the authorization decided: the client, its redirect URI,
the person and the session they authorized from (the ID token's ``sid``), the scopes, the nonce, the PKCE
challenge, and that sign-in's ``auth_time`` and ``amr``. It is opaque, stored as a keyed hash like every
other opaque token, and lives ``AUTH_OIDC_CODE_SECONDS`` (60 s).

Its exchange starts an app's session (``Sessions.start_for_app``): a session of its own, so an app's tokens
rotate, idle out and are revoked like any session's, without touching the person's; it inherits the
sign-in's factors, time and end, so no app keeps a person signed in longer than the sign-in did. Its
access token is good at userinfo alone (its audience is not the API's). Its refresh token is always
issued, because it is not an offline one: it dies with the session (30 minutes idle, 12 hours after the
sign-in); ``offline_access``, which asks for access while the person is away (Core 11), is not offered,
and like any scope we do not know it is ignored (Core 3.1.2.1).

A code presented a second time is refused and the session its first exchange started is revoked
(RFC 6749 4.1.2, 10.5), through ``Sessions.revoke``, which publishes ``session.revoked.v1``.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import NoReturn

import jwt
from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from twofold_common.access_tokens import TokenVerifier, bearer_token
from twofold_common.errors import Problem, Unauthorized

from ..audit.service import Caller, record
from ..clients import service as clients
from ..clients.scopes import OPENID_SCOPES
from ..sessions.repository import AppSession
from ..sessions.service import Sessions, SignedIn, session_ended
from ..settings import AuthSettings
from ..tokens import TokenHasher
from . import repository
from .keys import ALGORITHM, IdTokenKeys
from .rules import (
    ACR_MULTI_FACTOR,
    S256,
    AuthorizationError,
    FormBody,
    TokenError,
    basic_credentials,
    code_challenge,
    logout_client,
    max_age,
    nonce,
    prompts,
    redirect,
    requested_scopes,
    single,
    verifier_matches,
)
from .schemas import (
    AuthorizationRequest,
    AuthorizeAnswer,
    LogoutAnswer,
    LogoutRequest,
    ProviderMetadata,
    TokenResponse,
    UserInfo,
)

BASIC_CHALLENGE = {"WWW-Authenticate": 'Basic realm="twofold"'}
CLAIMS = ["iss", "sub", "aud", "azp", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid", "email",
          "email_verified"]


@dataclass(frozen=True)
class Checked:
    """An authorization request whose client and redirect URI are known, so its answers can go back to the app;
    the rest is filled once every parameter passed its check."""

    issuer: str
    client: clients.Client
    redirect_uri: str
    state: str | None = None
    scopes: tuple[str, ...] = ()
    challenge: str = ""
    nonce: str | None = None
    prompt: set[str] = field(default_factory=set)
    max_age: int | None = None

    def redirect(self, **params: str | None) -> AuthorizeAnswer:
        """The browser back to the app with ``params``, the state and, as RFC 9207 asks of every authorization
        response, the issuer."""
        return AuthorizeAnswer(action="redirect", redirect_to=redirect(self.redirect_uri, {
            **params, "state": self.state, "iss": self.issuer}))

    def error(self, error: str, description: str) -> AuthorizeAnswer:
        return self.redirect(error=error, error_description=description)


@dataclass(frozen=True)
class OpenIdProvider:
    settings: AuthSettings
    hasher: TokenHasher
    sessions: Sessions
    keys: IdTokenKeys
    verifier: TokenVerifier  # apps' access tokens: audience userinfo

    def metadata(self) -> ProviderMetadata:
        issuer = self.settings.issuer
        return ProviderMetadata(
            issuer=issuer,
            authorization_endpoint=f"{issuer}/oauth2/authorize",
            token_endpoint=f"{issuer}/oauth2/token",
            userinfo_endpoint=f"{issuer}/oauth2/userinfo",
            jwks_uri=f"{issuer}/.well-known/jwks.json",
            response_types_supported=["code"],
            response_modes_supported=["query"],
            grant_types_supported=["authorization_code", "refresh_token"],
            subject_types_supported=["public"],
            id_token_signing_alg_values_supported=[ALGORITHM],
            token_endpoint_auth_methods_supported=["client_secret_basic", "client_secret_post"],
            code_challenge_methods_supported=[S256],
            scopes_supported=sorted(OPENID_SCOPES),
            claims_supported=CLAIMS,
            acr_values_supported=[ACR_MULTI_FACTOR],
            claims_parameter_supported=False,
            request_parameter_supported=False,
            request_uri_parameter_supported=False,  # Discovery 3: it defaults to true, so it is said
            authorization_response_iss_parameter_supported=True,
            end_session_endpoint=f"{issuer}/oauth2/logout",  # a page: it acts on the person's browser
            backchannel_logout_supported=True,
            backchannel_logout_session_supported=True,  # logout tokens carry sid, as ID tokens do
        )

    # -- the authorization step, for the pages (Core 3.1.2) --

    async def check(self, session: AsyncSession, request: AuthorizationRequest) -> AuthorizeAnswer:
        """A request seen before anyone signed in: the same problems and errors as ``authorize``, so the person
        is not asked to sign in for a request that cannot succeed; ``prompt=none`` is answered
        ``login_required`` (Core 3.1.2.6), anything else ``login``."""
        checked = await self._checked(session, request)
        if isinstance(checked, AuthorizeAnswer):
            return checked
        if "none" in checked.prompt:
            return checked.error("login_required", "The person must sign in.")
        return AuthorizeAnswer(action="login", reason="signed-out", client_name=checked.client.name)

    async def authorize(self, session: AsyncSession, me: SignedIn, request: AuthorizationRequest,
                        caller: Caller) -> AuthorizeAnswer:
        """The pages' answer to an authorization request of the signed-in person. An unknown client or a
        redirect URI it did not register is shown to the person, never redirected to (RFC 6749 4.1.2.1,
        3.1.2.4); every other error goes back to the app through its redirect URI.

        Consent is this method's rule, not the pages': a third-party app is asked for until the person allowed
        it the scopes it asks (``prompt=consent`` asks again); the pages only relay the person's answer
        (``request.consent``), which is recorded, and audited, here."""
        checked = await self._checked(session, request)
        if isinstance(checked, AuthorizeAnswer):
            return checked
        client, prompt, scopes = checked.client, checked.prompt, checked.scopes
        person = await self.sessions.find_live(session, me.session_id)
        if person is None:
            raise session_ended()
        now = datetime.now(UTC)
        stale = checked.max_age is not None and now - person["auth_time"] > timedelta(seconds=checked.max_age)
        if "login" in prompt or stale:
            if "none" in prompt:
                return checked.error("login_required", "The person must sign in again.")
            return AuthorizeAnswer(action="login", reason="prompt-login" if "login" in prompt else "max-age",
                                   client_name=client.name)
        audit = {"clientId": client.id, "scopes": list(scopes)}
        if request.consent == "denied":
            await record(session, action="oidc.consent", outcome="denied", user_id=me.user_id, caller=caller,
                         details=audit)
            return checked.error("access_denied", "The person did not allow the app.")
        if not client.first_party:
            allowed = await repository.consented_scopes(session, me.user_id, client.id)
            if "consent" in prompt or not set(scopes) <= allowed:
                if request.consent != "granted":
                    if "none" in prompt:
                        return checked.error("consent_required", "The person must consent first.")
                    return AuthorizeAnswer(action="consent", client_name=client.name, scopes=list(scopes))
                await repository.grant(session, me.user_id, client.id, sorted(allowed | set(scopes)))
                await record(session, action="oidc.consent", outcome="success", user_id=me.user_id, caller=caller,
                             details=audit)

        code, code_hash = self.hasher.new("ac")
        await repository.insert(
            session, token_hash=code_hash, user_id=me.user_id, client_id=client.id,
            redirect_uri=checked.redirect_uri, session_id=me.session_id, scopes=list(scopes), nonce=checked.nonce,
            code_challenge=checked.challenge, auth_time=person["auth_time"], amr=list(person["amr"]),
            expires_at=now + timedelta(seconds=self.settings.oidc_code_seconds))
        await record(session, action="oidc.authorize", outcome="success", user_id=me.user_id, caller=caller,
                     details=audit)
        return checked.redirect(code=code)

    async def _checked(self, session: AsyncSession, request: AuthorizationRequest) -> Checked | AuthorizeAnswer:
        """The request's parameters checked: a problem (shown to the person) for a client or redirect URI we
        cannot send them back to, an error for the app, or what the answer is built from."""
        try:
            client_id = single("client_id", request.client_id)
            redirect_uri = single("redirect_uri", request.redirect_uri)
        except AuthorizationError as exc:
            raise Problem(exc.description, code="invalid-authorization-request") from None
        client = await clients.find_openid_client(session, client_id) if client_id else None
        if client is None:
            raise Problem("No app that signs in with this service has this client_id.", code="unknown-client")
        if redirect_uri not in client.redirect_uris:  # exact match (RFC 6749 3.1.2.3, Core 3.1.2.1)
            raise Problem("The app did not register this redirect_uri.", code="invalid-redirect-uri")
        unchecked = Checked(self.settings.issuer, client, redirect_uri)
        try:
            state = single("state", request.state)
        except AuthorizationError as exc:
            return unchecked.error(exc.error, exc.description)
        try:
            if single("request", request.request) is not None:
                raise AuthorizationError("request_not_supported", "Request objects are not supported.")
            if single("request_uri", request.request_uri) is not None:
                raise AuthorizationError("request_uri_not_supported", "request_uri is not supported.")
            response_type = single("response_type", request.response_type)
            if response_type is None:
                raise AuthorizationError("invalid_request", "response_type is required.")
            if response_type != "code":  # the code flow only: no implicit, no hybrid
                raise AuthorizationError("unsupported_response_type", "Only response_type=code is supported.")
            single("login_hint", request.login_hint)  # the pages fill the sign-in form with it
            return replace(
                unchecked, state=state,
                scopes=requested_scopes(single("scope", request.scope), known=OPENID_SCOPES, granted=client.scopes),
                challenge=code_challenge(single("code_challenge", request.code_challenge),
                                         single("code_challenge_method", request.code_challenge_method)),
                nonce=nonce(single("nonce", request.nonce)), prompt=prompts(single("prompt", request.prompt)),
                max_age=max_age(single("max_age", request.max_age)))
        except AuthorizationError as exc:
            return replace(unchecked, state=state).error(exc.error, exc.description)

    # -- RP-initiated logout, for the pages (RP-Initiated Logout 2, 3) --

    async def logout_request(self, session: AsyncSession, request: LogoutRequest, me: SignedIn | None,
                             caller: Caller) -> LogoutAnswer:
        """An app's logout request, checked before the pages ask the person to confirm it. ``id_token_hint``
        must be an ID token we signed (expired is fine: the app's sign-in may be old); ``client_id`` must be its
        audience; a ``post_logout_redirect_uri`` must be one the app registered, exactly. Each refusal is a
        400 the pages show, never a redirect: an unchecked address would make the pages an open redirector."""
        try:
            hint = single("id_token_hint", request.id_token_hint)
            asked_client = single("client_id", request.client_id)
            uri = single("post_logout_redirect_uri", request.post_logout_redirect_uri)
            state = single("state", request.state)
        except AuthorizationError as exc:
            raise Problem(exc.description, code="invalid-logout-request") from None
        audience = None
        if hint is not None:
            try:
                audience = self.keys.verify_id_token(hint, issuer=self.settings.issuer)["aud"]
            except jwt.InvalidTokenError:
                raise Problem("id_token_hint is not an ID token of this provider.",
                              code="invalid-id-token-hint") from None
        try:
            client_id = logout_client(audience, asked_client)
        except ValueError as exc:
            raise Problem(str(exc), code="invalid-logout-request") from None
        client = await clients.find_openid_client(session, client_id) if client_id else None
        if client_id is not None and client is None:
            raise Problem("No app that signs in with this service has this client_id.", code="unknown-client")
        if uri is not None and (client is None or uri not in client.post_logout_redirect_uris):
            raise Problem("The app did not register this post_logout_redirect_uri.",
                          code="invalid-post-logout-redirect-uri")
        if me is not None:  # the pages ask with the person's token once they confirmed
            await record(session, action="oidc.logout", outcome="confirmed", user_id=me.user_id, caller=caller,
                         details={"clientId": client_id})
        return LogoutAnswer(redirect_to=redirect(uri, {"state": state}) if uri else None,
                            client_name=client.name if client else None)

    # -- the token endpoint (RFC 6749 3.2, Core 3.1.3) --

    async def token(self, session: AsyncSession, form: FormBody, authorization: str | None,
                    caller: Caller) -> TokenResponse:
        client = await self._authenticate(session, form, authorization)
        grant_type = form.require("grant_type")
        if grant_type == "authorization_code":
            return await self._exchange(session, client, form, caller)
        if grant_type == "refresh_token":
            return await self._refresh(client, form)
        raise TokenError("unsupported_grant_type", "grant_type is authorization_code or refresh_token.")

    async def _authenticate(self, session: AsyncSession, form: FormBody,
                            authorization: str | None) -> clients.Client:
        """client_secret_basic or client_secret_post (RFC 6749 2.3.1), one of them (2.3); the secret is
        compared as a keyed hash in constant time, and an unknown id costs the same (clients.authenticate)."""
        basic = basic_credentials(authorization)
        posted_id, posted_secret = form.values.get("client_id"), form.values.get("client_secret")
        if basic is not None and (posted_secret is not None or posted_id not in (None, basic[0])):
            raise TokenError("invalid_request", "Authenticate the client one way only.")
        client_id, secret = basic or (posted_id, posted_secret)
        challenge = BASIC_CHALLENGE if basic is not None else {}
        if not client_id or not secret:
            raise TokenError("invalid_client", "Client authentication is required.", status=401,
                             headers=BASIC_CHALLENGE)
        if "\x00" in client_id:  # no id has one, and PostgreSQL refuses it in a query
            raise TokenError("invalid_client", "Invalid client credentials.", status=401, headers=challenge)
        try:
            client = await clients.authenticate(session, self.hasher, client_id, secret)
        except Unauthorized:
            raise TokenError("invalid_client", "Invalid client credentials.", status=401,
                             headers=challenge) from None
        if "openid" not in client.scopes:
            raise TokenError("unauthorized_client", "This client does not sign in with OpenID Connect.")
        return client

    async def _exchange(self, session: AsyncSession, client: clients.Client, form: FormBody,
                        caller: Caller) -> TokenResponse:
        """RFC 6749 4.1.3 with RFC 7636 4.5-4.6."""
        code, redirect_uri = form.require("code"), form.require("redirect_uri")
        verifier = form.require("code_verifier")
        now = datetime.now(UTC)
        row = await repository.find(session, self.hasher.hash(code))
        if row is None or row["client_id"] != client.id:
            raise TokenError("invalid_grant", "The code is unknown, or was issued to another client.")
        if row["used_at"] is not None:
            await self._revoke_reuse(session, row, caller)
        if row["expires_at"] <= now:
            raise TokenError("invalid_grant", "The code has expired.")
        if row["redirect_uri"] != redirect_uri:
            raise TokenError("invalid_grant", "redirect_uri is not the one the code was issued for.")
        if not verifier_matches(verifier, row["code_challenge"]):
            raise TokenError("invalid_grant", "code_verifier does not match the code_challenge.")
        person = await self.sessions.find_live(session, row["session_id"])
        if person is None:
            raise TokenError("invalid_grant", "The sign-in that authorized the code has ended.")
        session_id = uuid.uuid4()
        if not await repository.spend(session, row["id"], issued_session_id=session_id, now=now):
            await self._revoke_reuse(session, row, caller)  # a concurrent exchange won
        app = AppSession(client.id, list(row["scopes"]), row["session_id"])
        pair = await self.sessions.start_for_app(
            session, session_id=session_id, user_id=row["user_id"], email=row["email"], amr=list(row["amr"]),
            auth_time=row["auth_time"], ends=person["expires_at"], app=app, caller=caller)
        id_token = self._id_token(user_id=row["user_id"], client_id=client.id, app=app, amr=list(row["amr"]),
                                  auth_time=row["auth_time"], email=row["email"], nonce=row["nonce"])
        return TokenResponse(access_token=pair.access_token, expires_in=pair.expires_in,
                             refresh_token=pair.refresh_token, id_token=id_token, scope=" ".join(app.scopes))

    async def _revoke_reuse(self, session: AsyncSession, row: RowMapping, caller: Caller) -> NoReturn:
        """A code used twice: someone else may hold it, so what its first use gave is revoked (RFC 6749
        4.1.2, 10.5). Raised as an answer, so the request's unit of work commits the revocation."""
        issued = await repository.issued_session(session, row["id"])
        if issued is not None:
            await self.sessions.revoke(session, session_id=issued, user_id=row["user_id"],
                                       reason="authorization-code-reuse")
        await record(session, action="oidc.token", outcome="refused", user_id=row["user_id"], reason="code-reuse",
                     caller=caller, details={"clientId": row["client_id"]})
        raise TokenError("invalid_grant", "The code was used already; the tokens it gave are revoked.")

    async def _refresh(self, client: clients.Client, form: FormBody) -> TokenResponse:
        """RFC 6749 6, with the rotation and reuse detection of every session; a new ID token (Core 12.2:
        the same iss, sub, aud, azp and auth_time, a new iat, and no nonce). A ``scope`` parameter is not
        used to narrow: the answer's ``scope`` says what the tokens carry."""
        try:
            pair, row = await self.sessions.rotate_for_app(form.require("refresh_token"), client.id)
        except Unauthorized:
            raise TokenError("invalid_grant", "The refresh token is unknown, used, expired or revoked.") from None
        app = AppSession(client.id, list(row.scopes or ()), row.parent_id or row.session_id)
        id_token = self._id_token(user_id=row.user_id, client_id=client.id, app=app, amr=list(row.amr),
                                  auth_time=row.auth_time, email=row.email, nonce=None)
        return TokenResponse(access_token=pair.access_token, expires_in=pair.expires_in,
                             refresh_token=pair.refresh_token, id_token=id_token, scope=" ".join(app.scopes))

    def _id_token(self, *, user_id: uuid.UUID, client_id: str, app: AppSession, amr: list[str],
                  auth_time: datetime, email: str, nonce: str | None) -> str:
        """Core 2: who signed in, when, with which factors (``amr``: pwd and otp, or pwd and rc for a recovery
        code), for which client; ``sid`` is the person's session, which logout will name."""
        now = int(time.time())
        claims: dict[str, object] = {
            "iss": self.settings.issuer, "sub": str(user_id), "aud": client_id, "azp": client_id,
            "iat": now, "exp": now + self.settings.access_token_seconds, "auth_time": int(auth_time.timestamp()),
            "acr": ACR_MULTI_FACTOR, "amr": amr, "sid": str(app.parent_id),
        }
        if nonce is not None:
            claims["nonce"] = nonce
        if "email" in app.scopes:
            claims.update(email=email, email_verified=False)
        return self.keys.sign(claims)

    # -- userinfo (Core 5.3) --

    async def userinfo(self, session: AsyncSession, authorization: str | None) -> UserInfo:
        token = bearer_token(authorization)
        if token is None:  # RFC 6750 3.1: no error code when no token came
            raise TokenError("invalid_token", "An access token is required.", status=401,
                             headers={"WWW-Authenticate": 'Bearer realm="twofold"'})
        invalid = TokenError("invalid_token", "The access token is invalid, expired or revoked.", status=401,
                             headers={"WWW-Authenticate": 'Bearer realm="twofold", error="invalid_token"'})
        try:
            claims = await self.verifier.verify(token)
        except Unauthorized:
            raise invalid from None
        app = await self.sessions.find_live(session, claims.session_id) if claims.session_id else None
        if app is None or app["client_id"] is None or app["user_id"] != claims.user_id:
            raise invalid
        if "email" not in app["scopes"]:
            return UserInfo(sub=str(app["user_id"]))
        return UserInfo(sub=str(app["user_id"]), email=app["email"], email_verified=False)
