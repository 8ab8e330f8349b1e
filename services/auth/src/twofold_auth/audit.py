"""Tamper-evident audit log of login and second-factor attempts.

Each row carries ``hash = sha256(prev_hash || canonical row)``.  Rows are
appended under a transaction-scoped advisory lock so the chain has one order;
``verify_chain`` recomputes it and names the first row that does not match.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from .models import audit_log

AUDIT_LOCK_ID = 7_424_101
GENESIS = bytes(32)


@dataclass(frozen=True)
class Caller:
    """Who is on the other end of a request: forwarded by the gateway."""

    ip: str | None = None
    user_agent: str | None = None


def _row_digest(prev_hash: bytes, row: dict[str, Any]) -> bytes:
    canonical = json.dumps(
        {k: (str(v) if isinstance(v, (uuid.UUID, datetime)) else v) for k, v in sorted(row.items())},
        sort_keys=True, separators=(",", ":"),
    )
    return hashlib.sha256(prev_hash + canonical.encode()).digest()


async def record(
    session: AsyncSession,
    *,
    action: str,
    outcome: str,
    user_id: uuid.UUID | None = None,
    reason: str | None = None,
    caller: Caller | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    await session.execute(sa.select(sa.func.pg_advisory_xact_lock(AUDIT_LOCK_ID)))
    prev = await session.scalar(sa.select(audit_log.c.hash).order_by(audit_log.c.id.desc()).limit(1))
    row = {
        "user_id": user_id, "action": action, "outcome": outcome, "reason": reason,
        "ip": caller.ip if caller else None, "user_agent": caller.user_agent if caller else None,
        "details": details or {}, "created_at": datetime.now(UTC),
    }
    prev_hash = prev or GENESIS
    await session.execute(audit_log.insert().values(**row, prev_hash=prev_hash, hash=_row_digest(prev_hash, row)))


async def verify_chain(session: AsyncSession) -> int | None:
    """Return the id of the first row that breaks the chain, or None when it is intact."""
    prev_hash = GENESIS
    result = await session.stream(sa.select(audit_log).order_by(audit_log.c.id))
    async for entry in result.mappings():
        row = {k: entry[k] for k in ("user_id", "action", "outcome", "reason", "ip", "user_agent", "details",
                                      "created_at")}
        if entry["prev_hash"] != prev_hash or entry["hash"] != _row_digest(prev_hash, row):
            return entry["id"]
        prev_hash = entry["hash"]
    return None
