import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class CamelModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class TokenPair(CamelModel):
    access_token: str
    refresh_token: str
    token_type: str = "Bearer"
    expires_in: int
    session_id: uuid.UUID


class RefreshRequest(CamelModel):
    refresh_token: str = Field(min_length=10, max_length=200)


class SessionView(CamelModel):
    id: uuid.UUID
    ip: str | None
    user_agent: str | None
    amr: list[str]
    created_at: datetime
    last_activity_at: datetime
    expires_at: datetime
    current: bool
    client_id: str | None = Field(default=None, description="the app (OpenID Connect client) this session was "
                                                            "issued to; null for a sign-in of the person's own")


class SessionList(CamelModel):
    sessions: list[SessionView]
