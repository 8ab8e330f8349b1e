"""``python -m twofold_vault rotate-keys``: re-seal every seed under the active key.

Batches of rows, each in its own short transaction with ``FOR UPDATE SKIP
LOCKED``: a row a live request is updating is skipped rather than waited for,
and the service keeps serving.  A run walks the rows once in id order (so an
unreadable row cannot stall it); a rerun picks up whatever is still under an
old key, so the command is resumable at any point.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import uuid
from argparse import Namespace
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

from twofold_common.db import Database
from twofold_common.progress import Progress
from twofold_common.settings import ServiceSettings

from .crypto import CiphertextRejected, KeyRing, UnknownKey
from .seeds import repository
from .settings import VaultSettings

log = logging.getLogger(__name__)


@dataclass
class RotationReport:
    rotated: int = 0
    unreadable: list[uuid.UUID] = field(default_factory=list)
    remaining: int = 0  # still under another key after the run (unreadable or locked by a request)


async def rotate_keys(db: Database, ring: KeyRing, *, batch_size: int = 500,
                      progress: Callable[[int], None] | None = None) -> RotationReport:
    """``progress`` is told of each batch's rows done (the command's progress on stderr)."""
    report = RotationReport()
    after: uuid.UUID | None = None
    while True:
        async with db.transaction() as session:
            batch = await repository.lock_batch_to_reseal(session, ring.active_id, after, batch_size)
            if not batch:
                break
            for seed in batch:
                assert seed.sealed is not None  # only sealed rows have a key id
                try:
                    secret = ring.open(seed.id, seed.sealed)
                except (UnknownKey, CiphertextRejected) as exc:
                    log.error("seed cannot be decrypted; left under its key",
                              extra={"seed_id": str(seed.id), "key_id": seed.sealed.key_id,
                                     "error": type(exc).__name__})
                    report.unreadable.append(seed.id)
                    continue
                await repository.reseal(session, seed.id, ring.seal(seed.id, secret))
                report.rotated += 1
            after = batch[-1].id
        if progress is not None:
            progress(len(batch))
        log.info("key rotation progress", extra={"rotated": report.rotated, "active_key_id": ring.active_id})
    async with db.transaction() as session:
        report.remaining = await repository.count_sealed_under_other_keys(session, ring.active_id)
    return report


def rotate_keys_command(settings: ServiceSettings, options: Namespace) -> None:
    """Its options (``--batch-size``) are declared in ``__main__.py``."""
    vault_settings = cast(VaultSettings, settings)
    report = asyncio.run(_run(vault_settings, options.batch_size))
    print(f"rotated {report.rotated} seeds to key {vault_settings.active_key_id!r}; "
          f"{len(report.unreadable)} unreadable; {report.remaining} still under other keys")
    if report.remaining:
        # unreadable rows need an operator; rows skipped as locked are picked up by a rerun
        sys.exit(1)


async def _run(settings: VaultSettings, batch_size: int) -> RotationReport:
    db = Database(settings.require_database_url(), pool_size=1)
    ring = settings.key_ring()
    try:
        async with db.transaction() as session:
            total = await repository.count_sealed_under_other_keys(session, ring.active_id)
        with Progress("rotate-keys", total, unit="seeds") as progress:
            return await rotate_keys(db, ring, batch_size=batch_size, progress=progress.advance)
    finally:
        await db.dispose()
