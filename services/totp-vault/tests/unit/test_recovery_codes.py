import math
import re

from twofold_vault.recovery.service import (
    CODE_ALPHABET,
    CODE_LENGTH,
    code_hash,
    display,
    new_code,
    normalize,
)


def test_codes_have_at_least_50_bits_and_read_as_two_groups_of_five() -> None:
    assert CODE_LENGTH * math.log2(len(set(CODE_ALPHABET))) >= 50
    codes = {display(new_code()) for _ in range(1000)}
    assert len(codes) == 1000
    assert all(re.fullmatch(r"[a-z2-7]{5}-[a-z2-7]{5}", code) for code in codes)


def test_people_may_type_codes_loosely() -> None:
    code = new_code()
    assert normalize(display(code)) == normalize(display(code).upper()) == normalize(f" {code[:5]} {code[5:]} ") == code
    assert normalize("abcde-fghi1") is None and normalize("abcde") is None and normalize("") is None


def test_hashes_are_keyed_and_bound_to_the_subject() -> None:
    code = new_code()
    assert code_hash(b"pepper", "alice", code) != code_hash(b"pepper", "bob", code)
    assert code_hash(b"pepper", "alice", code) != code_hash(b"other", "alice", code)
    assert len(code_hash(b"pepper", "alice", code)) == 32
