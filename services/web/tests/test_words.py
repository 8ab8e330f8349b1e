"""Every word a page shows exists, is said, and every template renders with the contexts the pages give it.

A missing word in a template would render as nothing (Jinja's default), silently: these tests are what
notices, and they hold a translation (another ``Words``) to the same fields.
"""

from __future__ import annotations

import ast
import dataclasses
import re
import string
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
import pytest
from jinja2 import nodes
from jinja2.utils import missing

import twofold_web
from twofold_auth.accounts.schemas import TwoFactorStatus
from twofold_auth.clients.scopes import OPENID_SCOPES
from twofold_auth.sessions.schemas import SessionList
from twofold_web.app import create_app
from twofold_web.pages import account, authorize, signin
from twofold_web.settings import WebSettings
from twofold_web.strength import strength
from twofold_web.visit import Authorization, Challenge, Enrollment, Session, Visit
from twofold_web.words import WORDS, Words

PACKAGE = Path(twofold_web.__file__).parent
TEMPLATES = sorted((PACKAGE / "templates").glob("*.html"))
PAGES = sorted(path.name for path in TEMPLATES if path.name not in ("base.html", "forms.html"))


def words_used_in(template: Path) -> Iterator[tuple[str, int]]:
    """Each ``w.<name>`` of a template (``w.action(...)`` too), with its line."""
    tree = jinja2.Environment().parse(template.read_text())
    for node in tree.find_all(nodes.Getattr):
        if isinstance(node.node, nodes.Name) and node.node.name == "w":
            yield node.attr, node.lineno


def words_used_in_python() -> Iterator[tuple[str, str]]:
    """Each ``WORDS.<name>`` of the package's modules, and each ``self.<name>`` of ``Words``' own methods."""
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "WORDS":
                yield node.attr, f"{path.relative_to(PACKAGE)}:{node.lineno}"
            if isinstance(node, ast.ClassDef) and node.name == "Words":
                for inner in ast.walk(node):
                    if (isinstance(inner, ast.Attribute) and isinstance(inner.value, ast.Name)
                            and inner.value.id == "self"):
                        yield inner.attr, f"{path.relative_to(PACKAGE)}:{inner.lineno}"


def test_the_templates_are_found_and_use_words() -> None:
    assert {"base.html", "forms.html", "signup.html", "signin.html", "code.html", "enroll.html",
            "recovery_codes.html", "account.html", "confirm.html", "message.html"} <= {p.name for p in TEMPLATES}
    assert sum(1 for template in TEMPLATES for _ in words_used_in(template)) > 50


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda path: path.name)
def test_every_word_a_template_uses_exists(template: Path) -> None:
    unknown = [f"{template.name}:{line} w.{name}" for name, line in words_used_in(template) if not hasattr(WORDS, name)]
    assert not unknown


def test_every_word_the_python_code_uses_exists() -> None:
    used = list(words_used_in_python())
    assert len(used) > 40
    unknown = [f"{where} {name}" for name, where in used if not hasattr(WORDS, name)]
    assert not unknown


# Each translation the pages can show; one that leaves a word empty (or not a text) fails here.
TRANSLATIONS = {"en": WORDS}


@pytest.mark.parametrize("language", TRANSLATIONS)
def test_every_word_is_a_non_empty_string(language: str) -> None:
    words = TRANSLATIONS[language]
    fields = dataclasses.fields(Words)
    assert len(fields) > 80
    for field in fields:
        value = getattr(words, field.name)
        assert isinstance(value, str) and value and value.strip() == value, field.name


def test_the_words_with_placeholders_are_known_and_filled() -> None:
    """A translation keeps each placeholder: only these words have one, and the pages fill each."""
    placeholders = {field.name: [name for _, name, _, _ in string.Formatter().parse(getattr(WORDS, field.name))
                                 if name is not None]
                    for field in dataclasses.fields(Words)}
    assert {name: found for name, found in placeholders.items() if found} == {
        "too_many_seconds": ["seconds"], "enroll_app_lead": ["app"], "app_continue": ["app"],
        "signin_for_app": ["app"], "consent_lead": ["app"], "logout_app_lead": ["app"]}
    assert "17" in WORDS.too_many(17) and "{" not in WORDS.too_many(17)
    assert WORDS.too_many(None) == WORDS.too_many(0) == WORDS.too_many_now


def test_every_account_action_and_notice_has_its_words() -> None:
    for action in account.ACTIONS:
        assert WORDS.action(action).strip(), action
    notices = {**signin.NOTICES, **account.NOTICES}
    assert all(isinstance(text, str) and text for text in notices.values())


def test_every_scope_an_app_may_ask_for_has_its_words() -> None:
    """The consent page says each scope auth grants apps; the words' own scopes are those, no more."""
    assert {field.name.removeprefix("scope_") for field in dataclasses.fields(Words)
            if field.name.startswith("scope_")} == set(OPENID_SCOPES)
    assert all(WORDS.scope(scope).strip() for scope in OPENID_SCOPES)
    assert set(authorize.PROBLEMS) == {"unknown-client", "invalid-redirect-uri"}


class StrictAttributes(jinja2.Undefined):
    """Jinja's default for a name no page passed (``{% if notice %}`` is false, as when the pages render), but
    an error for an attribute that is missing: ``w.no_such_word``, ``enrollment.no_such_field`` or a field the
    API's answer does not have."""

    def __init__(self, hint: str | None = None, obj: Any = missing, name: str | None = None,
                 exc: type[jinja2.exceptions.TemplateRuntimeError] = jinja2.UndefinedError) -> None:
        super().__init__(hint, obj, name, exc)
        if obj is not missing:
            self._fail_with_undefined_error()


@pytest.fixture(scope="module")
async def environment() -> AsyncIterator[jinja2.Environment]:
    """The pages' own environment (the app builds it at start), with missing attributes made errors."""
    app = create_app(WebSettings())
    async with app.router.lifespan_context(app):
        environment = app.state.runtime.state["templates"].env
        yield environment.overlay(undefined=StrictAttributes, cache_size=100)


def api_status() -> dict[str, Any]:
    """2FA status as auth answers it (its own schema), with one used and one never used authenticator."""
    now = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    return TwoFactorStatus(enabled=True, status="active", setup_completed_at=now, seed_id="seed_1",
                           recovery_codes_remaining=8, authenticators=[
                               {"seed_id": "seed_1", "provider": "native", "label": None, "external_seed_id": None,
                                "created_at": now, "last_used_at": now},
                               {"seed_id": "seed_2", "provider": "legitate", "label": "Phone",
                                "external_seed_id": "ext", "created_at": now, "last_used_at": None},
                           ]).model_dump(mode="json", by_alias=True)


def api_sessions() -> list[dict[str, Any]]:
    now = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    one = {"ip": "203.0.113.9", "user_agent": "Firefox", "amr": ["pwd", "otp"], "created_at": now,
           "last_activity_at": now, "expires_at": now}
    return SessionList(sessions=[{**one, "id": uuid.uuid4(), "current": True},
                                 {**one, "id": uuid.uuid4(), "current": False, "ip": None, "user_agent": None}]
                       ).model_dump(mode="json", by_alias=True)["sessions"]


SESSION = Session(access_token="a", refresh_token="r", session_id=str(uuid.uuid4()), expires_at=2e9)
NATIVE = Enrollment(setup_token="s", registration_token="reg", provider="native")
PROVIDER = Enrollment(setup_token="s", registration_token="reg", provider="legitate")
FOR_AN_APP = Enrollment(registration_token="reg", provider="native", client_id="cl_1", app_name="An App")

# template -> contexts, as the handlers in pages/*.py and app.py pass them (page.render adds w, csrf, visit)
CONTEXTS: dict[str, list[dict[str, Any]]] = {
    "signup.html": [
        {},
        {"email": "p@example.com", "errors": {"email": WORDS.email_invalid, "password": "weak"},
         "verdict": strength("password123456")},
        {"email": "p@example.com", "alert": WORDS.unavailable},
    ],
    "signin.html": [
        {"email": "", "notice": WORDS.notice_registered},
        {"email": "p@example.com", "notice": None},
        {"email": "p@example.com", "errors": {"email": WORDS.required, "password": WORDS.required}},
        {"email": "p@example.com", "alert": WORDS.signin_wrong},
    ],
    "code.html": [
        {"challenge": Challenge("c")},
        {"challenge": Challenge("c", deep_link="https://provider.example/code")},
        {"challenge": Challenge("c"), "recovery": True},
        {"challenge": Challenge("c"), "recovery": False, "errors": {"code": WORDS.code_wrong}},
        {"challenge": Challenge("c"), "recovery": True, "errors": {"recovery_code": WORDS.required}},
        {"challenge": Challenge("c"), "recovery": False, "alert": WORDS.too_many(30)},
    ],
    "enroll.html": [
        {"enrollment": Enrollment(setup_token="s"), "qr": None, "key": None},
        {"enrollment": Enrollment(setup_token="s", replacing=True), "qr": None, "key": None,
         "alert": WORDS.enroll_choose},
        {"enrollment": NATIVE, "qr": "<svg></svg>", "key": "JBSW Y3DP EHPK 3PXP"},
        {"enrollment": NATIVE, "qr": "<svg></svg>", "key": "JBSW", "errors": {"code": WORDS.code_format}},
        {"enrollment": PROVIDER, "qr": None, "key": None, "deep_link": "https://provider.example/add?t=1"},
        {"enrollment": PROVIDER, "qr": None, "key": None, "deep_link": "https://provider.example/add?t=1",
         "notice": WORDS.enroll_pending},
        {"enrollment": FOR_AN_APP, "qr": "<svg></svg>", "key": "JBSW Y3DP EHPK 3PXP"},
    ],
    "recovery_codes.html": [
        {"codes": ["aaaa-bbbb", "cccc-dddd"]},
        {"codes": ["aaaa-bbbb"], "errors": {"saved": WORDS.recovery_confirm}},
    ],
    "account.html": [
        {"status_view": api_status(), "sessions": api_sessions(), "notice": None},
        {"status_view": api_status(), "sessions": api_sessions(), "notice": WORDS.notice_revoked},
    ],
    "confirm.html": [
        *({"action": action, "session": None} for action in account.ACTIONS),
        {"action": "revoke-session", "session": str(uuid.uuid4()), "errors": {"code": WORDS.code_wrong}},
        {"action": "delete", "session": None, "alert": WORDS.failed},
    ],
    "message.html": [
        {"title": WORDS.form_expired_title, "alert": WORDS.form_expired, "back": "/"},
        {"title": WORDS.account_title, "alert": WORDS.unavailable},
        {"title": WORDS.app_enrolled, "link": ("https://app.example/done?sig=1", WORDS.app_continue.format(app="A"))},
        {"title": WORDS.authorize_invalid_title, "alert": WORDS.authorize_bad_redirect},
        {"title": WORDS.consent_ended},
        {"title": WORDS.logout_refused_title, "alert": WORDS.logout_refused},
        {"title": WORDS.signed_out_title, "link": ("https://app.example/out?state=s",
                                                   WORDS.app_continue.format(app="A"))},
    ],
    "consent.html": [
        {"app": "An App", "scopes": sorted(OPENID_SCOPES), "digest": "d"},
        {"app": "An App", "scopes": ["openid"], "digest": "d"},
    ],
    "logout.html": [
        {"app": "An App", "asked": {"id_token_hint": "eyJ.x.y", "post_logout_redirect_uri": "https://app.example/out",
                                    "state": "s"}},
        {"app": None, "asked": {}},
    ],
}
AUTHORIZATION = Authorization("client_id=cl_1&scope=openid", "https://app.example", "An App")
VISITS = [Visit(), Visit(email="p@example.com", session=SESSION),
          Visit(email="p@example.com", authorization=AUTHORIZATION)]


def test_every_page_template_has_contexts() -> None:
    assert set(CONTEXTS) == set(PAGES)


@pytest.mark.parametrize("template", PAGES)
async def test_every_template_renders_with_the_contexts_the_pages_give(environment, template: str) -> None:
    has_forms = "csrf" in (PACKAGE / "templates" / template).read_text()
    for context in CONTEXTS[template]:
        for visit in VISITS:
            html = environment.get_template(template).render(w=WORDS, csrf=visit.csrf, visit=visit, **context)
            title = re.search(r"<title>(.*) · (.*)</title>", html)
            assert title and title[1].strip() and title[2] == WORDS.product, (template, context)
            assert "None" not in html, (template, context)
            if has_forms:
                assert f'name="csrf" value="{visit.csrf}"' in html, (template, context)
            if visit.email and template == "account.html":
                assert visit.email in html
            if visit.authorization and template == "signin.html":
                assert WORDS.signin_for_app.format(app="An App") in html


async def test_what_a_person_typed_is_escaped(environment) -> None:
    context = {**CONTEXTS["signup.html"][1], "email": "<b>p</b>@example.com", "alert": "<i>x</i>"}
    html = environment.get_template("signup.html").render(w=WORDS, csrf="c", visit=Visit(), **context)
    assert "&lt;b&gt;p&lt;/b&gt;@example.com" in html and "<b>p</b>" not in html
    assert "&lt;i&gt;x&lt;/i&gt;" in html and "<i>x</i>" not in html


async def test_a_missing_word_or_attribute_is_an_error_under_these_rules(environment) -> None:
    """The rendering above would notice a typo: the same environment refuses an unknown word or field."""
    with pytest.raises(jinja2.UndefinedError):
        environment.from_string("{{ w.no_such_word }}").render(w=WORDS)
    with pytest.raises(jinja2.UndefinedError):
        environment.from_string("{{ e.no_such_field }}").render(e=Enrollment(setup_token="s"))
    assert environment.from_string("{% if notice %}x{% endif %}").render() == ""
