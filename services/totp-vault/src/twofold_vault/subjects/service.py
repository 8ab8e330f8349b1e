"""Forgetting a subject: every seed row, recovery code and code check, in one transaction."""

from sqlalchemy.ext.asyncio import AsyncSession

from ..checks import repository as checks
from ..recovery import service as recovery
from ..seeds import service as seeds


async def shred_subject(session: AsyncSession, subject: str) -> None:
    """Crypto-shred: the rows holding ciphertexts are deleted, not flagged."""
    await seeds.shred(session, subject)
    await recovery.discard(session, subject)
    await checks.delete_subject(session, subject)
