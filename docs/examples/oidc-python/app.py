"""Sign in with twofold: a Python app using Authlib's OpenID Connect client, the authorization code flow with PKCE.

    TWOFOLD_ISSUER=http://127.0.0.1:8000 CLIENT_ID=cl_... CLIENT_SECRET=sk_... python app.py

APP_URL (default http://localhost:3000) is where this app is reached; its /callback is the redirect URI
registered for it, its home page the post-logout redirect URI and its /backchannel-logout the back-channel
logout URI. Sessions live in this process's memory, keyed by a cookie; tokens never reach the browser.
"""

import html
import json
import os
import secrets
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import uvicorn
from authlib.integrations.starlette_client import OAuth
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

ISSUER = os.environ.get("TWOFOLD_ISSUER", "http://127.0.0.1:8000")
APP_URL = os.environ.get("APP_URL", "http://localhost:3000")
REDIRECT_URI = APP_URL.rstrip("/") + "/callback"
HOME = APP_URL.rstrip("/") + "/"  # where twofold sends the person back after signing them out
BACKCHANNEL_LOGOUT = "http://schemas.openid.net/event/backchannel-logout"

oauth = OAuth()
# discovery, PKCE S256, a nonce; Authlib checks the ID token against the issuer's JWKS
twofold = oauth.register("twofold", client_id=os.environ["CLIENT_ID"], client_secret=os.environ["CLIENT_SECRET"],
                         server_metadata_url=f"{ISSUER}/.well-known/openid-configuration",
                         client_kwargs={"scope": "openid email", "code_challenge_method": "S256"})
sessions: dict[str, dict] = {}
logout_tokens_taken: set[str] = set()  # their jti: one seen before is refused (a real app forgets them at exp)


def with_session(handler: Callable[[Request, dict], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    """The handler gets this browser's session, which a cookie names."""
    async def route(request: Request) -> Response:
        key = request.cookies.get("example_session")
        if key not in sessions:
            key = secrets.token_urlsafe(24)
            sessions[key] = {}
        response = await handler(request, sessions[key])
        response.set_cookie("example_session", key, httponly=True, samesite="lax")
        return response
    return route


def page(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(f"<!doctype html><title>Example app</title>{body}", status_code=status)


def shown(value: dict) -> str:
    return f"<pre>{html.escape(json.dumps(value, indent=2))}</pre>"


@with_session
async def home(request: Request, session: dict) -> Response:
    if "token" not in session:
        back = request.query_params.get("state")  # back from twofold's sign-out page, which this app sent
        signed_out = back is not None and back == session.pop("signing_out", None)
        notice = '<p id="signed-out">You are signed out of twofold too.</p>' if signed_out else ""
        return page(f'<h1>Example app</h1>{notice}<a id="sign-in" href="/login">Sign in with twofold</a>')
    return page(f"""<h1>Signed in</h1>
        <h2>ID token</h2><div id="id-token">{shown(session["claims"])}</div>
        <h2>Userinfo</h2><div id="userinfo">{shown(session["userinfo"])}</div>
        <p id="refreshes">{session["refreshes"]}</p>
        <form method="post" action="/refresh"><button id="refresh">Refresh</button></form>
        <form method="post" action="/logout"><button id="sign-out">Sign out</button></form>""")


@with_session
async def login(request: Request, session: dict) -> Response:
    started = await twofold.create_authorization_url(REDIRECT_URI)  # url, state, nonce, code_verifier
    session["pending"] = started
    return RedirectResponse(started["url"], status_code=303)


@with_session
async def callback(request: Request, session: dict) -> Response:
    pending, params = session.pop("pending", None), request.query_params
    metadata = await twofold.load_server_metadata()
    if pending is None or params.get("state") != pending["state"] or params.get("iss") != metadata["issuer"]:
        return page('<p id="error">Not a sign-in started here.</p>', 400)
    if "error" in params:  # access_denied, login_required...
        return page(f'<p id="error">{html.escape(params["error"])}</p>', 400)
    token = await twofold.fetch_access_token(redirect_uri=REDIRECT_URI, code=params.get("code"),
                                             code_verifier=pending["code_verifier"])
    session.update(token=token, claims=dict(await twofold.parse_id_token(token, nonce=pending["nonce"])),
                   userinfo=dict(await twofold.userinfo(token=token)), refreshes=0)
    return RedirectResponse("/", status_code=303)


@with_session
async def refresh(request: Request, session: dict) -> Response:
    if "token" in session:
        token = await twofold.fetch_access_token(grant_type="refresh_token",
                                                 refresh_token=session["token"]["refresh_token"])
        # a new ID token for the same sign-in (no nonce: it answers no authorization request)
        session.update(token=token, claims=dict(await twofold.parse_id_token(token, nonce=None)),
                       refreshes=session["refreshes"] + 1)
    return RedirectResponse("/", status_code=303)


@with_session
async def logout(request: Request, session: dict) -> Response:
    """Signs out here, then at twofold (RP-Initiated Logout): twofold asks the person and links back home."""
    id_token = session.get("token", {}).get("id_token")
    session.clear()
    if id_token is None:
        return RedirectResponse("/", status_code=303)
    ending = await twofold.create_logout_url(post_logout_redirect_uri=HOME, id_token_hint=id_token)  # url, state
    session["signing_out"] = ending["state"]
    return RedirectResponse(ending["url"], status_code=303)


async def backchannel_logout(request: Request) -> Response:
    """twofold says a sign-in ended (Back-Channel Logout 1.0): the logout token is checked as its section 2.6
    says, then every session of this app from that sign-in (the ID token's sid) ends. A GET says how many
    tokens were taken (the tests read it)."""
    if request.method == "GET":
        return JSONResponse({"accepted": len(logout_tokens_taken)})
    metadata = await twofold.load_server_metadata()
    try:
        keys = KeySet.import_key_set(await twofold.fetch_jwk_set(force=True))  # twofold may have rotated them
        token = jwt.decode(str((await request.form()).get("logout_token")), keys, algorithms=["RS256"])
        required: jwt.ClaimsOption = {"essential": True}
        jwt.JWTClaimsRegistry(iss={"essential": True, "value": metadata["issuer"]},
                              aud={"essential": True, "value": twofold.client_id}, leeway=60,
                              iat=required, exp=required, jti=required, sid=required, events=required,
                              ).validate(token.claims)
        claims = token.claims
        if (token.header.get("typ") != "logout+jwt" or "nonce" in claims or claims["jti"] in logout_tokens_taken
                or not isinstance(claims["events"], dict) or BACKCHANNEL_LOGOUT not in claims["events"]):
            raise ValueError("not a logout token, or one taken before")
    except (JoseError, ValueError) as error:
        return JSONResponse({"error": "invalid_request", "error_description": str(error)}, status_code=400)
    logout_tokens_taken.add(claims["jti"])
    for session in sessions.values():
        if session.get("claims", {}).get("sid") == claims["sid"]:
            session.clear()
    return Response(status_code=200)


app = Starlette(routes=[Route("/", home), Route("/login", login), Route("/callback", callback),
                        Route("/refresh", refresh, methods=["POST"]), Route("/logout", logout, methods=["POST"]),
                        Route("/backchannel-logout", backchannel_logout, methods=["GET", "POST"])])

if __name__ == "__main__":
    address = urlsplit(APP_URL)
    uvicorn.run(app, host=address.hostname or "localhost", port=address.port or 80)
