"""User names and e-mail addresses: the one place that says what is valid and how to compare.

Both are compared case-insensitively: they are stored and looked up in lower case.
"""

from __future__ import annotations

import re

from services.access.principal import RESERVED_USERNAMES
from services.access.roles import Role

__all__ = [
    "MAX_USERNAME_LENGTH",
    "UserError",
    "canonical_email",
    "canonical_username",
    "parse_role",
    "validate_email",
    "validate_username",
]

#: Longest user name accepted.
MAX_USERNAME_LENGTH = 64
_USERNAME = re.compile(r"[a-z0-9][a-z0-9._@-]*")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
_MAX_EMAIL_LENGTH = 200


class UserError(ValueError):
    """A user-management request cannot be done; ``str()`` says why, in one line."""


def canonical_username(username: str) -> str:
    """The form a user name is stored and looked up in (trimmed, lower case)."""
    return username.strip().lower()


def canonical_email(email: str) -> str:
    """The form an e-mail address is stored and looked up in (trimmed, lower case)."""
    return email.strip().lower()


def validate_username(username: str) -> str:
    """The canonical form of a new user name.

    Raises:
        UserError: the name is empty, too long, has other characters than letters, digits
            and ``. _ - @``, does not start with a letter or digit, or is reserved for the
            system's own audit entries.
    """
    name = canonical_username(username)
    if not 1 <= len(name) <= MAX_USERNAME_LENGTH:
        raise UserError(f"a user name has 1 to {MAX_USERNAME_LENGTH} characters")
    if not _USERNAME.fullmatch(name):
        raise UserError(
            f"user name {username!r} must start with a letter or digit and hold only "
            "letters, digits and . _ - @"
        )
    if name in RESERVED_USERNAMES:
        raise UserError(f"user name {name!r} is reserved")
    return name


def validate_email(email: str | None) -> str | None:
    """The canonical form of an e-mail address, or ``None`` for none given.

    Raises:
        UserError: the address is not of the form ``name@domain`` or is too long.
    """
    if email is None or not email.strip():
        return None
    address = canonical_email(email)
    if len(address) > _MAX_EMAIL_LENGTH or not _EMAIL.fullmatch(address):
        raise UserError(f"{email!r} is not an e-mail address")
    return address


def parse_role(role: str) -> Role:
    """The role named ``role``.

    Raises:
        UserError: no such role.
    """
    try:
        return Role(role.strip().lower())
    except ValueError:
        choices = ", ".join(r.value for r in Role)
        raise UserError(f"unknown role {role!r}: choose one of {choices}") from None
