"""RFC 9457 problem details: one error base class, one set of handlers.

Domain code raises ``Problem`` subclasses (or ``Problem(...)``) with a stable
``code``; the handlers render ``application/problem+json`` with
``type = <base>/<code>``.  Unexpected exceptions become a 500 problem with no
internals in the body; validation errors become 422 with the failing fields
(never their values, which may be secrets).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from .db import database_unavailable, sqlstate
from .logging import current_request_id

log = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://twofold.dev/problems"
_HTTP_TITLES = {
    400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found",
    405: "Method not allowed", 409: "Conflict", 410: "Gone", 413: "Request body too large",
    415: "Unsupported media type", 422: "Invalid request", 429: "Too many requests",
    500: "Internal error", 502: "Bad gateway", 503: "Service unavailable", 504: "Gateway timeout",
}


class ProblemDetail(BaseModel):
    """The body of every error response (for OpenAPI)."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="names the problem; its last segment is a stable code to branch on, "
                                  "e.g. https://twofold.dev/problems/invalid-code")
    title: str = Field(description="a short summary of the problem's kind")
    status: int = Field(description="the HTTP status of the answer")
    detail: str | None = Field(default=None, description="what went wrong this time, for a person to read")
    instance: str | None = Field(default=None, description="the path of the request")
    request_id: str | None = Field(default=None, description="the X-Request-ID of the request; quote it when "
                                                             "asking for help: it finds the request in the logs")


class Problem(Exception):
    status: int = 400
    code: str = "bad-request"
    title: str = "Bad request"

    def __init__(
        self,
        detail: str | None = None,
        *,
        status: int | None = None,
        code: str | None = None,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail or title or self.title)
        self.detail = detail
        self.status = status or self.status
        self.code = code or self.code
        self.title = title or self.title
        self.headers = headers or {}
        self.extensions = extensions


class NotFound(Problem):
    status, code, title = 404, "not-found", "Not found"


class Unauthorized(Problem):
    status, code, title = 401, "unauthorized", "Unauthorized"


class Forbidden(Problem):
    status, code, title = 403, "forbidden", "Forbidden"


class Conflict(Problem):
    status, code, title = 409, "conflict", "Conflict"


class TooManyRequests(Problem):
    status, code, title = 429, "too-many-requests", "Too many requests"

    def __init__(self, detail: str | None = None, *, retry_after: int, **kw: Any) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after))}, **kw)


class ServiceUnavailable(Problem):
    status, code, title = 503, "service-unavailable", "Service unavailable"


# A restarted or failed-over PostgreSQL is usually back within seconds; the pool reconnects on its own.
DATABASE_RETRY_AFTER_SECONDS = 5


def database_unavailable_response(instance: str | None = None) -> JSONResponse:
    return problem_response(503, "database-unavailable", "Service unavailable",
                            "The database is unreachable; try again shortly.", instance=instance,
                            headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)})


def problem_response(
    status: int,
    code: str,
    title: str,
    detail: str | None = None,
    *,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    body: dict[str, Any] = {"type": f"{PROBLEM_TYPE_BASE}/{code}", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    if request_id := current_request_id():
        body["request_id"] = request_id
    body.update(extensions)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_CONTENT_TYPE)


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(
            exc.status, exc.code, exc.title, exc.detail,
            instance=request.url.path, headers=exc.headers, **exc.extensions,
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        if _not_json(request, exc):
            return problem_response(415, "unsupported-media-type", "Unsupported media type",
                                    "Send the body as application/json (Content-Type: application/json).",
                                    instance=request.url.path)
        if broken := _json_syntax_error(exc):
            return problem_response(422, "invalid-request", "Invalid request", f"The body is not valid JSON: {broken}.",
                                    instance=request.url.path, errors=[{"location": ["body"], "message": broken}])
        errors = [
            {"location": [str(p) for p in err.get("loc", ())], "message": err.get("msg", "invalid")}
            for err in exc.errors()
        ]
        return problem_response(
            422, "invalid-request", "Invalid request", "The request does not match the schema.",
            instance=request.url.path, errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        title = _HTTP_TITLES.get(exc.status_code, "Error")
        detail = exc.detail if isinstance(exc.detail, str) and exc.detail != title else None
        code = title.lower().replace(" ", "-")
        return problem_response(exc.status_code, code, title, detail, instance=request.url.path,
                                headers=getattr(exc, "headers", None))

    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: DBAPIError) -> JSONResponse:
        # SQLSTATE class 22 ("data exception": a NUL byte in text, a number out of range...) means the
        # input was unfit for the column; the caller gets a 400, not the 500 of a failure of ours.
        if (sqlstate(exc) or "").startswith("22"):
            return problem_response(400, "invalid-value", "Invalid value",
                                    "A value in the request cannot be stored (for example a NUL character).",
                                    instance=request.url.path)
        if database_unavailable(exc):
            log.warning("database unavailable", extra={"path": request.url.path, "error": type(exc.orig).__name__})
            return database_unavailable_response(request.url.path)
        return await _unexpected(request, exc)

    @app.exception_handler(PoolTimeout)
    async def _pool_exhausted(request: Request, exc: PoolTimeout) -> JSONResponse:
        # every pooled connection stayed busy (or kept failing to open) for the pool's whole timeout
        log.warning("database pool timed out", extra={"path": request.url.path})
        return database_unavailable_response(request.url.path)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return internal_error_response(request.url.path)


def _is_json(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json"))


def _not_json(request: Request, exc: RequestValidationError) -> bool:
    """A body FastAPI did not parse because it was not declared JSON (a form, text) reaches a JSON model as bytes."""
    if _is_json(request.headers.get("content-type", "")):
        return False
    return any(tuple(err.get("loc", ())) == ("body",) and err.get("type") in ("model_attributes_type", "dict_type")
               for err in exc.errors())


def _json_syntax_error(exc: RequestValidationError) -> str | None:
    """Where malformed JSON broke, from the parser's message and position (never the text around it)."""
    for err in exc.errors():
        loc = err.get("loc", ())
        if (err.get("type") == "json_invalid" and len(loc) == 2 and isinstance(loc[1], int)
                and isinstance(exc.body, str)):
            position, document = loc[1], exc.body
            line = document.count("\n", 0, position) + 1
            column = position - document.rfind("\n", 0, position)
            return f"{err.get('ctx', {}).get('error', 'Malformed JSON')} at line {line}, column {column}"
    return None


def internal_error_response(path: str) -> JSONResponse:
    """The 500 of an error nobody expected; call it from within the ``except`` (the trace is logged)."""
    log.exception("unhandled error", extra={"path": path})
    return problem_response(500, "internal-error", "Internal error", instance=path)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries for problem+json errors."""
    return {
        status: {
            "model": ProblemDetail,
            "description": _HTTP_TITLES.get(status, "Error"),
            "content": {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/ProblemDetail"}}},
        }
        for status in statuses
    }


def database_unavailable_openapi() -> dict[str, Any]:
    """The OpenAPI response of ``database_unavailable_response`` (a 503 with ``Retry-After``)."""
    return {
        "description": "The database is unreachable: try again after Retry-After seconds",
        "headers": {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer", "minimum": 1}}},
        "content": {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/ProblemDetail"}}},
    }
