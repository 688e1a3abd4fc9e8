"""Password hashes (scrypt) and the password policy."""

from __future__ import annotations

import pytest

from services.auth.passwords import (
    MIN_PASSWORD_LENGTH,
    PasswordPolicyError,
    check_password_policy,
    dummy_hash,
    hash_password,
    verify_password,
)


def test_a_hash_verifies_its_password_only() -> None:
    encoded = hash_password("correct horse battery")
    assert verify_password("correct horse battery", encoded)
    assert not verify_password("correct horse batterY", encoded)
    assert not verify_password("", encoded)


def test_the_hash_records_scheme_and_cost() -> None:
    scheme, n, r, p, salt, digest = hash_password("correct horse battery").split("$")
    assert (scheme, n, r, p) == ("scrypt", "16384", "8", "1")
    assert salt
    assert digest


def test_the_same_password_gets_a_different_salt_each_time() -> None:
    first, second = hash_password("same password!"), hash_password("same password!")
    assert first.split("$")[4] != second.split("$")[4]
    assert first != second
    assert verify_password("same password!", first)
    assert verify_password("same password!", second)


def test_non_ascii_passwords_round_trip() -> None:
    assert verify_password("pässwörd-日本語", hash_password("pässwörd-日本語"))


@pytest.mark.parametrize(
    "encoded",
    [
        "",
        "plain-text-password",
        "bcrypt$16384$8$1$c2FsdA==$aGFzaA==",
        "scrypt$16384$8$1$c2FsdA==",
        "scrypt$abc$8$1$c2FsdA==$aGFzaA==",
        "scrypt$16384$8$1$not base64!$aGFzaA==",
        "scrypt$16384$8$1$$aGFzaA==",
        "scrypt$1000$8$1$c2FsdA==$aGFzaA==",  # n not a power of two
        "scrypt$1073741824$8$1$c2FsdA==$aGFzaA==",  # absurd cost
        "scrypt$16384$8$1$c2FsdA==$aGFzaA==",  # well formed, wrong digest
    ],
)
def test_malformed_or_foreign_hashes_never_verify(encoded: str) -> None:
    assert verify_password("anything at all", encoded) is False


def test_the_dummy_hash_is_well_formed_and_stable() -> None:
    assert dummy_hash() is dummy_hash()
    assert dummy_hash().startswith("scrypt$16384$8$1$")
    assert not verify_password("", dummy_hash())


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short", f"at least {MIN_PASSWORD_LENGTH} characters"),
        ("x" * 2000, "at most 1024 characters"),
        (" " * 12, "only spaces"),
        ("Margaret.Hamilton", "differ from the user name"),
    ],
)
def test_the_policy_explains_what_is_wrong(password: str, reason: str) -> None:
    with pytest.raises(PasswordPolicyError, match=reason):
        check_password_policy(password, username="margaret.hamilton")


def test_the_policy_accepts_a_long_enough_password() -> None:
    check_password_policy("ten chars!", username="ann")
    assert issubclass(PasswordPolicyError, ValueError)
