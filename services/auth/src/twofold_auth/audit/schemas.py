import uuid
from datetime import datetime

from ..sessions.schemas import CamelModel


class AuditEntry(CamelModel):
    id: int
    user_id: uuid.UUID | None
    action: str
    outcome: str
    reason: str | None
    ip: str | None
    user_agent: str | None
    details: dict[str, str]
    created_at: datetime


class AuditPage(CamelModel):
    entries: list[AuditEntry]
