"""The event catalog as an AsyncAPI 3.0 document: ``python -m twofold_common.catalog > docs/asyncapi.json``.

Built from the event classes themselves (``Event.registry``), so the document
and the code cannot disagree about names and fields.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from .events import AUTH_CLIENTS_TOPIC, AUTH_TOPIC, COMPACTED_TOPICS, REGISTRATION_TOPIC, VAULT_TOPIC, CloudEvent, Event

PUBLISHERS = {AUTH_TOPIC: "auth", AUTH_CLIENTS_TOPIC: "auth", REGISTRATION_TOPIC: "registration",
              VAULT_TOPIC: "vault"}


def _message_name(event: type[Event]) -> str:
    return event.__name__


def _short(topic: str) -> str:
    """A topic in operation names: its publisher's name, and for a topic other than its events the topic's kind."""
    service, kind = PUBLISHERS[topic], topic.rsplit(".", 1)[1]
    return service if kind == "events" else f"{service}-{kind}"


def _description(topic: str) -> str:
    described = f"Events published by {PUBLISHERS[topic]} (Kafka key: the subject, for per-subject ordering)."
    if topic in COMPACTED_TOPICS:
        described += " Compacted: each event holds its subject's whole state, and the latest one of each is kept."
    return described


def asyncapi() -> dict[str, Any]:
    events = sorted((e for e in Event.registry.values() if e.topic in PUBLISHERS), key=lambda e: e.type)
    messages = {
        _message_name(e): {
            "name": e.type,
            "title": e.__name__,
            "summary": (e.__doc__ or "").strip().split("\n")[0] or e.type,
            "contentType": "application/cloudevents+json",
            "payload": {"allOf": [{"$ref": "#/components/schemas/CloudEvent"},
                                  {"type": "object",
                                   "properties": {"type": {"const": e.type},
                                                  "data": {"$ref": f"#/components/schemas/{e.__name__}"}}}]},
            "x-publisher": PUBLISHERS[e.topic],
            "x-consumers": list(e.consumed_by),
        }
        for e in events
    }
    schemas: dict[str, Any] = {"CloudEvent": CloudEvent.model_json_schema(ref_template="#/components/schemas/{model}")}
    for e in events:
        schema = e.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[e.__name__] = schema
    channels = {
        topic.replace(".", "-"): {
            "address": topic,
            "description": _description(topic),
            "messages": {_message_name(e): {"$ref": f"#/components/messages/{_message_name(e)}"}
                         for e in events if e.topic == topic},
        }
        for topic in PUBLISHERS
    }
    operations = {}
    for topic in PUBLISHERS:
        channel = topic.replace(".", "-")
        operations[f"{_short(topic)}-publishes"] = {
            "action": "send", "channel": {"$ref": f"#/channels/{channel}"},
            "messages": [{"$ref": f"#/channels/{channel}/messages/{_message_name(e)}"}
                         for e in events if e.topic == topic],
        }
        for consumer in sorted({c for e in events if e.topic == topic for c in e.consumed_by}):
            operations[f"{consumer}-consumes-{_short(topic)}"] = {
                "action": "receive", "channel": {"$ref": f"#/channels/{channel}"},
                "messages": [{"$ref": f"#/channels/{channel}/messages/{_message_name(e)}"}
                             for e in events if e.topic == topic and consumer in e.consumed_by],
            }
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "twofold events", "version": "1.0.0",
                 "description": "Events between the twofold services: CloudEvents 1.0 in structured mode on Kafka, "
                                "written through each service's transactional outbox. No event carries a secret. "
                                "With tracing on, an event holds the W3C trace context of the operation that wrote "
                                "it in the CloudEvents Distributed Tracing extension (traceparent, tracestate), and "
                                "its Kafka message holds the outbox relay's in headers of the same names."},
        "defaultContentType": "application/cloudevents+json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


if __name__ == "__main__":
    json.dump(asyncapi(), sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
