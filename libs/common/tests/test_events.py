import uuid
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from twofold_common.events import (
    REGISTRATION_TOPIC,
    CloudEvent,
    Event,
    RegistrationCompleted,
    UnknownEventType,
    UserDeleted,
    parse_event,
)


def test_envelope_has_the_cloudevents_attributes_and_round_trips() -> None:
    user = uuid.uuid4()
    event = RegistrationCompleted(registration_id=uuid.uuid4(), user_id=user, provider="legitate",
                                  seed_id="seed-1", completed_at=datetime.now(UTC))
    envelope = event.envelope("/registration")
    wire = envelope.model_dump_json()
    back = CloudEvent.model_validate_json(wire)
    assert back.specversion == "1.0" and back.type == "registration.completed.v1"
    assert back.subject == str(user) and back.source == "/registration" and back.datacontenttype == "application/json"
    assert parse_event(back) == event
    assert RegistrationCompleted.topic == REGISTRATION_TOPIC


def test_schemas_refuse_unknown_fields_so_a_seed_cannot_ride_along() -> None:
    with pytest.raises(ValidationError):
        UserDeleted.model_validate({"user_id": str(uuid.uuid4()), "seed": "JBSWY3DP"})


def test_unknown_types_and_duplicate_definitions_are_errors() -> None:
    with pytest.raises(UnknownEventType):
        parse_event(CloudEvent(id=uuid.uuid4(), source="/x", type="nope.v1", time=datetime.now(UTC), data={}))
    with pytest.raises(TypeError):
        class Again(Event):  # noqa: F841
            type = "user.deleted.v1"
            topic = "t"
