"""Every service's /metrics as Prometheus reads it, after what people did through the gateway."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from twofold_common.events import REGISTRATION_TOPIC
from twofold_common.testing.metrics import moved

SERVICES = ("gateway", "auth", "registration", "vault", "web")
ROOT = Path(__file__).resolve().parents[1]


def requests(method: str, route: str, status_class: str) -> str:
    return f'twofold_http_requests_total{{method="{method}",route="{route}",status_class="{status_class}"}}'


def timed(method: str, route: str) -> str:
    return f'twofold_http_request_duration_seconds_count{{method="{method}",route="{route}"}}'


async def test_a_login_a_failed_code_and_a_registration_move_every_services_counters_by_exactly_that(system) -> None:
    person = await system.enroll(await system.register())
    before = {service: await system.metrics(service) for service in SERVICES}

    challenge = (await system.login(person)).json()["challengeToken"]
    wrong = await system.http.post("/api/auth/login/2fa", json={"challengeToken": challenge,
                                                                "code": person.wrong_code()})
    assert wrong.status_code == 401
    right = await system.http.post("/api/auth/login/2fa", json={"challengeToken": challenge,
                                                                "code": await person.code()})
    assert right.status_code == 200, right.text
    newcomer = await system.register()

    after = {service: await system.metrics(service) for service in SERVICES}
    public = {  # what the gateway answered, and auth behind it, alike
        requests("POST", "/api/auth/login", "2xx"): 1, timed("POST", "/api/auth/login"): 1,
        requests("POST", "/api/auth/login/2fa", "4xx"): 1, requests("POST", "/api/auth/login/2fa", "2xx"): 1,
        timed("POST", "/api/auth/login/2fa"): 2,
        requests("POST", "/api/auth/register", "2xx"): 1, timed("POST", "/api/auth/register"): 1,
    }
    assert {service: moved(before[service], after[service]) for service in SERVICES} == {
        "gateway": public,
        "auth": {
            **public,
            'twofold_auth_password_checks_total{outcome="ok"}': 1,
            'twofold_auth_second_factor_checks_total{action="login.second_factor",outcome="wrong"}': 1,
            'twofold_auth_second_factor_checks_total{action="login.second_factor",outcome="ok"}': 1,
            "twofold_auth_registrations_total": 1,
            'twofold_auth_password_hash_seconds_count{operation="verify"}': 1,  # the login's password
            'twofold_auth_password_hash_seconds_count{operation="hash"}': 1,  # the newcomer's
        },
        # both codes went to the vault, which answered each (valid or not) with a 200
        "vault": {requests("POST", "/internal/verify", "2xx"): 2, timed("POST", "/internal/verify"): 2},
        "registration": {},
        "web": {},
    }

    for service in SERVICES:
        keys = " ".join(after[service])
        for secret in (person.email, person.user_id, newcomer.email, newcomer.user_id, challenge):
            assert secret not in keys, f"{service} labels a sample with a person's data"
    # what operators watch besides: the pool and the outbox where there is a database, the consumer's lag
    for service in ("auth", "registration", "vault"):
        assert after[service]["twofold_db_pool_size_connections"] == 20
        assert after[service]["twofold_outbox_unpublished_events"] >= 0
        assert after[service]["twofold_outbox_oldest_unpublished_age_seconds"] >= 0
    group = system.stack["auth"].env["AUTH_CONSUMER_GROUP"]
    assert f'twofold_consumer_lag_events{{group="{group}",topic="{REGISTRATION_TOPIC}"}}' in after["auth"]
    for service in ("gateway", "web"):
        assert not any(key.startswith(("twofold_outbox", "twofold_db_pool")) for key in after[service])

    # the names deploy/checks/dashboard.py finds declared in the code, which the dashboard and the alerts may
    # use, are the ones the services export: every one of them, and no other
    exported = {key.split("{", 1)[0] for samples in after.values() for key in samples if key.startswith("twofold_")}
    assert exported == {name for name in dashboard_check().declared(ROOT) if name.startswith("twofold_")}


def dashboard_check():
    spec = importlib.util.spec_from_file_location("dashboard_check", ROOT / "deploy" / "checks" / "dashboard.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
