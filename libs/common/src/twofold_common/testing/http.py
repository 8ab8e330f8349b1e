"""Small helpers for tests that talk HTTP to the services."""


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
