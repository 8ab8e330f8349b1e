"""What a login costs auth in round trips to its database: each costs about a millisecond of auth's CPU (issue 15).

Counted in auth's app in the test's process: every statement, BEGIN and COMMIT sent on auth's own database for one
request (by its ``X-Request-ID``; the relay, the consumer and the periodic jobs run beside it and are not counted).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event

from twofold_common.logging import current_request_id


@contextmanager
def round_trips(database_url: str) -> Iterator[dict[str, list[str]]]:
    """The round trips to the database of ``database_url``, by request id: BEGIN, COMMIT and each statement's first
    words."""
    database = database_url.rsplit("/", 1)[1]
    sent: dict[str, list[str]] = {}

    def note(connection: Any, what: str) -> None:
        request_id = current_request_id()
        if request_id is not None and connection.engine.url.database == database:
            sent.setdefault(request_id, []).append(what)

    def statement(connection: Any, cursor: Any, text: str, *_: Any) -> None:
        note(connection, " ".join(text.split()[:3]))

    def begin(connection: Any) -> None:
        note(connection, "BEGIN")

    def commit(connection: Any) -> None:
        note(connection, "COMMIT")

    listeners = (("before_cursor_execute", statement), ("begin", begin), ("commit", commit))
    for name, listener in listeners:
        event.listen(Engine, name, listener)
    try:
        yield sent
    finally:
        for name, listener in listeners:
            event.remove(Engine, name, listener)


async def test_a_full_login_costs_auth_few_round_trips_to_its_database(auth_stack) -> None:
    user = await auth_stack.enroll(await auth_stack.register())
    await auth_stack.sign_in(user)  # connections opened, statements prepared
    password_step, code_step = str(uuid.uuid4()), str(uuid.uuid4())
    with round_trips(auth_stack.auth.env["AUTH_DATABASE_URL"]) as sent:
        login = await auth_stack.http.post("/api/auth/login", json={"email": user.email, "password": user.password},
                                           headers={"X-Request-ID": password_step})
        assert login.status_code == 200 and login.json()["status"] == "2fa_required", login.text
        signed_in = await auth_stack.http.post("/api/auth/login/2fa", headers={"X-Request-ID": code_step}, json={
            "challengeToken": login.json()["challengeToken"], "code": await user.authenticator.fresh_code()})
        assert signed_in.status_code == 200, signed_in.text
    # the reservation (BEGIN, both locks, the limits with the account, COMMIT), then one statement settles the
    # attempt, creates the challenge and writes the audit row (BEGIN, it, COMMIT): 12 before issue 15's work
    assert len(sent[password_step]) == 7, sent[password_step]
    # the challenge counted, with the email the session needs (BEGIN, it, COMMIT); after the vault's answer the
    # challenge consumed, the session with its refresh token, the event, the audit row (BEGIN ... COMMIT): 11 before
    assert len(sent[code_step]) == 9, sent[code_step]
