"""A two-role service built only from twofold_common, for the event-delivery tests.

``producer``: ``POST /items`` stores an item and publishes ``ItemCreated`` through
the outbox in the same transaction (``rollback: true`` fails the request after
both writes).  ``consumer``: handles ``ItemCreated`` by counting deliveries per
item (and the order of first deliveries); a name starting with ``poison`` makes the handler fail every
time.

Run as ``python eventapp.py`` with EVENTAPP_* settings; tests start two of them.
"""

from __future__ import annotations

import os
import uuid
from typing import ClassVar, Literal

import sqlalchemy as sa
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel
from pydantic_settings import SettingsConfigDict
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from twofold_common.cli import run
from twofold_common.errors import Conflict
from twofold_common.events import CloudEvent, Event
from twofold_common.outbox import publish
from twofold_common.runtime import Runtime, SessionDep, create_service_app
from twofold_common.settings import ServiceSettings
from twofold_common.tables import event_metadata

metadata = sa.MetaData()
items = sa.Table("items", metadata, sa.Column("id", sa.Uuid, primary_key=True), sa.Column("name", sa.Text))
deliveries = sa.Table(
    "deliveries", metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("first", sa.BigInteger, sa.Identity(), nullable=False),  # the order of first deliveries
)


class ItemCreated(Event):
    type = "test.item.created.v1"
    topic = os.environ.get("EVENTAPP_TOPIC", "twofold.test.items")
    item_id: uuid.UUID
    name: str
    group: str

    def subject(self) -> str:
        return self.group


class EventAppSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="EVENTAPP_", extra="ignore")
    service_name: ClassVar[str] = "eventapp"
    role: Literal["producer", "consumer"] = "producer"
    topic: str = "twofold.test.items"


class NewItem(BaseModel):
    name: str
    group: str = "default"
    rollback: bool = False


router = APIRouter()


@router.post("/items", status_code=201)
async def create_item(body: NewItem, session: SessionDep) -> dict[str, str]:
    item_id = uuid.uuid4()
    await session.execute(items.insert().values(id=item_id, name=body.name))
    await publish(session, ItemCreated(item_id=item_id, name=body.name, group=body.group), source="/eventapp")
    if body.rollback:
        raise Conflict("rolled back on request")
    return {"id": str(item_id)}


async def count_delivery(session: AsyncSession, event: ItemCreated, envelope: CloudEvent) -> None:
    if event.name.startswith("poison"):
        raise RuntimeError("this item cannot be handled")
    await session.execute(
        insert(deliveries).values(name=event.name, count=1)
        .on_conflict_do_update(index_elements=["name"], set_={"count": deliveries.c.count + 1})
    )


async def create_tables(runtime: Runtime) -> None:
    async with runtime.database.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
        await conn.run_sync(event_metadata.create_all)


def create_app(settings: EventAppSettings) -> FastAPI:
    if settings.role == "producer":
        return create_service_app(settings, title="producer", routers=[router], publishes=[ItemCreated],
                                  on_start=create_tables)
    return create_service_app(settings, title="consumer", handlers={ItemCreated: count_delivery},
                              on_start=create_tables)


if __name__ == "__main__":
    run(EventAppSettings, create_app, None)
