"""The bounds of the paths through our web stack: a bench-only service made the way ours are.

    BENCH_HOP_PORT=... BENCH_HOP_DATABASE_URL=postgresql://... python bench/hop.py    # one hop + one commit
    BENCH_HOP_PORT=... BENCH_HOP_NEXT_URL=http://127.0.0.1:<the first's port> python bench/hop.py   # the hop before

The app is ``create_service_app`` (the shared edge, request metrics, the lifespan), served by the services' own
command (the same uvicorn settings), with the same ``Database`` and pool; ``POST /commit`` does what the least
of our requests does: one INSERT in the request's transaction, committed before the answer. ``POST /relay``
passes the request on to the next one's ``/commit`` with ``PeerClient``, as the gateway passes a request to a
service: k6 → relay → commit is two hops and a commit, the least a request through the gateway costs.
"""

from __future__ import annotations

from typing import ClassVar

import sqlalchemy as sa
from fastapi import APIRouter, FastAPI, Response
from pydantic import BaseModel
from pydantic_settings import SettingsConfigDict

from twofold_common.cli import run
from twofold_common.peer import PeerClient
from twofold_common.runtime import Runtime, RuntimeDep, SessionDep, create_service_app
from twofold_common.settings import ServiceSettings
from twofold_common.tables import event_metadata

notes = sa.Table("bench_notes", event_metadata,  # beside the event tables, which the retention job expects
                 sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
                 sa.Column("note", sa.String(200), nullable=False),
                 sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()))


class HopSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="BENCH_HOP_", extra="ignore", env_file=None)
    service_name: ClassVar[str] = "bench-hop"
    uses_broker: ClassVar[bool] = False

    next_url: str = ""  # set: this one relays to the one at next_url, and has no database

    def _needs_database(self) -> bool:
        return not self.next_url


class Note(BaseModel):
    note: str


def create_app(settings: HopSettings) -> FastAPI:
    router = APIRouter()

    @router.post("/commit")
    async def commit(note: Note, session: SessionDep) -> dict[str, bool]:
        await session.execute(notes.insert().values(note=note.note))
        return {"ok": True}

    @router.post("/relay")
    async def relay(note: Note, runtime: RuntimeDep) -> Response:
        answer = await runtime.state["next"].post("/commit", json=note.model_dump())
        return Response(answer.content, status_code=answer.status_code, media_type="application/json")

    async def on_start(runtime: Runtime) -> None:
        if settings.next_url:
            runtime.state["next"] = PeerClient("bench-hop", settings.next_url, timeout=10)
        else:
            async with runtime.database.engine.begin() as connection:
                await connection.run_sync(event_metadata.create_all)

    async def on_stop(runtime: Runtime) -> None:
        if "next" in runtime.state:
            await runtime.state["next"].aclose()

    return create_service_app(settings, title="bench hop", routers=[router], on_start=on_start, on_stop=on_stop)


if __name__ == "__main__":
    run(HopSettings, create_app, None)  # the services' command line: serve, with their uvicorn settings
