"""The issuer an authenticator app shows: the vault's own, or the one registration names for an app."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qs, quote, urlsplit

import pyotp

APP_NAME = "Acme Café & Co: Ops/2FA"


async def generate(vault, **fields):
    body = {"subject": f"cl_app:{uuid.uuid4()}", "account": "ann:b@example.org",
            "registrationId": str(uuid.uuid4()), **fields}
    async with vault.client("registration") as http:
        return await http.post("/internal/seeds/generate", json=body)


async def test_a_named_issuer_replaces_the_configured_one_and_survives_escaping(vault) -> None:
    generated = await generate(vault, issuer=APP_NAME)
    assert generated.status_code == 201, generated.text
    uri = urlsplit(generated.json()["otpauthUri"])
    assert uri.path == f"/{quote(APP_NAME, safe='')}:{quote('ann:b@example.org', safe='')}"
    assert parse_qs(uri.query)["issuer"] == [APP_NAME]
    parsed = pyotp.parse_uri(generated.json()["otpauthUri"])
    assert (parsed.issuer, parsed.name) == (APP_NAME, "ann:b@example.org")

    default = await generate(vault)
    assert pyotp.parse_uri(default.json()["otpauthUri"]).issuer == "twofold"
    for unusable in ("", "Acme\x00", "line\nbreak", "x" * 201):
        refused = await generate(vault, issuer=unusable)
        assert refused.status_code == 422, (unusable, refused.text)
