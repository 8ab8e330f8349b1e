"""The web service: pages for people, on the public address behind the gateway (``/``, ``/ui/...`` and OpenID
Connect's ``/oauth2/authorize`` and ``/oauth2/logout``)."""

from __future__ import annotations

import jinja2
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from twofold_common.peer import PeerUnreachable
from twofold_common.runtime import Runtime, RuntimeDep, create_service_app, stopping_answer

from .api import PublicApi
from .page import FormExpired, Page, Redirect
from .pages import account, authorize, enroll, logout, recovery_codes, signin, signup
from .settings import WebSettings
from .visit import VisitCookie
from .words import WORDS

own = APIRouter()


@own.get("/", include_in_schema=False)
async def home() -> Response:
    return RedirectResponse("/ui/account", status_code=303)


@own.get("/readyz", include_in_schema=False)
async def readyz(request: Request, runtime: RuntimeDep) -> JSONResponse:
    """Ready when the gateway, through which every page acts, answers."""
    if stopping := stopping_answer(request):
        return stopping
    api: PublicApi = runtime.state["api"]
    try:
        ok = (await api.client.get("/healthz", timeout=2.0)).status_code == 200
    except PeerUnreachable:
        ok = False
    return JSONResponse({"status": "ready" if ok else "not-ready", "checks": {"gateway": "ok" if ok else
                                                                              "unreachable"}},
                        status_code=200 if ok else 503)


def create_app(settings: WebSettings | None = None) -> FastAPI:
    settings = settings or WebSettings()

    async def start(runtime: Runtime) -> None:
        client = runtime.internal_auth.client("gateway", settings.gateway_url, timeout=settings.api_timeout_seconds)
        runtime.state["api"] = PublicApi(client)
        runtime.state["cookie"] = VisitCookie(settings.cookie_key.get_secret_value(), secure=settings.cookie_secure,
                                              max_age=settings.visit_seconds)
        environment = jinja2.Environment(loader=jinja2.PackageLoader("twofold_web", "templates"), autoescape=True)
        runtime.state["templates"] = Jinja2Templates(env=environment)

    async def stop(runtime: Runtime) -> None:
        await runtime.state["api"].aclose()

    app = create_service_app(settings, title="twofold pages", on_start=start, on_stop=stop,
                             routes=list(own.routes),
                             routers=[signup.router, enroll.router, recovery_codes.router, signin.router,
                                      account.router, authorize.router, logout.router],
                             openapi_url=None, docs_url=None, redoc_url=None)
    app.mount("/ui/static", StaticFiles(packages=[("twofold_web", "static")]), name="static")

    @app.exception_handler(Redirect)
    async def redirect(request: Request, exc: Redirect) -> Response:
        page: Page = request.state.page
        return page.redirect(exc.url)

    @app.exception_handler(FormExpired)
    async def form_expired(request: Request, exc: FormExpired) -> Response:
        page: Page = request.state.page
        return page.render("message.html", status=403, title=WORDS.form_expired_title, alert=WORDS.form_expired,
                           back="/")

    return app
