"""Tamper-evident audit log of login and second-factor attempts.

A request only inserts its row.  ``seal``, a periodic job of one replica at a
time, then chains the rows committed since its last run: each gets the next
``seq`` and ``hash = sha256(prev_hash || canonical row)``.  Chaining at insert
time would need one lock held by every audited request until its commit, which
serializes them all (the benchmark showed requests queueing on it); sealing
after the commit keeps the order and the evidence without it.  A row is open to
an undetected edit only until the next seal, about a second.  ``verify_chain``
recomputes the chain and names the first row that does not match.
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
    await session.execute(audit_log.insert().values(
        user_id=user_id, action=action, outcome=outcome, reason=reason,
        ip=caller.ip if caller else None, user_agent=caller.user_agent if caller else None,
        details=details or {}, created_at=datetime.now(UTC),
    ))


def _hashed_fields(entry: Any) -> dict[str, Any]:
    return {k: entry[k] for k in ("user_id", "action", "outcome", "reason", "ip", "user_agent", "details",
                                  "created_at")}


async def seal(session: AsyncSession, batch: int = 2000) -> int:
    """Chain the rows committed since the last seal, after the sealed ones; returns how many."""
    # The job runs on one replica at a time already; this lock also waits out a replica of the previous
    # version, which chained its rows under the same lock as it inserted them (during a rolling update).
    await session.execute(sa.select(sa.func.pg_advisory_xact_lock(AUDIT_LOCK_ID)))
    last = (await session.execute(
        sa.select(audit_log.c.seq, audit_log.c.hash).where(audit_log.c.seq.isnot(None))
        .order_by(audit_log.c.seq.desc()).limit(1)
    )).first()
    seq, prev_hash = (last.seq, last.hash) if last else (0, GENESIS)
    entries = (await session.execute(
        sa.select(audit_log).where(audit_log.c.seq.is_(None)).order_by(audit_log.c.id).limit(batch)
    )).mappings().all()
    sealed = []
    for entry in entries:
        seq += 1
        digest = _row_digest(prev_hash, _hashed_fields(entry))
        sealed.append({"row_id": entry["id"], "new_seq": seq, "new_prev_hash": prev_hash, "new_hash": digest})
        prev_hash = digest
    if sealed:
        await session.execute(
            sa.update(audit_log).where(audit_log.c.id == sa.bindparam("row_id"))
            .values(seq=sa.bindparam("new_seq"), prev_hash=sa.bindparam("new_prev_hash"),
                    hash=sa.bindparam("new_hash")),
            sealed,
        )
    return len(sealed)


async def unsealed(session: AsyncSession) -> int:
    return await session.scalar(sa.select(sa.func.count()).where(audit_log.c.seq.is_(None))) or 0


async def verify_chain(session: AsyncSession) -> int | None:
    """Return the id of the first sealed row that breaks the chain, or None when it is intact."""
    prev_hash = GENESIS
    result = await session.stream(sa.select(audit_log).where(audit_log.c.seq.isnot(None)).order_by(audit_log.c.seq))
    async for entry in result.mappings():
        if entry["prev_hash"] != prev_hash or entry["hash"] != _row_digest(prev_hash, _hashed_fields(entry)):
            return entry["id"]
        prev_hash = entry["hash"]
    return None
