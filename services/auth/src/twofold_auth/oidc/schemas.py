from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ..sessions.schemas import CamelModel

Parameter = str | list[str] | None


class AuthorizationRequest(BaseModel):
    """The authorization request's parameters as the app sent them (Core 3.1.2.1), under their own names.

    A parameter the app repeated is passed as a list (and refused: RFC 6749 3.1); one not listed here is
    ignored, as RFC 6749 3.1 says. ``consent`` is no parameter of the app's: the pages set it, always, to the
    person's answer on the consent page (null until they answered).
    """

    model_config = ConfigDict(extra="ignore")

    client_id: Parameter = None
    redirect_uri: Parameter = None
    response_type: Parameter = None
    scope: Parameter = None
    state: Parameter = None
    nonce: Parameter = None
    code_challenge: Parameter = None
    code_challenge_method: Parameter = None
    prompt: Parameter = None
    max_age: Parameter = None
    login_hint: Parameter = None
    request: Parameter = None
    request_uri: Parameter = None
    consent: Literal["granted", "denied"] | None = Field(
        default=None, description="set by the pages: the person allowed, or denied, what the consent page showed")


class AuthorizeAnswer(CamelModel):
    """What the pages do next.

    - ``redirect``: send the browser to ``redirectTo`` (the code, or an OAuth error for the app).
    - ``login``: ask the person for both factors (``signed-out``: before anyone signed in; ``prompt-login``,
      or ``max-age`` passed: again), then call again with the new session's access token, without
      ``prompt=login`` and ``max_age``: the new sign-in answers them.
    - ``consent``: the app is not first-party and the person has not allowed it these scopes yet (or
      ``prompt=consent``); ask them, then call again with ``consent``.
    """

    action: Literal["redirect", "login", "consent"]
    redirect_to: str | None = Field(default=None, description="for redirect: where the browser goes")
    reason: str | None = Field(default=None, description="for login: signed-out, prompt-login or max-age")
    client_name: str | None = Field(default=None, description="for login and consent: the app's name")
    scopes: list[str] | None = Field(default=None, description="for consent: what the app asks for")


class LogoutRequest(BaseModel):
    """An RP-initiated logout request's parameters as the app sent them (RP-Initiated Logout 2), under their own
    names; repeated ones are lists (and refused), others are ignored."""

    model_config = ConfigDict(extra="ignore")

    id_token_hint: Parameter = None
    client_id: Parameter = None
    post_logout_redirect_uri: Parameter = None
    state: Parameter = None


class LogoutAnswer(CamelModel):
    """The request is sound: the pages ask the person to confirm, sign them out, then send them on."""

    redirect_to: str | None = Field(description="the app's post_logout_redirect_uri with its state; null: the "
                                                "request named none, the person stays here")
    client_name: str | None = Field(description="the app the request comes from; null when it names none")


class TokenResponse(BaseModel):
    """RFC 6749 5.1 with Core 3.1.3.3's id_token."""

    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int
    refresh_token: str
    id_token: str
    scope: str


class OAuthError(BaseModel):
    """RFC 6749 5.2 (token endpoint) and RFC 6750 3 (userinfo): what OAuth clients parse."""

    error: str
    error_description: str | None = None


class UserInfo(BaseModel):
    """Core 5.3.2: the claims the access token's scope allows."""

    model_config = ConfigDict(extra="forbid")

    sub: str
    email: str | None = None
    email_verified: bool | None = Field(default=None, description="false: no address is confirmed by mail yet")


class ProviderMetadata(BaseModel):
    """OpenID Connect Discovery 1.0, section 3 (and RFC 9207's authorization_response_iss_parameter_supported, and
the logout specifications' own)."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    userinfo_endpoint: str
    jwks_uri: str
    response_types_supported: list[str]
    response_modes_supported: list[str]
    grant_types_supported: list[str]
    subject_types_supported: list[str]
    id_token_signing_alg_values_supported: list[str]
    token_endpoint_auth_methods_supported: list[str]
    code_challenge_methods_supported: list[str]
    scopes_supported: list[str]
    claims_supported: list[str]
    acr_values_supported: list[str]
    claims_parameter_supported: bool
    request_parameter_supported: bool
    request_uri_parameter_supported: bool
    authorization_response_iss_parameter_supported: bool
    end_session_endpoint: str  # RP-Initiated Logout 2.1
    backchannel_logout_supported: bool  # Back-Channel Logout 2.1
    backchannel_logout_session_supported: bool
