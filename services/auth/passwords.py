"""Password hashing (scrypt from the standard library) and the password policy.

A hash is stored as ``scrypt$<n>$<r>$<p>$<salt b64>$<hash b64>``, so the cost can be raised
later without invalidating existing hashes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from functools import cache

__all__ = [
    "MAX_PASSWORD_LENGTH",
    "MIN_PASSWORD_LENGTH",
    "PasswordPolicyError",
    "check_password_policy",
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
    """A new password does not meet the policy; ``str()`` says why."""


def check_password_policy(password: str, *, username: str | None = None) -> None:
    """Raise unless ``password`` may be set as a new password.

    Args:
        password: the proposed password.
        username: the account's name; a password equal to it is refused.

    Raises:
        PasswordPolicyError: the password is too short, too long, blank or the user name.
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
    if username is not None and password.casefold() == username.casefold():
        raise PasswordPolicyError("the password must differ from the user name")


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
