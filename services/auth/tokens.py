"""Signed session tokens for the sign-in cookie, and the secret that signs them.

A token is ``v1.<payload>.<signature>``: the payload is URL-safe base64 of a small JSON object
(user name, issued-at, expiry, random nonce) and the signature an HMAC-SHA256 over the version
and payload. The token proves who signed in and until when; it carries no role, so the
dashboard looks the user up on every page run (see ``services.auth.sessions``) and a role
change or a disabled account applies at once. The nonce names the session: signing out
revokes it in the store, so a copy of the cookie stops working too.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TypeGuard

from services.files import owner_only, private_dir
from services.settings import Settings

__all__ = [
    "MIN_SECRET_LENGTH",
    "MissingSecretError",
    "SessionToken",
    "cookie_secret",
    "ensure_demo_secret",
    "issue_session_token",
    "issue_token",
    "read_session",
    "read_session_token",
    "read_token",
    "read_token_claims",
]

#: Shortest signing secret accepted.
MIN_SECRET_LENGTH = 32
#: File under ``var_dir`` holding the demo's generated secret.
DEMO_SECRET_FILE = "cookie-secret"  # noqa: S105  (a file name, not a secret)

_VERSION = "v1"
# Keeps these MACs apart from any other use of the same secret.
_CONTEXT = b"opsdash-session\x00"
# Longer tokens are rejected before any work is done on them.
_MAX_TOKEN_LENGTH = 2048
# Longest nonce accepted (issued ones have 16 characters).
_MAX_NONCE_LENGTH = 64
# Tolerated clock difference between dashboard replicas for the issued-at time.
_CLOCK_SKEW_SECONDS = 60.0
_HOW_TO_SET = (
    "set it to a long random value "
    "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
)


class MissingSecretError(RuntimeError):
    """No usable signing secret is configured; ``str()`` says how to set one."""


@dataclass(frozen=True)
class SessionToken:
    """What a valid token says: who signed in, when (Unix times), and the session's nonce."""

    username: str
    issued_at: float
    expires_at: float
    nonce: str


def _check_secret(secret: str) -> bytes:
    if len(secret) < MIN_SECRET_LENGTH:
        raise ValueError(f"the signing secret must be at least {MIN_SECRET_LENGTH} characters")
    return secret.encode("utf-8")


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(key: bytes, signed_part: str) -> str:
    mac = hmac.new(key, _CONTEXT + signed_part.encode("ascii"), hashlib.sha256)
    return _b64encode(mac.digest())


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def issue_token(
    *, username: str, secret: str, ttl_seconds: float, now: float | None = None
) -> str:
    """A signed token saying ``username`` signed in, valid for ``ttl_seconds``.

    Args:
        username: the signed-in user.
        secret: the signing secret (at least :data:`MIN_SECRET_LENGTH` characters).
        ttl_seconds: how long the token is valid.
        now: the current Unix time (tests pass a fixed clock).

    Raises:
        ValueError: the secret is too short, the lifetime not positive or the name empty.
    """
    key = _check_secret(secret)
    if ttl_seconds <= 0:
        raise ValueError("a token's lifetime must be positive")
    if not username:
        raise ValueError("a token needs a user name")
    issued = time.time() if now is None else now
    claims = {"u": username, "iat": issued, "exp": issued + ttl_seconds,
              "n": secrets.token_urlsafe(12)}
    payload = _b64encode(json.dumps(claims, separators=(",", ":")).encode("utf-8"))
    signed_part = f"{_VERSION}.{payload}"
    return f"{signed_part}.{_sign(key, signed_part)}"


def read_token_claims(
    token: str, *, secret: str, now: float | None = None
) -> SessionToken | None:
    """What ``token`` says, or ``None`` if it is forged, expired or malformed.

    Raises:
        ValueError: the secret is too short (a configuration error, not a bad token).
    """
    key = _check_secret(secret)
    if not token or len(token) > _MAX_TOKEN_LENGTH:
        return None
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != _VERSION:
        return None
    signed_part = f"{parts[0]}.{parts[1]}"
    try:
        # compare_digest on str needs ASCII; anything else is not our token.
        if not hmac.compare_digest(_sign(key, signed_part), parts[2]):
            return None
        claims = json.loads(_b64decode(parts[1]))
    except (ValueError, TypeError, binascii.Error):  # JSONDecodeError is a ValueError
        return None
    if not isinstance(claims, dict):
        return None
    username, issued, expires = claims.get("u"), claims.get("iat"), claims.get("exp")
    nonce = claims.get("n")
    if not isinstance(username, str) or not username:
        return None
    if not (_is_number(issued) and _is_number(expires)):
        return None
    if not isinstance(nonce, str) or not 0 < len(nonce) <= _MAX_NONCE_LENGTH:
        return None
    current = time.time() if now is None else now
    if not float(issued) - _CLOCK_SKEW_SECONDS <= current < float(expires):
        return None
    return SessionToken(username=username, issued_at=float(issued), expires_at=float(expires),
                        nonce=nonce)


def read_token(token: str, *, secret: str, now: float | None = None) -> str | None:
    """The user name in ``token``, or ``None`` (see :func:`read_token_claims`)."""
    claims = read_token_claims(token, secret=secret, now=now)
    return None if claims is None else claims.username


def _demo_secret_path(settings: Settings) -> Path:
    return Path(settings.var_dir) / DEMO_SECRET_FILE


def cookie_secret(settings: Settings) -> str:
    """The secret that signs sign-in cookies.

    ``OPSDASH_COOKIE_SECRET`` wins; without it, the demo's generated secret file in
    ``var_dir`` is used if the demo launcher wrote one.

    Raises:
        MissingSecretError: neither is set, or the secret is too short.
    """
    secret = settings.cookie_secret
    source = "OPSDASH_COOKIE_SECRET"
    if not secret:
        path = _demo_secret_path(settings)
        try:
            secret = path.read_text(encoding="utf-8").strip()
            owner_only(path)  # made 0600; fixed if someone opened it to others since
        except FileNotFoundError:
            raise MissingSecretError(f"OPSDASH_COOKIE_SECRET is not set: {_HOW_TO_SET}") from None
        source = f"the demo secret file {path}"
    if len(secret) < MIN_SECRET_LENGTH:
        raise MissingSecretError(
            f"{source} is shorter than {MIN_SECRET_LENGTH} characters: {_HOW_TO_SET}"
        )
    return secret


def ensure_demo_secret(settings: Settings) -> str:
    """Create the demo's secret file (mode 0600) unless it exists; return the secret.

    Only the demo launcher calls this; a real deployment sets ``OPSDASH_COOKIE_SECRET``.
    """
    path = _demo_secret_path(settings)
    private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass  # written earlier (or by a concurrent launcher): read it below
    else:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(secrets.token_urlsafe(32) + "\n")
    return cookie_secret(settings)


def issue_session_token(*, username: str, settings: Settings, now: float | None = None) -> str:
    """A sign-in token for ``username`` lasting ``settings.session_hours``.

    Raises:
        MissingSecretError: no usable secret is configured.
    """
    return issue_token(username=username, secret=cookie_secret(settings),
                       ttl_seconds=settings.session_hours * 3600, now=now)


def read_session(
    token: str, *, settings: Settings, now: float | None = None
) -> SessionToken | None:
    """What a sign-in token says, or ``None`` (see :func:`read_token_claims`).

    Raises:
        MissingSecretError: no usable secret is configured.
    """
    return read_token_claims(token, secret=cookie_secret(settings), now=now)


def read_session_token(token: str, *, settings: Settings, now: float | None = None) -> str | None:
    """The user name in a sign-in token, or ``None`` (see :func:`read_token`).

    Raises:
        MissingSecretError: no usable secret is configured.
    """
    claims = read_session(token, settings=settings, now=now)
    return None if claims is None else claims.username
