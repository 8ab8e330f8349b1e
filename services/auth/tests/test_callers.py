"""Whose address auth records: the gateway's word for the caller, or the peer's own address."""

from __future__ import annotations

from twofold_common.internal_auth import INTERNAL_AUTH_HEADER
from twofold_common.testing.http import dev_internal_auth

FORGED = "198.51.100.66"


async def login_audit_ips(auth_stack, user) -> list[str]:
    rows = await auth_stack.sql("SELECT ip FROM audit_log WHERE user_id = $1 AND action = 'login.password' "
                                "ORDER BY id", user.user_id)
    return [r["ip"] for r in rows]


async def test_a_direct_caller_cannot_choose_the_address_auth_records(auth_stack) -> None:
    user = await auth_stack.register()
    body = {"email": user.email, "password": user.password}
    await auth_stack.http.post("/api/auth/login", json=body, headers={"X-Forwarded-For": FORGED})
    # an internal credential of another service, one signed by another service that claims to be the gateway,
    # or a forged one, does not make the header believed either
    vault_token = dev_internal_auth("vault").token_for("auth")
    as_gateway = dev_internal_auth("gateway", key_of="vault").token_for("auth")
    for credential in (vault_token, as_gateway, "not-a-token"):
        await auth_stack.http.post("/api/auth/login", json=body,
                                   headers={"X-Forwarded-For": FORGED, INTERNAL_AUTH_HEADER: credential})
    assert await login_audit_ips(auth_stack, user) == ["127.0.0.1"] * 4
