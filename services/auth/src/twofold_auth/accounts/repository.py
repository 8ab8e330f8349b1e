"""Every query on the ``users`` table.  Nothing here commits: the request's (or event's) unit of work does."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ..emails import Email, lookup_key
from ..models import users

# which app holds the account's seed: the provider's (``legitate``) or any authenticator (``native``)
AuthenticatorKind = Literal["legitate", "native"]


@dataclass(frozen=True)
class Account:
    id: uuid.UUID
    email: str
    status: str
    totp_enabled: bool
    totp_seed_id: str | None
    totp_provider: AuthenticatorKind | None
    password_hash: str = field(repr=False)


@dataclass(frozen=True)
class TwoFactorRow:
    totp_enabled: bool
    status: str
    totp_setup_completed_at: datetime | None
    totp_seed_id: str | None


# what an ``Account`` is read from, for a statement that finds the account beside other work (the login's limits)
ACCOUNT_COLUMNS = (users.c.id, users.c.email, users.c.status, users.c.totp_enabled, users.c.totp_seed_id,
                   users.c.totp_provider, users.c.password_hash)


def account_of(row: sa.Row) -> Account | None:
    """The ``Account`` of a row with ``ACCOUNT_COLUMNS``; None when they are NULL (an outer join found none)."""
    return Account(**{column.key: row._mapping[column] for column in ACCOUNT_COLUMNS}) if row.id is not None \
        else None


_BY_EMAIL = sa.select(*ACCOUNT_COLUMNS).where(users.c.email_normalized == sa.bindparam("key"))


async def find_by_email(session: AsyncSession, email: str) -> Account | None:
    row = (await session.execute(_BY_EMAIL, {"key": lookup_key(email)})).first()
    return account_of(row) if row else None


async def email_of(session: AsyncSession, user_id: uuid.UUID) -> str:
    return (await session.execute(sa.select(users.c.email).where(users.c.id == user_id))).scalar_one()


async def status_of(session: AsyncSession, user_id: uuid.UUID) -> str | None:
    return await session.scalar(sa.select(users.c.status).where(users.c.id == user_id))


async def insert_pending(session: AsyncSession, *, user_id: uuid.UUID, email: Email, username: str | None,
                         password_hash: str) -> bool:
    """A ``pending_2fa`` account; False when the email (or the username) already has one."""
    inserted = await session.scalar(
        insert(users).values(id=user_id, email=email.address, email_normalized=email.key, username=username,
                             password_hash=password_hash, status="pending_2fa")
        .on_conflict_do_nothing().returning(users.c.id)
    )
    return inserted is not None


async def owner_of_email(session: AsyncSession, email: Email) -> tuple[uuid.UUID, str] | None:
    row = (await session.execute(
        sa.select(users.c.id, users.c.email).where(users.c.email_normalized == email.key)
    )).first()
    return (row.id, row.email) if row else None


async def enable_two_factor(session: AsyncSession, user_id: uuid.UUID, *, seed_id: str, provider: str,
                            completed_at: datetime) -> bool:
    """2FA on, and a pending account usable; False when the account is gone."""
    enabled = await session.scalar(
        sa.update(users).where(users.c.id == user_id)
        .values(totp_enabled=True, totp_seed_id=seed_id, totp_provider=provider,
                totp_setup_completed_at=completed_at,
                status=sa.case((users.c.status == "pending_2fa", "active"), else_=users.c.status),
                updated_at=sa.func.now())
        .returning(users.c.id)
    )
    return enabled is not None


async def two_factor_row(session: AsyncSession, user_id: uuid.UUID) -> TwoFactorRow:
    row = (await session.execute(
        sa.select(users.c.totp_enabled, users.c.status, users.c.totp_setup_completed_at, users.c.totp_seed_id)
        .where(users.c.id == user_id)
    )).one()
    return TwoFactorRow(**row._mapping)


async def lock(session: AsyncSession, user_id: uuid.UUID) -> bool:
    """An active account locked; False when it was not active."""
    locked = await session.scalar(
        sa.update(users).where(users.c.id == user_id, users.c.status == "active")
        .values(status="locked", locked_at=sa.func.now(), updated_at=sa.func.now()).returning(users.c.id)
    )
    return locked is not None


async def unlock(session: AsyncSession, user_id: uuid.UUID) -> bool:
    """A locked account active again; False when it was not locked."""
    unlocked = await session.scalar(
        sa.update(users).where(users.c.id == user_id, users.c.status == "locked")
        .values(status="active", locked_at=None, updated_at=sa.func.now()).returning(users.c.id)
    )
    return unlocked is not None


async def reset_two_factor(session: AsyncSession, user_id: uuid.UUID) -> str | None:
    """2FA off and the account pending again (a lock goes too: the next enrollment makes it active); returns the
    status it had, or None when the account is gone."""
    before = await session.scalar(sa.select(users.c.status).where(users.c.id == user_id).with_for_update())
    if before is not None:
        await session.execute(
            sa.update(users).where(users.c.id == user_id)
            .values(totp_enabled=False, totp_seed_id=None, totp_provider=None, totp_setup_completed_at=None,
                    status="pending_2fa", locked_at=None, updated_at=sa.func.now())
        )
    return before


@dataclass(frozen=True)
class Profile:
    """What an operator sees of an account: no password hash, no seed."""

    id: uuid.UUID
    email: str
    status: str
    created_at: datetime
    totp_enabled: bool
    totp_provider: str | None
    totp_setup_completed_at: datetime | None
    locked_at: datetime | None


async def profile(session: AsyncSession, email: str) -> Profile | None:
    """The account of ``email``, looked up by the key the login uses."""
    row = (await session.execute(
        sa.select(users.c.id, users.c.email, users.c.status, users.c.created_at, users.c.totp_enabled,
                  users.c.totp_provider, users.c.totp_setup_completed_at, users.c.locked_at)
        .where(users.c.email_normalized == lookup_key(email))
    )).first()
    return Profile(**row._mapping) if row else None


async def delete(session: AsyncSession, user_id: uuid.UUID) -> None:
    await session.execute(sa.delete(users).where(users.c.id == user_id))


async def counts(session: AsyncSession) -> tuple[int, int]:
    """How many accounts, and how many of them finished enrollment."""
    total, enabled = (await session.execute(
        sa.select(sa.func.count(), sa.func.count().filter(users.c.totp_enabled))
    )).one()
    return total, enabled
