"""Rules every service's app keeps, checked on the apps themselves, without processes."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from twofold_auth.app import create_app as auth_app
from twofold_gateway.app import create_app as gateway_app
from twofold_registration.app import create_app as registration_app
from twofold_vault.app import create_app as vault_app
from twofold_web.app import create_app as web_app


def _routes(routes: list[BaseRoute]) -> Iterator[APIRoute]:
    """Every route, those of included routers too (FastAPI includes a router as one route holding it)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif (included := getattr(route, "original_router", None)) is not None:
            yield from _routes(included.routes)


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    if dependant.call is not None:
        yield dependant.call
    for sub in dependant.dependencies:
        yield from _calls(sub)


def _runs_on_the_loop(call: Callable[..., Any]) -> bool:
    target = call if inspect.isfunction(call) or inspect.ismethod(call) else type(call).__call__
    return inspect.iscoroutinefunction(target) or inspect.isasyncgenfunction(target)


@pytest.mark.parametrize("create_app", [auth_app, registration_app, vault_app, gateway_app, web_app],
                         ids=["auth", "registration", "vault", "gateway", "web"])
def test_no_endpoint_or_dependency_runs_in_a_worker_thread(create_app: Callable[[], FastAPI]) -> None:
    """FastAPI runs a plain function (endpoint or dependency) in its thread pool: a hand-off to a thread and back
    on every request, which under load costs more than most endpoints' own work.  Blocking work that must leave
    the loop does so on purpose (argon2 has its own bounded pool), not by a missing ``async``."""
    plain = sorted({f"{route.path}: {call.__module__}.{getattr(call, '__qualname__', type(call).__qualname__)}"
                    for route in _routes(create_app().routes)
                    for call in _calls(route.dependant) if not _runs_on_the_loop(call)})
    assert not plain, "\n".join(plain)
