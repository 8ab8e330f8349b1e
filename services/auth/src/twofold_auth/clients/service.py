"""API clients of third-party apps: an id and a secret (stored as a keyed hash), scopes, callback URLs."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from twofold_common.errors import NotFound, Problem, Unauthorized
from twofold_common.redirect_signature import redirect_key

from ..tokens import TokenHasher
from . import repository
from .scopes import SCOPES


@dataclass(frozen=True)
class Client:
    id: str
    name: str
    scopes: tuple[str, ...]
    callback_urls: tuple[str, ...]
    seed_mode: bool


def _check_callback_url(url: str, *, production: bool) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.fragment:
        raise Problem(f"A callback URL must be an absolute http(s) URL without fragment: {url}",
                      code="invalid-callback-url")
    if production and parts.scheme != "https":
        raise Problem(f"Callback URLs must use https: {url}", code="invalid-callback-url")
    return url


async def create_client(session: AsyncSession, hasher: TokenHasher, *, name: str, callback_urls: list[str],
                        scopes: list[str], seed_mode: bool, production: bool) -> tuple[Client, str]:
    if not 1 <= len(name) <= 200 or any(ord(c) < 32 or ord(c) == 127 for c in name):
        # the name reaches authenticator apps as the issuer of its users' seeds
        raise Problem("A client's name has 1 to 200 characters, none of them control characters.",
                      code="invalid-name")
    unknown = set(scopes) - SCOPES
    if unknown:
        raise Problem(f"Unknown scopes: {', '.join(sorted(unknown))}", code="invalid-scope")
    urls = [_check_callback_url(u, production=production) for u in callback_urls]
    client_id = f"cl_{secrets.token_hex(8)}"
    secret, secret_hash = hasher.new("sk")
    await repository.insert(session, client_id=client_id, name=name, secret_hash=secret_hash,
                            scopes=sorted(set(scopes)), callback_urls=urls, seed_mode=seed_mode,
                            redirect_key_sealed=hasher.seal(redirect_key(secret), client_id))
    return Client(client_id, name, tuple(sorted(set(scopes))), tuple(urls), seed_mode), secret


async def list_clients(session: AsyncSession) -> list[Client]:
    return [_client(row) for row in await repository.enabled(session)]


async def authenticate(session: AsyncSession, hasher: TokenHasher, client_id: str, secret: str) -> Client:
    row = await repository.find_enabled(session, client_id)
    expected = row["secret_hash"] if row else bytes(32)
    if not hmac.compare_digest(expected, hasher.hash(secret)) or row is None:
        raise Unauthorized("Invalid client credentials.", code="invalid-client")
    return _client(row)


async def find_client(session: AsyncSession, client_id: str) -> Client:
    row = await repository.find_enabled(session, client_id)
    if row is None:
        raise NotFound("No such client.", code="client-not-found")
    return _client(row)


async def redirect_key_of(session: AsyncSession, hasher: TokenHasher, client_id: str) -> bytes:
    sealed = await repository.sealed_redirect_key(session, client_id)
    if sealed is None:
        raise NotFound("No such client.", code="client-not-found")
    return hasher.unseal(sealed, client_id)


def _client(row: RowMapping) -> Client:
    return Client(row["id"], row["name"], tuple(row["scopes"]), tuple(row["callback_urls"]), row["seed_mode"])
