"""What every part of the vault's internal API shares: camelCase JSON and the subject's shape."""

from typing import Annotated

from fastapi import Path
from pydantic import BaseModel, ConfigDict, StringConstraints
from pydantic.alias_generators import to_camel

# Opaque: a user id or "<client_id>:<account>".  No control characters (they end up in
# logs and hashes) and no "/" (the subject is also a path segment).
SUBJECT_PATTERN = r"^[^\x00-\x1f\x7f/]+$"
SUBJECT_MAX_LENGTH = 255

Subject = Annotated[str, StringConstraints(min_length=1, max_length=SUBJECT_MAX_LENGTH, pattern=SUBJECT_PATTERN)]
SubjectPath = Annotated[str, Path(min_length=1, max_length=SUBJECT_MAX_LENGTH, pattern=SUBJECT_PATTERN)]


class CamelModel(BaseModel):
    """camelCase on the wire, like the public API; snake_case in Python."""

    model_config = ConfigDict(alias_generator=to_camel, validate_by_name=True, validate_by_alias=True,
                              serialize_by_alias=True)
