"""The hand-written migrations produce exactly the tables models.py declares."""

from __future__ import annotations

from twofold_auth.__main__ import MIGRATIONS
from twofold_auth.models import metadata
from twofold_common.testing.schema import schema_differences


async def test_migrations_match_the_models(create_database) -> None:
    assert await schema_differences(await create_database("auth_schema"), MIGRATIONS, metadata) == []
