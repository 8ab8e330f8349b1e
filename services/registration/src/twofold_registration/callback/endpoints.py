from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from twofold_common.errors import Problem, problem_responses
from twofold_common.runtime import SessionDep

from ..deps import CallbacksDep, StarterDep
from ..tokens.endpoints import app_only
from . import service
from .pages import page
from .schemas import CallbackLanding, SeedPickup

router = APIRouter(prefix="/api/auth", tags=["enrollment"])
apps_router = APIRouter(prefix="/api/v1", tags=["third-party apps"])
# The provider's values travel on to the vault, the database and the app's redirect: none has a use for them.
NO_CONTROL_CHARACTERS = r"^[^\x00-\x1f\x7f]*$"
MAX_SAFE_INTEGER = 2**53 - 1  # JavaScript's Date.now() fits; a float of it does not overflow


@router.get(
    "/totp-callback",
    response_class=Response,
    responses={200: {"model": CallbackLanding, "content": {"text/html": {"schema": {"type": "string"}}},
                     "description": "A page for the person when the caller accepts text/html; JSON otherwise"},
               303: {"description": "Back to the third-party app that started the setup (signed, no seed)"},
               **problem_responses(400, 404, 409, 410, 422, 503)},
)
async def totp_callback(
    request: Request,
    callbacks: CallbacksDep,
    reg_token: Annotated[str, Query(alias="regToken", min_length=10, max_length=200)],
    timestamp: Annotated[int, Query(ge=0, le=MAX_SAFE_INTEGER,
                                    description="when the provider sent the person here, in ms since the epoch")],
    success: Annotated[bool, Query()] = False,
    seed: Annotated[str | None, Query(max_length=256, pattern=NO_CONTROL_CHARACTERS)] = None,
    code: Annotated[str | None, Query(pattern=r"^[0-9]{6,8}$")] = None,
    seed_id: Annotated[str | None, Query(alias="seedId", max_length=255, pattern=NO_CONTROL_CHARACTERS)] = None,
    error: Annotated[str | None, Query(max_length=500, pattern=NO_CONTROL_CHARACTERS)] = None,
) -> Response:
    """The authenticator provider calls this when the person accepted (with the seed) or declined."""
    params = service.CallbackParams(success, reg_token, seed, code, seed_id, timestamp, error)
    wants_html = "text/html" in request.headers.get("accept", "")
    try:
        outcome = await callbacks.handle(params)
    except Problem as problem:
        if not wants_html:
            raise
        return page(ok=False, title=problem.title, message=problem.detail or problem.title, status=problem.status)
    if outcome.redirect_to:
        return RedirectResponse(outcome.redirect_to, status_code=303)
    if wants_html:
        return page(ok=outcome.success, title="Done" if outcome.success else "Setup declined", message=outcome.message,
                    recovery_codes=outcome.recovery_codes)
    landing = CallbackLanding(success=outcome.success, message=outcome.message,
                              recovery_codes=outcome.recovery_codes or None)
    return JSONResponse(landing.model_dump(by_alias=True, exclude_none=True))


@apps_router.post("/registrations/{registration_token}/seed", responses=problem_responses(401, 404, 410))
async def fetch_seed(registration_token: str, session: SessionDep, callbacks: CallbacksDep,
                     starter: StarterDep) -> SeedPickup:
    """Seed mode (opt-in per app): the new seed, once, within minutes of completion; then it is gone."""
    seed, seed_id = await callbacks.take_seed(session, registration_token, app_only(starter))
    return SeedPickup(seed=seed, seed_id=seed_id)
