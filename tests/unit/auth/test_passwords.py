"""Password hashes (scrypt) and the password policy."""

from __future__ import annotations

import pytest

from services.auth.passwords import (
    MIN_PASSWORD_LENGTH,
    PasswordPolicyError,
    check_password_policy,
    common_passwords,
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
        ("Margaret.Hamilton", "must not contain the user name"),
        ("my margaret.hamilton pw", "must not contain the user name"),
        ("1947-MARGARET.HAMILTON", "must not contain the user name"),
    ],
)
def test_the_policy_explains_what_is_wrong(password: str, reason: str) -> None:
    with pytest.raises(PasswordPolicyError, match=reason):
        check_password_policy(password, username="margaret.hamilton")


ADVICE = "a few unrelated words, or a random password from a password manager"


@pytest.mark.parametrize(
    "password",
    [
        "password12", "Password123", "PASSWORD1234", "iloveyou123",
        "letmein!!!!", "Dragon-2024!", "monkey12345", "!!sunshine!!", "P@ssw0rd2026",
        "football99", "1qaz2wsx3edc", "Administrator", "welcome2026", "trustno1!!",
    ],
)
def test_common_passwords_are_refused_with_a_few_digits_or_symbols_added_too(
    password: str,
) -> None:
    with pytest.raises(PasswordPolicyError, match="one of the most common passwords") as caught:
        check_password_policy(password, username="ann")
    assert ADVICE in str(caught.value)


@pytest.mark.parametrize(
    "password",
    ["aaaaaaaaaa", "1111111111", "ZZZZZZZZZZZZ", "!!!!!!!!!!", "ababababab", "abcabcabcabc",
     "12121212121", "xyzzxyzzxyzz", "éééééééééé", "aaaaaaaaaa1"],
)
def test_one_character_or_a_short_group_repeated_is_refused(password: str) -> None:
    with pytest.raises(PasswordPolicyError, match="repeated") as caught:
        check_password_policy(password, username="ann")
    assert ADVICE in str(caught.value)


@pytest.mark.parametrize(
    "password",
    ["1234567890", "0987654321", "abcdefghij", "ZYXWVUTSRQPO", "qwertyuiop", "POIUYTREWQ",
     "asdfghjklzxc", "mnbvcxzlkjh", "azertyuiop", "qwertzuiop", "0123456789", "qwertyuiop1",
     "abcdefgh!!", "9876543210", "qwerty123456"],
)
def test_a_straight_run_of_letters_digits_or_keys_is_refused(password: str) -> None:
    with pytest.raises(PasswordPolicyError, match="straight run") as caught:
        check_password_policy(password, username="ann")
    assert ADVICE in str(caught.value)


@pytest.mark.parametrize(
    "password",
    ["correct horse battery", "ten chars!", "Tr0ub4dor&3x", "dragon-8305174",
     "winter orchid 58", "qwertyuiop cactus lamp", "1234 river stone 9876", "tomato-rides-east",
     "Lz7_kQ2-pX9w"],
)
def test_passwords_that_are_not_trivial_are_accepted(password: str) -> None:
    check_password_policy(password, username="ann")


def test_a_short_user_name_inside_a_word_does_not_refuse() -> None:
    # Two letters are part of too many words to refuse every password holding them.
    check_password_policy("a jolly good fellow", username="jo")
    with pytest.raises(PasswordPolicyError, match="user name"):
        check_password_policy("a jolly good fellow", username="jolly")


def test_the_built_in_list_is_a_data_file_of_common_passwords() -> None:
    common = common_passwords()
    assert 500 <= len(common) <= 5000
    assert {"password", "123456", "qwerty", "iloveyou", "letmein", "dragon"} <= common
    assert all(entry == entry.casefold().strip() and entry for entry in common)


def test_random_demo_style_passwords_pass() -> None:
    # What the demo launcher makes: secrets.token_urlsafe(12), 16 characters.
    for password in ["q3Jx0bW_ZtK9mR2a", "Xy-8sK2pLmQ4vN7c", "0aZ9bY8cX7dW6eV5"]:
        check_password_policy(password, username="admin")


def test_the_policy_accepts_a_long_enough_password() -> None:
    check_password_policy("ten chars!", username="ann")
    assert issubclass(PasswordPolicyError, ValueError)
