"""One spelling per email address: the key that makes accounts unique and finds them at login.

``email-validator`` (what pydantic's ``EmailStr`` runs) checks the syntax,
refuses invisible and format characters, and normalises the domain (IDNA,
lower case) and the local part (NFC).  It leaves full-width letters alone
(``ａｌｉｃｅ`` is not ``alice`` under NFC) and accepts a local part that mixes
scripts (a Cyrillic ``а`` among Latin letters), so it runs on the NFKC form,
and mixed scripts are refused here: no normalisation can map them to the
address they imitate.  The key is the case-folded address, as uniqueness was
case-insensitive before.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email

# Scripts that are written together (UTS #39, "highly restrictive"): Japanese, Chinese, Korean with Latin.
_WRITTEN_TOGETHER = ({"HAN", "HIRAGANA", "KATAKANA"}, {"HAN", "BOPOMOFO"}, {"HAN", "HANGUL"})
_SCRIPT_OF_NAME = {"CJK": "HAN", "IDEOGRAPHIC": "HAN", "KATAKANA-HIRAGANA": "KATAKANA"}


class EmailRefused(ValueError):
    """An address that is invalid or cannot be told apart from another one; the message says why."""


@dataclass(frozen=True)
class Email:
    address: str  # as stored and shown: NFKC, the domain as email-validator normalises it
    key: str  # unique per account: the address case-folded


def normalize_email(raw: str) -> Email:
    folded = unicodedata.normalize("NFKC", raw.strip())
    try:
        parts = validate_email(folded, check_deliverability=False)
    except EmailNotValidError as exc:
        raise EmailRefused(str(exc)) from None
    for part in (parts.local_part, *parts.domain.split(".")):
        scripts = _scripts(part)
        if len(scripts) > 1 and not any(scripts - {"LATIN"} <= group for group in _WRITTEN_TOGETHER):
            raise EmailRefused(f"{part!r} mixes scripts ({', '.join(sorted(scripts)).lower()}), "
                               "so it can imitate another address")
    # the domain's ASCII form in the key: an IDN spelled in Unicode or as xn-- is one domain
    return Email(address=parts.normalized,
                 key=unicodedata.normalize("NFKC", f"{parts.local_part}@{parts.ascii_domain}".casefold()))


def lookup_key(raw: str) -> str:
    """The key to look an account up by; an address the rule refuses can only match a row from before the rule."""
    try:
        return normalize_email(raw).key
    except EmailRefused:
        return raw.strip().lower()


def _scripts(text: str) -> set[str]:
    """The scripts of the letters (digits and punctuation belong to every script)."""
    scripts = set()
    for char in text:
        if unicodedata.category(char).startswith("L"):
            first = unicodedata.name(char, "UNKNOWN").split()[0]
            scripts.add(_SCRIPT_OF_NAME.get(first, first))
    return scripts
