"""Password hashing (scrypt from the standard library) and the password policy.

A hash is stored as ``scrypt$<n>$<r>$<p>$<salt b64>$<hash b64>``, so the cost can be raised
later without invalidating existing hashes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from functools import cache
from pathlib import Path

__all__ = [
    "MAX_PASSWORD_LENGTH",
    "MIN_PASSWORD_LENGTH",
    "PasswordPolicyError",
    "check_password_policy",
    "common_passwords",
    "dummy_hash",
    "hash_password",
    "verify_password",
]

#: Shortest password accepted.
MIN_PASSWORD_LENGTH = 10
#: Longest password accepted (a bound on the work an attacker can make one request cost).
MAX_PASSWORD_LENGTH = 1024

_SCHEME = "scrypt"
_N, _R, _P = 2**14, 8, 1
_DKLEN = 64
_SALT_BYTES = 16
# Bounds on the parameters read back from a stored hash, so a corrupted row cannot make
# one verification take gigabytes of memory.
_MAX_N, _MAX_R, _MAX_P, _MAX_DKLEN = 2**20, 32, 16, 256
_MAXMEM = 256 * 1024 * 1024


class PasswordPolicyError(ValueError):
    """A new password does not meet the policy; ``str()`` says why and what to do."""


#: Shortest user name that a password must not contain (two letters are in too many words).
_MIN_NAME_IN_PASSWORD = 3
_ADVICE = ("; a few unrelated words, or a random password from a password manager, "
           "make a good one")
#: Letters, digits and keyboard rows in order; a password that is a piece of one of them,
#: forwards or backwards, is a straight run. ``01234567890`` holds 1234567890 (the keyboard's
#: order) as well as 0123456789; the rows run on into each other as keyboard walks do.
_SEQUENCES = (
    "abcdefghijklmnopqrstuvwxyz",
    "01234567890",
    "1234567890-=",
    "qwertyuiopasdfghjklzxcvbnm",  # US, UK
    "qwertzuiopasdfghjklyxcvbnm",  # German
    "azertyuiopqsdfghjklmwxcvbn",  # French
)
_LONGEST_REPEATED_GROUP = 4
#: Digits or symbols added to a weak core that keep it weak: at most this many.
_FEW_ADDED = 4
# A password's core: from its first letter to its last (digits and symbols around it off),
# or from its first letter or digit to its last (symbols off).
_CORES = (re.compile(r"([\W\d_]*)(.*?)([\W\d_]*)", re.DOTALL),
          re.compile(r"([\W_]*)(.*?)([\W_]*)", re.DOTALL))
_SYMBOLS = re.compile(r"[\W_]")


@cache
def common_passwords() -> frozenset[str]:
    """The built-in list of common passwords (``common_passwords.txt``), in lower case."""
    text = Path(__file__).with_name("common_passwords.txt").read_text(encoding="utf-8")
    return frozenset(line.strip().casefold() for line in text.splitlines()
                     if line.strip() and not line.startswith("#"))


def _is_run(text: str) -> bool:
    return bool(text) and any(text in seq or text in seq[::-1] for seq in _SEQUENCES)


def _is_repeated(text: str) -> bool:
    """One character, or a group of up to four, repeated (``aaaa``, ``abab``, ``abcabca``)."""
    for size in range(1, _LONGEST_REPEATED_GROUP + 1):
        if len(text) >= 2 * size and (text[:size] * len(text))[: len(text)] == text:
            return True
    return False


def _adds_little(added: str) -> bool:
    """Whether digits or symbols put around a core leave it as guessable: a few of them, or
    digits that are themselves a run or a repetition (``2024``, ``!!``, ``123456``)."""
    digits = _SYMBOLS.sub("", added)
    return len(digits) <= _FEW_ADDED or _is_run(digits) or _is_repeated(digits)


def _weak_forms(password: str) -> list[str]:
    """The password in lower case and, where the digits and symbols around them add little,
    its cores: what the rules on common passwords, repetitions and runs look at."""
    lowered = password.casefold()
    forms = [lowered]
    for pattern in _CORES:
        match = pattern.fullmatch(lowered)
        if match is None or not match.group(2) or match.group(2) in forms:
            continue
        before, core, after = match.groups()
        if _adds_little(before) and _adds_little(after):
            forms.append(core)
    return forms


def check_password_policy(password: str, *, username: str | None = None) -> None:
    """Raise unless ``password`` may be set as a new password.

    Refused: shorter than :data:`MIN_PASSWORD_LENGTH` or longer than
    :data:`MAX_PASSWORD_LENGTH` characters, only spaces, holding the user name (of three
    characters or more), one character or a short group repeated, a straight run of
    letters, digits or keyboard keys, or one of the built-in common passwords. The last
    three also with a few digits or symbols added (``password12``, ``qwertyuiop!``).

    Args:
        password: the proposed password.
        username: the account's name; a password containing it is refused.

    Raises:
        PasswordPolicyError: the password breaks a rule; the message says which, and what
            to do instead.
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordPolicyError(
            f"the password must be at least {MIN_PASSWORD_LENGTH} characters long"
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise PasswordPolicyError(
            f"the password must be at most {MAX_PASSWORD_LENGTH} characters long"
        )
    if not password.strip():
        raise PasswordPolicyError("the password must not be only spaces")
    name = (username or "").strip().casefold()
    if len(name) >= _MIN_NAME_IN_PASSWORD and name in password.casefold():
        raise PasswordPolicyError("the password must not contain the user name" + _ADVICE)
    forms = _weak_forms(password)
    if any(_is_repeated(form) for form in forms):
        raise PasswordPolicyError(
            "the password is one character or a short group repeated" + _ADVICE)
    if any(_is_run(form) for form in forms):
        raise PasswordPolicyError(
            "the password is a straight run of letters, digits or keys (like abcdef, 654321 "
            "or qwerty)" + _ADVICE)
    if any(form in common_passwords() for form in forms):
        raise PasswordPolicyError(
            "the password is one of the most common passwords, or one with a few digits or "
            "symbols added" + _ADVICE)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str) -> str:
    """A salted scrypt hash of ``password`` in the stored format."""
    salt = secrets.token_bytes(_SALT_BYTES)
    digest = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=_N, r=_R, p=_P, dklen=_DKLEN, maxmem=_MAXMEM
    )
    return f"{_SCHEME}${_N}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, encoded: str) -> bool:
    """Whether ``password`` matches the stored hash ``encoded``.

    Returns ``False`` (never raises) for an empty or malformed hash, so an account without a
    password cannot be signed in to with one.
    """
    parts = encoded.split("$") if encoded else []
    if len(parts) != 6 or parts[0] != _SCHEME:
        return False
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt = base64.b64decode(parts[4], validate=True)
        expected = base64.b64decode(parts[5], validate=True)
    except (ValueError, binascii.Error):
        return False
    if not (1 < n <= _MAX_N and n & (n - 1) == 0 and 0 < r <= _MAX_R and 0 < p <= _MAX_P):
        return False
    if not salt or not 0 < len(expected) <= _MAX_DKLEN:
        return False
    try:
        digest = hashlib.scrypt(
            password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=len(expected),
            maxmem=_MAXMEM,
        )
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(digest, expected)


@cache
def dummy_hash() -> str:
    """A hash of a random password, to verify against when there is no real one.

    Checking an unknown user's password against it costs the same time as a real check, so
    response times do not tell which user names exist.
    """
    return hash_password(secrets.token_urlsafe(16))
