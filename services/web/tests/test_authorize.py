"""The pages' part of an app's authorization, in process: the request as the API is asked it, and the policy
that lets the pages' forms lead to the app (the browser test shows a code reaching an app through it)."""

from __future__ import annotations

from twofold_web.page import policy
from twofold_web.pages.authorize import _origin, after_sign_in, parameters
from twofold_web.visit import Authorization, Visit

QUERY = "client_id=cl_1&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&scope=openid+email&prompt=login+consent&max_age=0"


def test_the_api_is_asked_the_request_as_sent_with_the_persons_answer_alone() -> None:
    assert parameters(QUERY, fresh=False) == {
        "client_id": "cl_1", "redirect_uri": "https://app.example/cb", "scope": "openid email",
        "prompt": "login consent", "max_age": "0", "consent": None}
    # a repeated parameter goes as a list (auth refuses it), one without a value is left out (RFC 6749 3.1)
    assert parameters("state=a&state=b&nonce=", fresh=False) == {"state": ["a", "b"], "consent": None}
    # an app cannot answer for the person: its own "consent" is replaced by the pages' answer
    assert parameters("client_id=cl_1&consent=granted", fresh=False)["consent"] is None
    assert parameters("client_id=cl_1&consent=denied", fresh=False, consent="granted")["consent"] == "granted"


def test_a_fresh_sign_in_answers_prompt_login_and_max_age_of_its_request_only() -> None:
    fresh = parameters(QUERY, fresh=True)
    assert fresh["prompt"] == "consent" and "max_age" not in fresh
    assert parameters("prompt=login", fresh=True)["prompt"] is None
    visit = Visit(authorization=Authorization(QUERY, "https://app.example", "An App"))
    assert after_sign_in(visit) == "/oauth2/authorize?" + QUERY and visit.authorization.fresh is True
    assert after_sign_in(Visit()) is None


def test_forms_may_lead_to_the_apps_origin_only_while_its_request_waits() -> None:
    alone = policy(Visit())
    assert "form-action 'self';" in alone and "frame-ancestors 'none'" in alone
    waiting = policy(Visit(authorization=Authorization(QUERY, "https://app.example:8443", "An App")))
    assert "form-action 'self' https://app.example:8443;" in waiting
    assert waiting.replace(" https://app.example:8443", "") == alone


def test_only_an_origin_reaches_the_policy() -> None:
    assert _origin("https://app.example/cb?x=1") == "https://app.example"
    assert _origin("http://localhost:3000/callback") == "http://localhost:3000"
    assert _origin("http://[::1]:3000/callback") == "http://[::1]:3000"
    for uri in ("https://user:pw@app.example/cb", "https://app.example;script-src *;/cb", "https://app example/cb"):
        assert _origin(uri) == "'self'", uri
