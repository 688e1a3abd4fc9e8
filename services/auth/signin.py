"""Signing in: password check with a per-account lock-out, and the sign-in audit trail.

What a caller learns never depends on whether a user name exists: unknown names cost the
same scrypt work, get the same message and are locked out after the same number of
failures as real accounts (their count is kept in the audit log, since they have no row).
Every attempt, failed or not, is written to the audit log and committed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from db.base import utcnow
from db.models import User
from db.repositories import audit as audit_repo
from db.repositories import users as users_repo
from db.session import session_scope
from services.access.principal import Principal
from services.access.roles import Role
from services.audit import record
from services.auth.names import canonical_email, canonical_username
from services.auth.passwords import MAX_PASSWORD_LENGTH, dummy_hash, verify_password
from services.settings import Settings, get_settings

__all__ = [
    "CHANGE_PASSWORD_FAILED",
    "SIGN_IN",
    "SIGN_IN_FAILED",
    "SIGN_OUT",
    "WRONG_CREDENTIALS",
    "SignInError",
    "authenticate",
    "check_current_password",
    "record_sign_out",
    "sign_in_with_claims",
    "sign_in_with_email",
]

#: Audit actions written here.
SIGN_IN, SIGN_IN_FAILED, SIGN_OUT = "sign_in", "sign_in_failed", "sign_out"
#: A wrong current password when changing one's own password (or one given while locked).
CHANGE_PASSWORD_FAILED = "change_password_failed"  # noqa: S105 (an action name)
#: The one message for a wrong password and an unknown user name alike.
WRONG_CREDENTIALS = "wrong user name or password"


class SignInError(Exception):
    """Signing in failed; ``str()`` is the message to show (it names no account).

    Attributes:
        code: why, as a short word a caller may put in a URL: ``failed`` (wrong name or
            password), ``locked``, ``disabled``, ``unknown_email``, ``no_role``.
    """

    def __init__(self, message: str, code: str = "failed") -> None:
        super().__init__(message)
        self.code = code


@dataclass
class _Attempt:
    """The outcome of one attempt, decided inside the write transaction."""

    principal: Principal | None = None
    message: str = WRONG_CREDENTIALS
    code: str = "failed"
    details: dict[str, Any] = field(default_factory=dict)


def _locked_message(locked_until: datetime, now: datetime) -> str:
    minutes = max(1, math.ceil((locked_until - now).total_seconds() / 60))
    return f"too many failed attempts; try again in {minutes} minute{'s' * (minutes != 1)}"


def _last_failure_of_unknown(session: Session, name: str) -> tuple[int, datetime | None]:
    """Failure count and lock of a name without an account, from its latest audit entry."""
    details = audit_repo.latest_details(session=session, actor=name, action=SIGN_IN_FAILED)
    if not details:
        return 0, None
    count = details.get("failed_attempts", 0)
    locked = details.get("locked_until")
    try:
        until = datetime.fromisoformat(locked) if isinstance(locked, str) else None
    except ValueError:
        until = None
    return (count if isinstance(count, int) else 0), until


def _decide(
    session: Session,
    name: str,
    stored_hash: str | None,
    password_ok: bool,
    now: datetime,
    cfg: Settings,
) -> _Attempt:
    user = users_repo.by_username(session=session, username=name, for_update=True)
    if user is None:
        count, locked_until = _last_failure_of_unknown(session, name)
    else:
        count, locked_until = user.failed_attempts, user.locked_until
    attempt = _Attempt(details={"method": "password"})
    if locked_until is not None and now < locked_until:
        attempt.message, attempt.code = _locked_message(locked_until, now), "locked"
        attempt.details.update(reason="locked", failed_attempts=count,
                               locked_until=locked_until.isoformat())
        return attempt
    if locked_until is not None:  # the lock ran out: a fresh series of attempts
        count, locked_until = 0, None
    # The hash must be the one checked: a password change in between fails the attempt.
    ok = password_ok and user is not None and user.password_hash == stored_hash
    if user is not None and ok and not user.disabled:
        user.failed_attempts, user.locked_until = 0, None
        attempt.principal = Principal(username=user.username, role=Role(user.role))
        return attempt
    if user is not None and ok:  # right password, disabled account: say so, count nothing
        attempt.message = "this account is disabled; ask an admin to enable it"
        attempt.code = "disabled"
        attempt.details.update(reason="disabled", failed_attempts=count)
        return attempt
    count += 1
    if count >= cfg.signin_max_failures:
        locked_until = now + timedelta(seconds=cfg.signin_lockout_seconds)
        attempt.details["locked_until"] = locked_until.isoformat()
    if user is None:
        reason = "unknown_user"
    else:
        reason = "disabled" if user.disabled else "wrong_password"
        user.failed_attempts, user.locked_until = count, locked_until
    attempt.details.update(reason=reason, failed_attempts=count)
    return attempt


def authenticate(
    *,
    engine: Engine,
    username: str,
    password: str,
    now: datetime | None = None,
    settings: Settings | None = None,
) -> Principal:
    """Check a user name and password; return who signed in.

    After ``settings.signin_max_failures`` failures in a row the account is locked for
    ``settings.signin_lockout_seconds``; a successful sign-in resets the count. The attempt
    is audited (``sign_in`` or ``sign_in_failed`` with a ``reason``) whatever its outcome.

    Args:
        engine: the store.
        username: the name as typed (compared case-insensitively).
        password: the password as typed.
        now: the current time, timezone-aware (tests pass a fixed clock).
        settings: lock-out settings (default: from the environment).

    Raises:
        SignInError: the name or password is wrong, the account is locked or disabled.
    """
    cfg = settings or get_settings()
    when = now or utcnow()
    name = canonical_username(username)
    with session_scope(engine) as session:
        user = users_repo.by_username(session=session, username=name)
        stored_hash = user.password_hash if user is not None else None
    # The slow check runs outside the write transaction so it does not hold the lock, and
    # always runs, against a dummy hash if need be, so it takes the same time for everyone.
    candidate = password if len(password) <= MAX_PASSWORD_LENGTH else ""
    password_ok = verify_password(candidate, stored_hash or dummy_hash()) and bool(
        stored_hash and candidate
    )
    with session_scope(engine, write=True) as session:
        attempt = _decide(session, name, stored_hash, password_ok, when, cfg)
        action = SIGN_IN if attempt.principal else SIGN_IN_FAILED
        record(session=session, actor=name, action=action, object_type="user",
               object_id=name, details=attempt.details, at=when)
    if attempt.principal is None:
        raise SignInError(attempt.message, attempt.code)
    return attempt.principal


def check_current_password(
    *,
    session: Session,
    username: str,
    stored_hash: str,
    password_ok: bool,
    now: datetime,
    settings: Settings,
) -> str | None:
    """Decide, inside the caller's write transaction, whether a user who changes their own
    password gave the right current one; ``None`` if so, else why not (to show them).

    A wrong password counts on the sign-in counter and lock-out (``failed_attempts``,
    ``locked_until``) exactly as a failed sign-in, so a borrowed session cannot try
    passwords faster than the sign-in form; while the account is locked even the right
    password is refused. Each refusal is audited as ``change_password_failed`` with the
    ``reason`` and count a failed sign-in records; the right password resets the count.
    The caller commits before raising, so the count and the entry stay.

    Args:
        session: the caller's write session.
        username: the signed-in user's (canonical) name.
        stored_hash: the hash ``password_ok`` was checked against; a password change in
            between fails the attempt.
        password_ok: whether the given password matched ``stored_hash``.
        now: the current time, timezone-aware.
        settings: the lock-out settings.
    """
    attempt = _decide(session, username, stored_hash, password_ok, now, settings)
    if attempt.principal is not None:
        return None
    details = {key: value for key, value in attempt.details.items() if key != "method"}
    record(session=session, actor=username, action=CHANGE_PASSWORD_FAILED, object_type="user",
           object_id=username, details=details, at=now)
    return "the current password is wrong" if attempt.code == "failed" else attempt.message


def sign_in_with_email(*, engine: Engine, email: str, now: datetime | None = None) -> Principal:
    """Sign in someone whose e-mail address an identity provider (OIDC) has verified.

    The role comes from the local user with that address; the attempt is audited.

    Raises:
        SignInError: no enabled user has this address.
    """
    address = canonical_email(email)
    when = now or utcnow()
    with session_scope(engine, write=True) as session:
        user: User | None = users_repo.by_email(session=session, email=address) if address else None
        details: dict[str, Any] = {"method": "oidc", "email": address}
        if user is None or user.disabled:
            reason = "unknown_user" if user is None else "disabled"
            actor = address if user is None else user.username
            record(session=session, actor=actor, action=SIGN_IN_FAILED, object_type="user",
                   object_id=actor, details={**details, "reason": reason}, at=when)
            principal = None
        else:
            principal = Principal(username=user.username, role=Role(user.role))
            record(session=session, actor=user.username, action=SIGN_IN, object_type="user",
                   object_id=user.username, details=details, at=when)
    if principal is None:
        if user is None:
            raise SignInError(f"no account has the e-mail address {address!r}; ask an admin",
                              "unknown_email")
        raise SignInError("this account is disabled; ask an admin to enable it", "disabled")
    return principal


def _role_from_claim(value: object) -> Role | None:
    """The first role named by a claim value (a string or a list of strings)."""
    values = value if isinstance(value, list | tuple) else [value]
    for item in values:
        if isinstance(item, str):
            try:
                return Role(item.strip().lower())
            except ValueError:
                continue
    return None


def _email_verified(claims: Mapping[str, Any], *, trust_email: bool) -> bool:
    """Whether the provider vouches for the ``email`` claim: ``email_verified`` is ``True``
    or the string ``"true"`` (any case). With ``trust_email`` a claim left out (or null)
    counts too; a value that says anything else still refuses."""
    verified = claims.get("email_verified")
    if verified is None:
        return trust_email
    if isinstance(verified, str):
        return verified.strip().lower() == "true"
    return verified is True


def _refuse_unverified(engine: Engine, address: str, when: datetime) -> SignInError:
    """Audit a sign-in on an address the provider has not verified; the error to raise."""
    with session_scope(engine, write=True) as session:
        record(session=session, actor=address, action=SIGN_IN_FAILED, object_type="user",
               object_id=address, details={"method": "oidc", "email": address,
                                           "reason": "unverified_email"}, at=when)
    return SignInError(
        f"sign-in needs a verified e-mail address, and the identity provider has not "
        f"verified {address!r}; verify it with the provider, or ask your admin",
        "unverified_email")


def sign_in_with_claims(
    *,
    engine: Engine,
    claims: Mapping[str, Any],
    role_claim: str = "",
    trust_email: bool = False,
    now: datetime | None = None,
) -> Principal:
    """Sign in someone an identity provider (OIDC) vouches for, from its ID-token claims.

    The ``email`` claim must be verified: ``email_verified`` is ``True`` or ``"true"``;
    with ``trust_email`` (``OPSDASH_OIDC_TRUST_EMAIL``, for providers that send no such
    claim) it may also be left out. Without ``role_claim`` the role is the local user's
    with that address (:func:`sign_in_with_email`). With it, the role is the first value
    of that claim that names a role (``admin``, ``operator``, ``analyst``, ``labeler``);
    the user name is the local user's with that address, or else the address itself. A
    local account that is disabled stays shut either way. The attempt is audited (a
    missing address, which names nobody, is not).

    Raises:
        SignInError: no e-mail address (``unknown_email``), an unverified one
            (``unverified_email``), no role, or a disabled account.
    """
    email = claims.get("email")
    if not isinstance(email, str) or not email.strip():
        raise SignInError(
            "the identity provider sent no e-mail address; ask your admin to release the "
            "email claim", "unknown_email")
    if not _email_verified(claims, trust_email=trust_email):
        raise _refuse_unverified(engine, canonical_email(email), now or utcnow())
    if not role_claim:
        return sign_in_with_email(engine=engine, email=email, now=now)
    address = canonical_email(email)
    role = _role_from_claim(claims.get(role_claim))
    when = now or utcnow()
    details: dict[str, Any] = {"method": "oidc", "email": address, "role_claim": role_claim}
    with session_scope(engine, write=True) as session:
        user = users_repo.by_email(session=session, email=address)
        name = user.username if user is not None else address
        failure: SignInError | None = None
        if role is None:
            failure = SignInError(
                f"the identity provider's {role_claim!r} claim names no opsdash role; ask "
                "your admin", "no_role")
        elif user is not None and user.disabled:
            failure = SignInError("this account is disabled; ask an admin to enable it",
                                  "disabled")
        if failure is not None or role is None:
            record(session=session, actor=name, action=SIGN_IN_FAILED, object_type="user",
                   object_id=name, details={**details, "reason": getattr(failure, "code", "")},
                   at=when)
        else:
            record(session=session, actor=name, action=SIGN_IN, object_type="user",
                   object_id=name, details={**details, "role": role.value}, at=when)
    # Raised after the commit, so the failed attempt stays in the audit log.
    if failure is not None or role is None:
        raise failure or SignInError("no role", "no_role")
    return Principal(username=name, role=role)


def record_sign_out(*, engine: Engine, actor: Principal) -> None:
    """Audit that ``actor`` signed out (the dashboard drops the cookie itself)."""
    with session_scope(engine, write=True) as session:
        record(session=session, actor=actor.username, action=SIGN_OUT, object_type="user",
               object_id=actor.username)
