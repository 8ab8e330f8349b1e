"""The machine-readable event catalog (docs/asyncapi.json) matches the code, and the code matches the catalog."""

import json
from pathlib import Path

import pytest

from twofold_auth.app import create_app as auth_app
from twofold_common.catalog import asyncapi
from twofold_common.events import Event
from twofold_gateway.app import create_app as gateway_app
from twofold_registration.app import create_app as registration_app
from twofold_vault.app import create_app as vault_app

ROOT = Path(__file__).resolve().parents[1]


def test_the_committed_asyncapi_document_is_current() -> None:
    committed = json.loads((ROOT / "docs" / "asyncapi.json").read_text())
    assert committed == json.loads(json.dumps(asyncapi())), \
        "regenerate it: uv run python -m twofold_common.catalog > docs/asyncapi.json"


@pytest.mark.parametrize(("service", "create_app"), [("auth", auth_app), ("registration", registration_app),
                                                      ("vault", vault_app), ("gateway", gateway_app)])
def test_each_service_handles_exactly_the_events_the_catalog_says(service, create_app) -> None:
    handled = {event.type for event in create_app().state.handled_events}
    declared = {event.type for event in Event.registry.values() if service in event.consumed_by}
    assert handled == declared
