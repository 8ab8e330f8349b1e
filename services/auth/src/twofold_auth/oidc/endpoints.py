"""Discovery, the pages' authorization and logout APIs, and the token and userinfo endpoints apps call.

The token and userinfo endpoints answer errors in OAuth's own JSON (RFC 6749 5.2, RFC 6750 3), which
clients parse, not as problem+json. They are answers rather than exceptions, so the request's unit of work
commits what a refusal wrote (the revocation that follows a reused code).
"""

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse

from twofold_common.errors import problem_responses
from twofold_common.runtime import SessionDep

from ..deps import CallerDep, MaybeSignedInDep, OpenIdProviderDep, SignedInDep
from .rules import FormBody, TokenError
from .schemas import (
    AuthorizationRequest,
    AuthorizeAnswer,
    LogoutAnswer,
    LogoutRequest,
    OAuthError,
    ProviderMetadata,
    TokenResponse,
    UserInfo,
)

discovery_router = APIRouter(tags=["openid connect"])
pages_router = APIRouter(prefix="/api/auth/oidc", tags=["openid connect"])
router = APIRouter(prefix="/oauth2", tags=["openid connect"])

NO_CACHE = {"Pragma": "no-cache"}  # RFC 6749 5.1; every answer already says Cache-Control: no-store
_FORM_FIELDS = ("grant_type", "code", "redirect_uri", "code_verifier", "refresh_token", "client_id", "client_secret",
                "scope")
TOKEN_REQUEST: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "application/x-www-form-urlencoded": {"schema": {
        "type": "object", "required": ["grant_type"],
        "properties": {name: {"type": "string"} for name in _FORM_FIELDS}}}}}}


def _oauth_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    described = {400: "The request is refused (error says why)", 401: "Missing or invalid credentials"}
    return {status: {"model": OAuthError, "description": described[status]} for status in statuses}


def _error(exc: TokenError) -> JSONResponse:
    body = OAuthError(error=exc.error, error_description=exc.description).model_dump()
    return JSONResponse(body, status_code=exc.status, headers={**exc.headers, **NO_CACHE})


@discovery_router.get("/.well-known/openid-configuration")
async def openid_configuration(provider: OpenIdProviderDep) -> ProviderMetadata:
    """OpenID Connect Discovery: the endpoints, and what this provider supports."""
    return provider.metadata()


@pages_router.post("/authorize", response_model_exclude_none=True, responses=problem_responses(400, 401, 403, 422))
async def authorize(body: AuthorizationRequest, session: SessionDep, provider: OpenIdProviderDep, me: SignedInDep,
                    caller: CallerDep) -> AuthorizeAnswer:
    """For the pages: an app's authorization request (its parameters, unchanged), for the signed-in person.

    A 400 (`unknown-client`, `invalid-redirect-uri`) is shown to the person: those requests are never
    redirected. Every other outcome says what the pages do next (see the answer's `action`).
    """
    return await provider.authorize(session, me, body, caller)


@pages_router.post("/check", response_model_exclude_none=True, responses=problem_responses(400, 422))
async def check(body: AuthorizationRequest, session: SessionDep, provider: OpenIdProviderDep) -> AuthorizeAnswer:
    """For the pages, before anyone signed in: the same checks as `/authorize`, and the same 400 problems.

    `redirect` is an error for the app (`login_required` for `prompt=none`); `login` means the person signs in,
    then the pages call `/authorize`. Nothing is written: no code is issued without a signed-in person.
    """
    return await provider.check(session, body)
@pages_router.post("/logout", responses=problem_responses(400, 422))
async def logout(body: LogoutRequest, session: SessionDep, provider: OpenIdProviderDep, me: MaybeSignedInDep,
                 caller: CallerDep) -> LogoutAnswer:
    """For the pages: an app's RP-initiated logout request (its parameters, unchanged), checked before the
    person is asked to confirm, and again with the person's access token (optional) once they did: the audit
    log then says they signed out at that app's request.

    A 400 (`invalid-logout-request`, `invalid-id-token-hint`, `unknown-client`,
    `invalid-post-logout-redirect-uri`) is shown to the person, never redirected. On confirmation the pages
    sign the person out (`POST /api/auth/logout`), which ends the apps' sessions of that sign-in too: each app
    with a back-channel logout URI is sent a logout token.
    """
    return await provider.logout_request(session, body, me, caller)


@router.post("/token", response_model=TokenResponse, responses=_oauth_responses(400, 401),
             openapi_extra=TOKEN_REQUEST)
async def token(request: Request, session: SessionDep, provider: OpenIdProviderDep, caller: CallerDep) -> JSONResponse:
    """The token endpoint: an authorization code (with its PKCE verifier) or a refresh token, for tokens.
    The app authenticates with HTTP Basic (client_secret_basic) or in the form (client_secret_post)."""
    try:
        form = FormBody.parse(request.headers.get("content-type"), await request.body())
        answer = await provider.token(session, form, request.headers.get("authorization"), caller)
    except TokenError as exc:
        return _error(exc)
    return JSONResponse(answer.model_dump(), headers=NO_CACHE)


async def _userinfo(session: SessionDep, provider: OpenIdProviderDep,
                    authorization: str | None) -> UserInfo | JSONResponse:
    try:
        return await provider.userinfo(session, authorization)
    except TokenError as exc:
        return _error(exc)


@router.get("/userinfo", response_model=UserInfo, response_model_exclude_none=True,
            responses=_oauth_responses(401))
async def userinfo(session: SessionDep, provider: OpenIdProviderDep,
                   authorization: Annotated[str | None, Header()] = None) -> UserInfo | JSONResponse:
    """The signed-in person's claims the app's access token allows (Bearer)."""
    return await _userinfo(session, provider, authorization)


@router.post("/userinfo", response_model=UserInfo, response_model_exclude_none=True,
             responses=_oauth_responses(401))
async def userinfo_post(session: SessionDep, provider: OpenIdProviderDep,
                        authorization: Annotated[str | None, Header()] = None) -> UserInfo | JSONResponse:
    """The same by POST (Core 5.3.1: both are supported); the token comes in the Authorization header."""
    return await _userinfo(session, provider, authorization)
