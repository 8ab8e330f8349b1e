"""How guessable a new password is (zxcvbn: dictionaries, keyboard patterns, dates, the email itself).

The sign-up page asks for a password that zxcvbn scores 3 of 4 ("safely unguessable") on top of the API's
own minimum length, and tells the person why one is refused.  Only the first 72 characters are weighed:
zxcvbn refuses longer ones (its time grows with the length), and a password that long is long enough.
"""

from __future__ import annotations

from dataclasses import dataclass

from zxcvbn import zxcvbn

from .words import WORDS

MIN_LENGTH = 10  # the API's (auth's Registration)
MIN_SCORE = 3
WEIGHED_CHARACTERS = 72  # zxcvbn refuses longer ones


@dataclass(frozen=True)
class Verdict:
    score: int  # 0..4
    acceptable: bool
    message: str


def strength(password: str, email: str = "") -> Verdict:
    if len(password) < MIN_LENGTH:
        return Verdict(0, False, WORDS.password_too_short)
    result = zxcvbn(password[:WEIGHED_CHARACTERS], user_inputs=[email, *email.split("@")] if email else [])
    score = int(result["score"])
    if score >= MIN_SCORE:
        return Verdict(score, True, WORDS.password_strong)
    feedback = result["feedback"]
    hints = [feedback.get("warning") or WORDS.password_guessable, *feedback.get("suggestions", [])]
    return Verdict(score, False, " ".join(hint for hint in hints if hint))
