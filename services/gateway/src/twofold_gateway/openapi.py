"""The whole public API as one OpenAPI document, assembled from the services' own documents.

Each service describes its endpoints (FastAPI writes the document); the
gateway keeps only the operations it routes, says which credentials each
needs, adds the answers the gateway itself can give, and merges the schemas:
identical ones (every service has ``ProblemDetail``) once, different ones
under the same name prefixed by their service.  Internal endpoints, internal
headers and schemas only they use do not appear.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import re
import time
from collections.abc import Iterator, Mapping
from typing import Any

from twofold_common.errors import PROBLEM_CONTENT_TYPE, ServiceUnavailable
from twofold_common.peer import PeerClient, PeerUnreachable

from .proxy import PASSED_REQUEST_HEADERS
from .routes import Policy, Route, RouteTable, Upstream

log = logging.getLogger(__name__)

SCHEMA_REF = "#/components/schemas/"
PROBLEM = {"$ref": f"{SCHEMA_REF}ProblemDetail"}
SECURITY_SCHEMES = {
    "accessToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                    "description": "An access token from login (or, for enrollment only, a setup token)."},
    "apiKey": {"type": "http", "scheme": "basic",
               "description": "A third-party app's (or an operator's) client id and secret."},
}
SECURITY: dict[Policy, list[dict[str, list[str]]]] = {
    Policy.OPEN: [],
    Policy.SESSION: [{"accessToken": []}],
    Policy.ENROLLMENT: [{"accessToken": []}, {"apiKey": []}],
    Policy.ADMIN: [{"apiKey": []}],
    Policy.APP: [{"apiKey": []}],
}
# OpenAPI ignores these header parameters (security schemes and media types say it);
# any other header the gateway does not pass on would be a lie in the public contract.
_DOCUMENTED_HEADERS = {name.decode() for name in PASSED_REQUEST_HEADERS} - {"authorization", "accept", "content-type"}
_TEMPLATE_PARAMETER = re.compile(r"\{[^}]+\}")
RETRY_SOON_SECONDS = 10.0


def _problem(description: str, **extra: Any) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM_CONTENT_TYPE: {"schema": PROBLEM}}, **extra}


UPSTREAM_TROUBLE = {
    "502": _problem("The service broke off its answer"),
    # a service whose database is unreachable says so with Retry-After (twofold_common.errors)
    "503": _problem("The service, its database or the check of the caller is unavailable", headers={
        "Retry-After": {"description": "Seconds to wait (given when the database is unreachable)",
                        "schema": {"type": "integer", "minimum": 1}}}),
    "504": _problem("The service did not answer in time"),
}
RATE_LIMITED = _problem("Too many requests from this address", headers={
    "Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer", "minimum": 1}}})
CREDENTIALS_REFUSED = {
    "401": _problem("Missing, invalid or expired credentials, or a revoked session"),
    "403": _problem("The credentials do not allow this (a setup token, or an API key without the scope)"),
}


def public_operation(operation: dict[str, Any], route: Route) -> dict[str, Any]:
    """The service's operation as the public sees it through the gateway."""
    public = copy.deepcopy(operation)
    parameters = [p for p in public.get("parameters", [])
                  if p.get("in") != "header" or p.get("name", "").lower() in _DOCUMENTED_HEADERS]
    if parameters:
        public["parameters"] = parameters
    else:
        public.pop("parameters", None)
    public["security"] = SECURITY[route.policy]
    responses = public.setdefault("responses", {})
    for status, response in responses.items():
        if status == "422" and not _is_problem(response):
            # The shared error handlers answer validation errors with a problem, not FastAPI's default shape.
            responses[status] = _problem(response.get("description") or "Invalid request")
    gateway_answers = dict(UPSTREAM_TROUBLE)
    if "requestBody" in public:
        gateway_answers["413"] = _problem("The request body is too large")
        # FastAPI refuses a body it cannot decode (not UTF-8) before validation, and every service says so
        gateway_answers["400"] = _problem("The request body cannot be read")
        if "application/json" in public["requestBody"].get("content", {}):
            # the shared error handlers refuse a body not sent as JSON (a form, text) before validation
            gateway_answers["415"] = _problem("The body is not application/json")
    if route.rate_limited:
        gateway_answers["429"] = RATE_LIMITED
    if route.policy in (Policy.SESSION, Policy.ENROLLMENT, Policy.APP):
        gateway_answers.update(CREDENTIALS_REFUSED)
    for status, response in gateway_answers.items():
        if status not in responses:
            responses[status] = copy.deepcopy(response)
            continue
        # the service gives this status too (its own limits, its own 401): the gateway's form is added
        documented = responses[status]
        documented.setdefault("content", {}).setdefault(PROBLEM_CONTENT_TYPE, {"schema": PROBLEM})
        if status in UPSTREAM_TROUBLE:  # the gateway's wording covers the service's cause and its own
            documented["description"] = response["description"]
        if "headers" in response:
            documented["headers"] = {**copy.deepcopy(response["headers"]), **documented.get("headers", {})}
    return public


def _is_problem(response: dict[str, Any]) -> bool:
    return PROBLEM_CONTENT_TYPE in response.get("content", {})


def _template_key(path: str) -> str:
    return _TEMPLATE_PARAMETER.sub("{}", path)


def _refs(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        ref = value.get("$ref")
        if isinstance(ref, str) and ref.startswith(SCHEMA_REF):
            yield ref[len(SCHEMA_REF):]
        for item in value.values():
            yield from _refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _refs(item)


def _renamed(value: Any, names: Mapping[str, str]) -> Any:
    if isinstance(value, dict):
        return {key: (SCHEMA_REF + names.get(item[len(SCHEMA_REF):], item[len(SCHEMA_REF):])
                      if key == "$ref" and isinstance(item, str) and item.startswith(SCHEMA_REF)
                      else _renamed(item, names))
                for key, item in value.items()}
    if isinstance(value, list):
        return [_renamed(item, names) for item in value]
    return value


def _reachable(start: Any, schemas: Mapping[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    pending = list(_refs(start))
    while pending:
        name = pending.pop()
        if name in found or name not in schemas:
            continue
        found[name] = schemas[name]
        pending += _refs(schemas[name])
    return found


def merge_documents(documents: Mapping[str, dict[str, Any]], routes: RouteTable, *, own: dict[str, Any],
                    title: str, version: str) -> dict[str, Any]:
    """One document: the routed operations of each service's document, and ``own`` (the gateway's paths)."""
    # paths and the schemas they use, per service, before names are merged
    parts: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    own_schemas = own.get("components", {}).get("schemas", {})
    own_paths = own.get("paths", {})
    parts["gateway"] = (own_paths, _reachable(own_paths, own_schemas))
    for service, document in documents.items():
        by_template = {_template_key(path): (path, item) for path, item in document.get("paths", {}).items()}
        paths: dict[str, dict[str, Any]] = {}
        for route in routes.of(Upstream(service)):
            path, item = by_template.get(_template_key(route.path), (None, {}))
            operation = item.get(route.method.lower())
            if path is None or operation is None:
                continue  # not served (yet): routed, but not promised
            paths.setdefault(path, {})[route.method.lower()] = public_operation(operation, route)
        # every service's problems share the gateway's ProblemDetail unless it brings its own
        schemas = {"ProblemDetail": own_schemas["ProblemDetail"], **document.get("components", {}).get("schemas", {})}
        parts[service] = (paths, _reachable(paths, schemas))

    versions: dict[str, dict[str, list[str]]] = {}  # name -> canonical form -> services
    for service, (_, schemas) in parts.items():
        for name, schema in schemas.items():
            versions.setdefault(name, {}).setdefault(json.dumps(schema, sort_keys=True), []).append(service)
    merged_paths: dict[str, dict[str, Any]] = {}
    merged_schemas: dict[str, Any] = {}
    for service, (paths, schemas) in parts.items():
        names = {name: name if len(versions[name]) == 1 else f"{service}_{name}" for name in schemas}
        for name, schema in schemas.items():
            merged_schemas[names[name]] = _renamed(schema, names)
        for path, item in paths.items():
            merged_paths.setdefault(path, {}).update(_renamed(item, names))
    return {
        "openapi": own.get("openapi", "3.1.0"),
        "info": {"title": title, "version": version,
                 "description": "The public API of twofold: every path, through one gateway."},
        "paths": dict(sorted(merged_paths.items())),
        "components": {"schemas": dict(sorted(merged_schemas.items())), "securitySchemes": SECURITY_SCHEMES},
    }


class PublicApiDocument:
    """The merged document, rebuilt when a service's document is refetched (every few minutes)."""

    def __init__(self, clients: Mapping[Upstream, PeerClient], routes: RouteTable, *, own: dict[str, Any],
                 title: str, version: str, refresh_seconds: float) -> None:
        self.clients = clients
        self.routes = routes
        self.own = own
        self.title = title
        self.version = version
        self.refresh_seconds = refresh_seconds
        self._documents: dict[str, dict[str, Any]] = {}
        self._next_fetch: dict[Upstream, float] = {}
        self._merged: dict[str, Any] | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> dict[str, Any]:
        async with self._lock:
            now = time.monotonic()
            due = [u for u in self.clients if self._next_fetch.get(u, 0.0) <= now]
            if due:
                fetched = await asyncio.gather(*(self._fetch(u) for u in due))
                for upstream, document in zip(due, fetched, strict=True):
                    if document is not None:
                        self._documents[upstream.value] = document
                        self._merged = None
                    # a failed fetch keeps the last good copy and is tried again soon
                    self._next_fetch[upstream] = now + (self.refresh_seconds if document else RETRY_SOON_SECONDS)
            missing = [u.value for u in self.clients if u.value not in self._documents]
            if missing:
                raise ServiceUnavailable(f"The API description of {', '.join(missing)} is not available yet.",
                                         code="service-unavailable")
            if self._merged is None:
                self._merged = merge_documents(self._documents, self.routes, own=self.own, title=self.title,
                                               version=self.version)
            return self._merged

    async def _fetch(self, upstream: Upstream) -> dict[str, Any] | None:
        try:
            answer = await self.clients[upstream].get("/openapi.json")
            if not answer.is_success:
                raise ValueError(f"answered {answer.status_code}")
            return answer.json()
        except (PeerUnreachable, ValueError) as exc:
            log.warning("cannot fetch a service's API description", extra={"upstream": upstream.value,
                                                                           "error": repr(exc)})
            return None
