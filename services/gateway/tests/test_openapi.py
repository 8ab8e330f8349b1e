"""The public API in one document: what it promises, what it hides, and that its references resolve."""

from __future__ import annotations

import re
from typing import Any

import httpx
import jsonschema_rs

from twofold_common.testing.http import bearer
from twofold_gateway.openapi import merge_documents
from twofold_gateway.routes import ROUTES, Policy, Route, RouteTable, Upstream

PROBLEM = {"type": "object", "properties": {"type": {"type": "string"}}, "required": ["type"]}
OWN = {"openapi": "3.1.0", "paths": {}, "components": {"schemas": {"ProblemDetail": PROBLEM}}}


def refs(value: Any) -> set[str]:
    if isinstance(value, dict):
        found = {value["$ref"]} if isinstance(value.get("$ref"), str) else set()
        return found.union(*(refs(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(refs(v) for v in value))
    return set()


def operation(schema: str, *headers: str) -> dict:
    return {"parameters": [{"in": "header", "name": h, "schema": {"type": "string"}} for h in headers],
            "responses": {"200": {"description": "ok", "content": {"application/json": {
                "schema": {"$ref": f"#/components/schemas/{schema}"}}}},
                "422": {"description": "Validation Error", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/HTTPValidationError"}}}}}}


def test_schemas_of_the_same_name_merge_when_equal_and_are_prefixed_when_not() -> None:
    table = RouteTable([Route("GET", "/a/{x}", Upstream.AUTH, Policy.SESSION),
                        Route("GET", "/b", Upstream.REGISTRATION, Policy.OPEN, rate_limited=True)])
    shared = {"type": "object", "properties": {"id": {"type": "string"}}}
    documents = {
        "auth": {"paths": {"/a/{item_id}": {"get": operation("Item", "authorization", "X-Internal-Auth")},
                           "/internal/secret": {"post": operation("Secret")}},
                 "components": {"schemas": {"Item": {"type": "object", "properties": {
                     "shared": {"$ref": "#/components/schemas/Shared"}}},
                     "Shared": shared, "Secret": {"type": "object"}, "HTTPValidationError": {"type": "object"}}}},
        "registration": {"paths": {"/b": {"get": operation("Item", "X-Twofold-Client-Id")}},
                         "components": {"schemas": {"Item": {"type": "string"}, "Shared": shared}}},
    }
    merged = merge_documents(documents, table, own=OWN, title="t", version="1")
    assert set(merged["paths"]) == {"/a/{item_id}", "/b"}
    schemas = merged["components"]["schemas"]
    assert set(schemas) == {"auth_Item", "registration_Item", "Shared", "ProblemDetail"}
    assert refs(merged) <= {f"#/components/schemas/{name}" for name in schemas}
    a, b = merged["paths"]["/a/{item_id}"]["get"], merged["paths"]["/b"]["get"]
    assert a["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/auth_Item")
    assert "parameters" not in a and "parameters" not in b  # credentials and internal headers are not public
    assert a["security"] == [{"accessToken": []}] and b["security"] == []
    assert {"401", "403", "502", "503", "504"} <= set(a["responses"]) and "429" not in a["responses"]
    assert "retry-after" in {h.lower() for h in b["responses"]["429"]["headers"]}
    assert "application/problem+json" in a["responses"]["422"]["content"]


async def test_the_public_document_lists_every_api_route_and_nothing_internal(world) -> None:
    """Every route of the API; the pages (``/``, ``/ui/...``) are for people, not in the API's contract."""
    api_routes = [r for r in ROUTES.routes if r.upstream.has_api]
    answer = await world.http.get("/openapi.json")
    assert answer.status_code == 200, answer.text
    document = answer.json()
    documented = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    assert {(r.method, r.path) for r in api_routes} <= documented
    assert documented - {(r.method, r.path) for r in api_routes} == {("GET", "/readyz"), ("GET", "/openapi.json")}
    schemas = document["components"]["schemas"]
    assert refs(document) <= {f"#/components/schemas/{name}" for name in schemas}
    assert not {"ClientCredentials", "ClientForRedirects", "HTTPValidationError"} & set(schemas)
    assert set(document["components"]["securitySchemes"]) == {"accessToken", "apiKey"}
    for path, item in document["paths"].items():
        for method, op in item.items():
            where = f"{method.upper()} {path}"
            assert op["responses"] and all(r.get("description") for r in op["responses"].values()), where
            for parameter in op.get("parameters", []):
                assert parameter["in"] != "header" or parameter["name"].lower() == "user-agent", where
            for status, response in op["responses"].items():
                if status.startswith(("4", "5")) and path != "/readyz":
                    # OAuth's endpoints answer their own errors in OAuth's JSON (RFC 6749 5.2), which clients parse
                    oauth = path.startswith("/oauth2/") and status in ("400", "401")
                    media = "application/json" if oauth else "application/problem+json"
                    assert media in response.get("content", {}), (where, status)
    route = {(r.method, r.path): r for r in api_routes}
    for (method, path), r in route.items():
        responses = document["paths"][path][method.lower()]["responses"]
        assert {"502", "503", "504"} <= set(responses)
        if r.policy in (Policy.SESSION, Policy.ENROLLMENT, Policy.APP):
            assert {"401", "403"} <= set(responses), path
        if r.rate_limited:
            assert "Retry-After" in responses["429"]["headers"], path


async def test_the_docs_page_loads_everything_from_the_gateway_and_runs_no_inline_script(world) -> None:
    """Swagger UI comes from a package: /docs works without internet and sends nothing to a third party."""
    page = await world.http.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "frame-ancestors 'none'" in policy
    assert "://" not in page.text  # no asset from another origin
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page.text, re.S)
    assert scripts and all(body.strip() == "" and "src=" in attributes for attributes, body in scripts)
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert len(assets) == 4 and all(path.startswith("/docs/") for path in assets)
    for path in assets:
        asset = await world.http.get(path)
        assert asset.status_code == 200 and len(asset.content) > 0, path
    start = (await world.http.get("/docs/start.js")).text
    assert '"/openapi.json"' in start and "SwaggerUIBundle" in (await world.http.get("/docs/swagger-ui-bundle.js")).text
    missing = await world.http.get("/docs/index.html")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"


async def test_the_callbacks_contract_says_what_the_callback_does(world) -> None:
    """``timestamp`` is required; the 200 is HTML for a browser and JSON otherwise, both published."""
    document = (await world.http.get("/openapi.json")).json()
    callback = document["paths"]["/api/auth/totp-callback"]["get"]
    parameters = {p["name"]: p for p in callback["parameters"]}
    assert parameters["timestamp"]["required"] is True
    landing = callback["responses"]["200"]["content"]
    assert set(landing) == {"text/html", "application/json"}
    json_schema = {**landing["application/json"]["schema"], "components": document["components"]}

    async def started() -> str:
        person = await world.register()
        answer = await world.http.post("/api/auth/setup-2fa", json={}, headers=bearer(person.setup_token))
        return answer.json()["deepLink"]

    async def follow(url: str, accept: str):
        async with httpx.AsyncClient(timeout=30) as browser:
            return await browser.get(url, headers={"accept": accept})

    deep_link = await started()
    callback_url, _ = world.provider.accept(deep_link)
    untimed = callback_url.replace("&timestamp=", "&x=")
    missing = await follow(untimed, "application/json")
    assert missing.status_code == 422 and "422" in callback["responses"], missing.text
    assert missing.headers["content-type"] in callback["responses"]["422"]["content"]

    as_json = await follow(callback_url, "application/json")
    assert as_json.status_code == 200 and as_json.headers["content-type"] == "application/json", as_json.text
    assert jsonschema_rs.validator_for(json_schema).is_valid(as_json.json()), as_json.json()
    properties = _resolve(document, landing["application/json"]["schema"])["properties"]
    assert set(as_json.json()) <= set(properties)

    as_html = await follow(world.provider.accept(await started())[0], "text/html,application/xhtml+xml")
    assert as_html.status_code == 200 and as_html.headers["content-type"].startswith("text/html")


def _resolve(document: dict, schema: dict) -> dict:
    ref = schema.get("$ref")
    return document["components"]["schemas"][ref.rsplit("/", 1)[-1]] if ref else schema
