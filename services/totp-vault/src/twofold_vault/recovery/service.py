"""Recovery codes: a set of ten single-use codes per subject, stored as keyed hashes.

Each code is 10 random base32 characters (50 bits), shown as ``xxxxx-xxxxx``.
A fast keyed hash (HMAC-SHA256 with a pepper from settings) is enough: a slow
password hash protects low-entropy secrets from guessing, and 2^50 random
codes behind a key that is not in the database are not guessable offline.
The subject is part of the hashed message, so a row copied to another subject
does not match.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from twofold_common.events import RecoveryCodeUsed
from twofold_common.outbox import publish

from ..settings import EVENT_SOURCE
from . import repository

CODES_PER_SET = 10
CODE_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"  # RFC 4648 base32, lowercase: no 0/1/8 to confuse
CODE_LENGTH = 10  # 5 bits a character: 50 bits


def new_code() -> str:
    """A code in its compact form (as hashed)."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def display(compact_code: str) -> str:
    return f"{compact_code[:5]}-{compact_code[5:]}"


def normalize(code: str) -> str | None:
    """The code as hashed (lowercase, no separators), or None if it cannot be a recovery code."""
    compact = "".join(code.split()).replace("-", "").lower()
    if len(compact) != CODE_LENGTH or not set(compact) <= set(CODE_ALPHABET):
        return None
    return compact


def code_hash(pepper: bytes, subject: str, compact_code: str) -> bytes:
    # NUL cannot occur in a subject (schemas.SUBJECT_PATTERN), so the message is unambiguous.
    return hmac.digest(pepper, f"{subject}\x00{compact_code}".encode(), "sha256")


class RecoveryCodes:
    def __init__(self, session: AsyncSession, pepper: bytes) -> None:
        self.session = session
        self.pepper = pepper

    async def regenerate(self, subject: str) -> list[str]:
        """A fresh set; every code of the previous set stops working in the same transaction."""
        codes = [new_code() for _ in range(CODES_PER_SET)]
        await repository.replace_set(self.session, subject, [code_hash(self.pepper, subject, c) for c in codes])
        return [display(code) for code in codes]

    async def unused(self, subject: str) -> int:
        return await repository.count_unused(self.session, subject)

    async def consume(self, subject: str, code: str) -> tuple[bool, int]:
        """Use ``code`` once; returns whether it was valid and how many unused codes remain."""
        compact = normalize(code)
        used = compact is not None and await repository.consume(
            self.session, subject, code_hash(self.pepper, subject, compact))
        remaining = await repository.count_unused(self.session, subject)
        if used:
            await publish(self.session, RecoveryCodeUsed(owner=subject, remaining=remaining), source=EVENT_SOURCE)
        return used, remaining


async def discard(session: AsyncSession, subject: str, created_before: datetime | None = None) -> None:
    await repository.delete_subject(session, subject, created_before)
