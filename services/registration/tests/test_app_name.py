"""The authenticator shows the name of the app the person enrolls for, not ours."""

from __future__ import annotations

from urllib.parse import parse_qs, quote, urlsplit

import pyotp

# a space, a ':' (the label's own separator), '&' and '/' (query syntax) and a non-ASCII letter
APP_NAME = "Acme Café & Co: Ops/2FA"


def otpauth_parts(uri: str) -> tuple[str, dict[str, str]]:
    parts = urlsplit(uri)
    return parts.path.lstrip("/"), {k: v[0] for k, v in parse_qs(parts.query, strict_parsing=True).items()}


async def test_an_apps_display_name_reaches_the_deep_link_and_the_otpauth_uri(flow) -> None:
    app = flow.create_client("--name", APP_NAME)
    headers = flow.as_app(app["clientId"])

    legitate = await flow.registration.post("/api/v1/setup", json={"account": "acct-1"}, headers=headers)
    assert legitate.status_code == 201, legitate.text
    deep_link = legitate.json()["deepLink"]
    # strict parsing: an unescaped '&' or ' ' would break the query or change the name
    assert flow.provider.read_deep_link(deep_link)["service"] == APP_NAME

    native = await flow.registration.post("/api/v1/setup", json={"account": "acct-2", "provider": "native"},
                                          headers=headers)
    assert native.status_code == 201, native.text
    uri = native.json()["otpauthUri"]
    label, query = otpauth_parts(uri)
    assert label == f"{quote(APP_NAME, safe='')}:acct-2" and query["issuer"] == APP_NAME
    parsed = pyotp.parse_uri(uri)
    assert (parsed.issuer, parsed.name) == (APP_NAME, "acct-2")


async def test_first_party_enrollments_keep_the_configured_name(flow) -> None:
    user = await flow.new_user()
    legitate = (await flow.start_setup(user["setupToken"])).json()
    assert flow.provider.read_deep_link(legitate["deepLink"])["service"] == "twofold"
    other = await flow.new_user()
    native = (await flow.start_setup(other["setupToken"], provider="native")).json()
    parsed = pyotp.parse_uri(native["otpauthUri"])
    assert (parsed.issuer, parsed.name) == ("twofold", other["email"])
