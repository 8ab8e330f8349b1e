"""Tamper-evident audit log of login and second-factor attempts.

A request only inserts its row (``record``, in its own unit of work).
``seal``, a periodic job of one replica at a time, then chains the rows
committed since its last run: each gets the next ``seq`` and
``hash = sha256(prev_hash || canonical row)``.  Chaining at insert time would
need one lock held by every audited request until its commit, which serializes
them all (the benchmark showed requests queueing on it); sealing after the
commit keeps the order and the evidence without it.  A row is open to an
undetected edit only until the next seal, about a second.  ``verify_chain``
recomputes the chain and names the first row that does not match.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from . import repository
from .schemas import AuditEntry

GENESIS = bytes(32)


@dataclass(frozen=True)
class Caller:
    """Who is on the other end of a request: forwarded by the gateway."""

    ip: str | None = None
    user_agent: str | None = None


def row(
    *,
    action: str,
    outcome: str,
    user_id: uuid.UUID | None = None,
    reason: str | None = None,
    caller: Caller | None = None,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One row of the audit log as the parameters of ``repository.ROW``, for a statement that inserts it beside
    other work (``record`` inserts it alone)."""
    return repository.row_parameters(user_id=user_id, action=action, outcome=outcome, reason=reason,
                                     ip=caller.ip if caller else None,
                                     user_agent=caller.user_agent if caller else None, details=details or {})


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
    """One row of the audit log, in the caller's unit of work (``seal`` chains it after the commit)."""
    await repository.insert_row(session, row(action=action, outcome=outcome, user_id=user_id, reason=reason,
                                             caller=caller, details=details))


def _row_digest(prev_hash: bytes, row: dict[str, Any]) -> bytes:
    canonical = json.dumps(
        {k: (str(v) if isinstance(v, (uuid.UUID, datetime)) else v) for k, v in sorted(row.items())},
        sort_keys=True, separators=(",", ":"),
    )
    return hashlib.sha256(prev_hash + canonical.encode()).digest()


def _hashed_fields(entry: Any) -> dict[str, Any]:
    return {k: entry[k] for k in ("user_id", "action", "outcome", "reason", "ip", "user_agent", "details",
                                  "created_at")}


async def seal(session: AsyncSession, batch: int = 2000) -> int:
    """Chain the rows committed since the last seal, after the sealed ones; returns how many."""
    # The job runs on one replica at a time already; this lock also waits out a replica of the previous
    # version, which chained its rows under the same lock as it inserted them (during a rolling update).
    await repository.lock_chain(session)
    seq, prev_hash = await repository.last_sealed(session) or (0, GENESIS)
    seals = []
    for entry in await repository.unsealed_rows(session, batch):
        seq += 1
        digest = _row_digest(prev_hash, _hashed_fields(entry))
        seals.append({"row_id": entry["id"], "new_seq": seq, "new_prev_hash": prev_hash, "new_hash": digest})
        prev_hash = digest
    if seals:
        await repository.set_seals(session, seals)
    return len(seals)


async def verify_chain(session: AsyncSession, checked: Callable[[int], None] | None = None) -> int | None:
    """Return the id of the first sealed row that breaks the chain, or None when it is intact. ``checked`` is told
    of each row checked (the command's progress)."""
    prev_hash = GENESIS
    async for entry in repository.sealed_in_order(session):
        if entry["prev_hash"] != prev_hash or entry["hash"] != _row_digest(prev_hash, _hashed_fields(entry)):
            return entry["id"]
        prev_hash = entry["hash"]
        if checked is not None:
            checked(1)
    return None


async def sealed(session: AsyncSession) -> int:
    return await repository.count_sealed(session)


async def unsealed(session: AsyncSession) -> int:
    return await repository.count_unsealed(session)


async def entries(session: AsyncSession, *, user_id: uuid.UUID | None, limit: int = 100,
                  before: int | None = None) -> list[AuditEntry]:
    fields = AuditEntry.model_fields
    rows = await repository.entries(session, user_id=user_id, limit=limit, before=before)
    return [AuditEntry.model_validate({k: v for k, v in row.items() if k in fields}) for row in rows]
