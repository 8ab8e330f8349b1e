"""Every answer of a peer (the vault, auth) reaches the caller as a documented problem, never as a 500."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
import pyotp

from twofold_common.db import to_libpq_url


def with_params(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    return urlunsplit(parts._replace(query=urlencode({**query, **changes})))


async def vault_sql(flow, query: str, *args) -> list:
    conn = await asyncpg.connect(to_libpq_url(flow.stack["vault"].env["VAULT_DATABASE_URL"]))
    try:
        return await conn.fetch(query, *args)
    finally:
        await conn.close()


def is_problem(answer, status: int, code: str | None = None) -> bool:
    return (answer.status_code == status and answer.headers["content-type"] == "application/problem+json"
            and (code is None or answer.json()["type"].endswith(f"/{code}")))


async def test_control_characters_in_a_callback_are_refused_at_the_edge(flow) -> None:
    user = await flow.new_user()
    body = (await flow.start_setup(user["setupToken"])).json()
    good, _ = flow.provider.accept(body["deepLink"])
    declined = flow.provider.decline(body["deepLink"])
    for bad in (with_params(good, seedId="s\x00id"), with_params(good, seedId="s\nid"),
                with_params(good, seed=flow.provider.accept(body["deepLink"])[1].seed + "\x00"),
                with_params(declined, error="user\x00rejected"), with_params(declined, error="\x7f"),
                with_params(good, timestamp="9" * 400)):  # a float would overflow
        for accept in ("application/json", "text/html"):
            answer = await flow.follow(bad, accept=accept)
            assert is_problem(answer, 422, "invalid-request"), (bad, answer.status_code, answer.text)
    # nothing happened: the registration is still open, and the genuine callback completes it
    assert (await flow.follow(good)).status_code == 200


async def test_a_vault_refusing_an_apps_account_is_a_422(flow) -> None:
    app = flow.create_client("--callback-url", "https://app.example.com/2fa/done")
    started = await flow.registration.post("/api/v1/setup", json={"account": "acct\x01", "provider": "native"},
                                           headers=flow.as_app(app["clientId"]))
    assert is_problem(started, 422), started.text


async def test_confirming_a_seed_the_vault_no_longer_has_is_a_404(flow) -> None:
    user = await flow.new_user()
    body = (await flow.start_setup(user["setupToken"], provider="native")).json()
    totp = pyotp.parse_uri(body["otpauthUri"])
    # the user's deletion shreds the vault's seed; registration's own cancellation is a separate event
    await vault_sql(flow, "DELETE FROM seeds WHERE subject = $1", user["userId"])
    answer = await flow.registration.post("/api/auth/setup-2fa/confirm", json={
        "registrationToken": body["registrationToken"], "code": totp.now()})
    assert is_problem(answer, 404, "seed-not-found"), answer.text

