"""Input at the edge of the schema, through the gateway to the real services: always the documented 4xx."""

from __future__ import annotations

from twofold_common.testing.http import bearer

TOO_BIG = 2**63  # one past PostgreSQL's bigint


async def test_out_of_range_integers_and_bodies_that_are_not_json_get_documented_problems(world) -> None:
    document = (await world.http.get("/openapi.json")).json()
    person = await world.enroll(await world.register())
    session = await world.sign_in(person)

    # item 13: every integer parameter is bounded, so the schema refuses what the database could not hold
    for before in (TOO_BIG, 10**40):
        audit = await world.http.get(f"/api/auth/audit?before={before}", headers=bearer(session["accessToken"]))
        assert audit.status_code == 422, audit.text
        assert audit.json()["type"].endswith("/invalid-request")
    newcomer = await world.register()
    started = await world.http.post("/api/auth/setup-2fa", json={}, headers=bearer(newcomer.setup_token))
    assert started.status_code == 201, started.text
    callback, _ = world.provider.accept(started.json()["deepLink"], timestamp_ms=10**400)
    late = await world.http.get(callback[len(str(world.http.base_url).rstrip("/")):])
    assert late.status_code == 422, late.text
    parameters = {p["name"]: p["schema"] for p in document["paths"]["/api/auth/audit"]["get"]["parameters"]}
    assert _maximum(parameters["before"]) == 2**63 - 1

    # item 14: a form or text body is a 415 that names the media type to send; broken JSON says where
    login = {"email": person.email, "password": "x"}
    for content_type, content in (("application/x-www-form-urlencoded", b"email=a%40b.c&password=x"),
                                  ("text/plain", b'{"email": "a@b.c", "password": "x"}')):
        answer = await world.http.post("/api/auth/login", content=content, headers={"content-type": content_type})
        assert answer.status_code == 415, (content_type, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["type"].endswith("/unsupported-media-type")
        assert "application/json" in answer.json()["detail"]
    broken_json = b'{"email": "%s",\n "password": x}' % login["email"].encode()
    broken = await world.http.post("/api/auth/login", content=broken_json,
                                   headers={"content-type": "application/json"})
    assert broken.status_code == 422, broken.text
    assert "line 2" in broken.json()["detail"] and "column 14" in broken.json()["detail"], broken.text
    assert "415" in document["paths"]["/api/auth/login"]["post"]["responses"]
    assert "415" not in document["paths"]["/api/auth/sessions"]["get"]["responses"]  # no body, no media type


def _maximum(schema: dict) -> int | None:
    if "maximum" in schema:
        return schema["maximum"]
    return next((m for s in schema.get("anyOf", []) if (m := _maximum(s)) is not None), None)
