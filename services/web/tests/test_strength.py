"""How guessable a new password is: what the sign-up page refuses, and the words it tells the person why."""

from __future__ import annotations

import secrets

import pytest
from zxcvbn import zxcvbn

from twofold_web.strength import MIN_LENGTH, WEIGHED_CHARACTERS, strength
from twofold_web.words import WORDS


@pytest.mark.parametrize("password", ["", "a", "Tr0ub4dor", "x" * (MIN_LENGTH - 1), "é" * (MIN_LENGTH - 1)])
def test_under_ten_characters_is_refused_for_its_length(password: str) -> None:
    verdict = strength(password, "someone@example.com")
    assert verdict.acceptable is False and verdict.score == 0
    assert verdict.message == WORDS.password_too_short


def test_ten_characters_are_weighed_not_refused_for_their_length() -> None:
    verdict = strength("wq8#Lz!v2K")
    assert len("wq8#Lz!v2K") == MIN_LENGTH and verdict.message != WORDS.password_too_short


@pytest.mark.parametrize("password", ["password123456", "qwertyuiop", "iloveyou12345"])
def test_a_common_password_is_refused_with_zxcvbns_warning(password: str) -> None:
    warning = zxcvbn(password)["feedback"]["warning"]
    assert warning  # zxcvbn says why: the page must pass it on
    verdict = strength(password)
    assert verdict.acceptable is False and verdict.score < 3
    assert warning in verdict.message


def test_a_guessable_password_without_a_warning_gets_the_pages_own_words() -> None:
    password = "kwmtrqzfhv2024"
    email = "kwmtrqzfhv@example.com"
    assert not zxcvbn(password, user_inputs=[email, *email.split("@")])["feedback"]["warning"]
    verdict = strength(password, email)
    assert verdict.acceptable is False and verdict.message.startswith(WORDS.password_guessable)


@pytest.mark.parametrize("password", ["kwmtrqzfhv2024", "Kwmtrqzfhv!!", "kwmtrqzfhv-example"])
def test_a_password_made_of_the_email_is_weaker_than_the_same_password_for_another_email(password: str) -> None:
    own = strength(password, "kwmtrqzfhv@example.com")
    other = strength(password, "someone-else@example.org")
    assert own.score < other.score, (own, other)
    assert strength(password).score == other.score  # no email: the same as an unrelated one


def test_the_email_itself_is_refused_as_a_password() -> None:
    email = "kwmtrqzfhv@example.com"
    assert strength(email).acceptable is True  # random letters, alone
    assert strength(email, email).acceptable is False


def test_a_few_unrelated_words_are_accepted() -> None:
    verdict = strength("correct horse battery staple", "person@example.com")
    assert verdict.acceptable is True and verdict.score >= 3
    assert verdict.message == WORDS.password_strong


@pytest.mark.parametrize("password", [
    "x" * 1000,
    secrets.token_urlsafe(1000)[:1000],
    "correct horse battery staple " * 40,
    "password" * 125,
], ids=["repeated", "random", "words-repeated", "common-repeated"])
def test_a_1000_character_password_is_weighed_without_zxcvbns_length_error(password: str) -> None:
    assert len(password) >= 1000 > WEIGHED_CHARACTERS
    with pytest.raises(ValueError):
        zxcvbn(password)  # what the page must not let reach the person
    verdict = strength(password, "person@example.com")
    assert 0 <= verdict.score <= 4
    assert "max length" not in verdict.message
    # the verdict is that of the first characters weighed
    assert verdict == strength(password[:WEIGHED_CHARACTERS], "person@example.com")


def test_a_long_random_password_is_accepted_and_a_long_repetition_is_not() -> None:
    assert strength(secrets.token_urlsafe(1000)[:1000]).acceptable is True
    assert strength("x" * 1000).acceptable is False
