"""User accounts: create, change role, disable, set passwords, list; who a name stands for.

Every change needs :attr:`Action.MANAGE_USERS` (checked before anything else, so a refused
call changes and writes nothing) and writes its audit entry in the same transaction.
The command line and the demo act as the ``CLI`` / ``SYSTEM`` principals; the dashboard
passes the signed-in user. Sign-in itself lives in :mod:`services.auth.signin` and is
re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.base import utcnow
from db.models import User
from db.repositories import users as users_repo
from db.session import session_scope
from services.access.principal import PermissionDenied, Principal, require
from services.access.roles import Action, Role, View
from services.audit import record
from services.auth.names import (
    UserError,
    canonical_email,
    canonical_username,
    parse_role,
    validate_email,
    validate_username,
)
from services.auth.passwords import (
    MAX_PASSWORD_LENGTH,
    check_password_policy,
    hash_password,
    verify_password,
)
from services.auth.signin import (
    SignInError,
    authenticate,
    check_current_password,
    record_sign_out,
    sign_in_with_email,
)
from services.settings import Settings, get_settings

__all__ = [
    "SignInError",
    "UserError",
    "UserInfo",
    "authenticate",
    "change_own_password",
    "create_user",
    "disable_user",
    "enable_user",
    "end_sessions",
    "get_principal",
    "is_disabled",
    "list_users",
    "principal_for_email",
    "record_sign_out",
    "set_password",
    "set_role",
    "sign_in_with_email",
]


@dataclass(frozen=True)
class UserInfo:
    """A user account as the users page shows it (never the password hash).

    Attributes:
        username: the sign-in name.
        role: the account's role.
        email: the e-mail address used for single sign-on, if any.
        disabled: whether the account may not sign in.
        has_password: whether a password is set (single-sign-on accounts have none).
        failed_attempts: failed password sign-ins in a row.
        locked_until: end of a lock-out after too many failures, if one was set.
        created_at: when the account was created.
    """

    username: str
    role: Role
    email: str | None
    disabled: bool
    has_password: bool
    failed_attempts: int
    locked_until: datetime | None
    created_at: datetime


def _info(user: User) -> UserInfo:
    return UserInfo(
        username=user.username,
        role=Role(user.role),
        email=user.email,
        disabled=user.disabled,
        has_password=bool(user.password_hash),
        failed_attempts=user.failed_attempts,
        locked_until=user.locked_until,
        created_at=user.created_at,
    )


def _audit(session: Session, actor: Principal, action: str, username: str,
           **details: Any) -> None:
    record(session=session, actor=actor.username, action=action, object_type="user",
           object_id=username, details=details)


def _existing(session: Session, username: str) -> User:
    user = users_repo.by_username(session=session, username=canonical_username(username),
                                  for_update=True)
    if user is None:
        raise UserError(f"no user named {canonical_username(username)!r}")
    return user


def _keep_an_admin(session: Session, user: User, change: str) -> None:
    """Refuse a change that would leave no enabled admin to manage users."""
    if (
        user.role == Role.ADMIN
        and not user.disabled
        and users_repo.count_enabled(session=session, role=Role.ADMIN) <= 1
    ):
        raise UserError(f"{user.username!r} is the last enabled admin and cannot be "
                        f"{change}; make another user admin first")


def create_user(
    *,
    engine: Engine,
    actor: Principal | None,
    username: str,
    role: str,
    password: str | None = None,
    email: str | None = None,
) -> Principal:
    """Create an account.

    Args:
        engine: the store.
        actor: who creates it; needs ``manage_users``.
        username: the sign-in name: 1–64 letters, digits or ``. _ - @`` (stored lower case).
        role: one of the :class:`Role` values.
        password: the initial password (policy-checked), or ``None`` for an account that
            signs in only through single sign-on until a password is set.
        email: address for single sign-on, unique among users.

    Raises:
        PermissionDenied: ``actor`` may not manage users.
        UserError: invalid or taken name or e-mail, unknown role.
        PasswordPolicyError: the password breaks the policy.
    """
    admin = require(actor, Action.MANAGE_USERS)
    name = validate_username(username)
    new_role = parse_role(role)
    address = validate_email(email)
    password_hash = ""
    if password is not None:
        check_password_policy(password, username=name)
        password_hash = hash_password(password)  # slow: outside the write transaction
    try:
        with session_scope(engine, write=True) as session:
            if users_repo.by_username(session=session, username=name) is not None:
                raise UserError(f"a user named {name!r} already exists")
            if address and users_repo.by_email(session=session, email=address) is not None:
                raise UserError(f"another user has the e-mail address {address!r}")
            users_repo.create(session=session, username=name, role=new_role,
                              password_hash=password_hash, email=address)
            _audit(session, admin, "create_user", name, role=new_role.value, email=address,
                   has_password=bool(password_hash))
    except IntegrityError as exc:  # a concurrent create won the race
        raise UserError(f"a user named {name!r} or with that e-mail already exists") from exc
    return Principal(username=name, role=new_role)


def set_role(*, engine: Engine, actor: Principal | None, username: str, role: str) -> Principal:
    """Give a user another role; it applies from the user's next page run.

    Raises:
        PermissionDenied: ``actor`` may not manage users.
        UserError: no such user, unknown role, or the last enabled admin would be demoted.
    """
    admin = require(actor, Action.MANAGE_USERS)
    new_role = parse_role(role)
    with session_scope(engine, write=True) as session:
        user = _existing(session, username)
        old_role = Role(user.role)
        if old_role != new_role:
            if old_role == Role.ADMIN:
                _keep_an_admin(session, user, f"made {new_role.value}")
            user.role = new_role.value
            _audit(session, admin, "set_role", user.username, old=old_role.value,
                   new=new_role.value)
        return Principal(username=user.username, role=new_role)


def disable_user(*, engine: Engine, actor: Principal | None, username: str) -> None:
    """Stop a user from signing in; open sessions end at their next page run, for good.

    Raises:
        PermissionDenied: ``actor`` may not manage users.
        UserError: no such user, or it is the last enabled admin.
    """
    admin = require(actor, Action.MANAGE_USERS)
    with session_scope(engine, write=True) as session:
        user = _existing(session, username)
        if not user.disabled:
            _keep_an_admin(session, user, "disabled")
            user.disabled = True
            # For good: enabling the account again does not bring old sessions back.
            user.sessions_valid_after = utcnow()
            _audit(session, admin, "disable_user", user.username)


def enable_user(*, engine: Engine, actor: Principal | None, username: str) -> None:
    """Let a disabled user sign in again; also lifts a lock-out.

    Raises:
        PermissionDenied: ``actor`` may not manage users.
        UserError: no such user.
    """
    admin = require(actor, Action.MANAGE_USERS)
    with session_scope(engine, write=True) as session:
        user = _existing(session, username)
        if user.disabled or user.locked_until is not None or user.failed_attempts:
            was_disabled = user.disabled
            user.disabled, user.failed_attempts, user.locked_until = False, 0, None
            _audit(session, admin, "enable_user", user.username, was_disabled=was_disabled)


def set_password(
    *, engine: Engine, actor: Principal | None, username: str, password: str
) -> None:
    """Set a user's password (an admin reset); also lifts a lock-out and ends every session
    of the user.

    Raises:
        PermissionDenied: ``actor`` may not manage users.
        UserError: no such user.
        PasswordPolicyError: the password breaks the policy.
    """
    admin = require(actor, Action.MANAGE_USERS)
    name = canonical_username(username)
    check_password_policy(password, username=name)
    password_hash = hash_password(password)
    with session_scope(engine, write=True) as session:
        user = _existing(session, name)
        user.password_hash, user.failed_attempts, user.locked_until = password_hash, 0, None
        user.sessions_valid_after = utcnow()  # every session of the old password ends
        _audit(session, admin, "set_password", user.username)


def change_own_password(
    *,
    engine: Engine,
    actor: Principal | None,
    current_password: str,
    new_password: str,
    now: datetime | None = None,
    settings: Settings | None = None,
) -> None:
    """Let a signed-in user change their own password (no ``manage_users`` needed); every
    session of the user ends, the current one included.

    A wrong current password counts as a failed sign-in (the same counter and lock-out,
    ``settings.signin_max_failures`` and ``signin_lockout_seconds``) and is audited as
    ``change_password_failed``; while the account is locked the change is refused.

    Raises:
        PermissionDenied: nobody is signed in.
        UserError: the current password is wrong, the account is locked, or it has no row
            (``cli``).
        PasswordPolicyError: the new password breaks the policy (checked first; it counts
            as no attempt).
    """
    if actor is None:
        raise PermissionDenied("sign in first: only signed-in users may change a password")
    check_password_policy(new_password, username=actor.username)
    with session_scope(engine) as session:
        user = users_repo.by_username(session=session, username=actor.username)
        stored = user.password_hash if user is not None else ""
    if user is None:
        raise UserError(f"{actor.username!r} has no account whose password could change")
    # The slow checks run outside the write transaction, as for sign-in.
    candidate = current_password if len(current_password) <= MAX_PASSWORD_LENGTH else ""
    password_ok = bool(stored and candidate) and verify_password(candidate, stored)
    password_hash = hash_password(new_password) if password_ok else ""
    with session_scope(engine, write=True) as session:
        refusal = check_current_password(
            session=session, username=actor.username, stored_hash=stored,
            password_ok=password_ok, now=now or utcnow(), settings=settings or get_settings())
        if refusal is None:
            user = _existing(session, actor.username)
            user.password_hash = password_hash
            user.sessions_valid_after = utcnow()  # this session too: sign in with the new one
            _audit(session, actor, "change_password", user.username)
    if refusal is not None:  # raised after the commit: the count and its entry stay
        raise UserError(refusal)


def end_sessions(*, engine: Engine, actor: Principal | None, username: str) -> None:
    """End every sign-in session of ``username`` on every device ("sign out everywhere").

    Anyone signed in may end their own sessions (the current one included); ending
    somebody else's needs ``manage_users``. The account itself stays as it is.

    Raises:
        PermissionDenied: nobody is signed in, or another user's sessions without
            ``manage_users``.
        UserError: no such user.
    """
    if actor is None:
        raise PermissionDenied("sign in first: only signed-in users may end sessions")
    name = canonical_username(username)
    if name != actor.username:
        require(actor, Action.MANAGE_USERS)
    with session_scope(engine, write=True) as session:
        user = _existing(session, name)
        user.sessions_valid_after = utcnow()
        _audit(session, actor, "end_sessions", user.username)


def list_users(*, engine: Engine, actor: Principal | None) -> list[UserInfo]:
    """Every account, by name.

    Raises:
        PermissionDenied: ``actor`` may not open the users page (admins only).
    """
    require(actor, View.USERS)
    with session_scope(engine) as session:
        return [_info(user) for user in users_repo.list_all(session=session)]


def get_principal(*, engine: Engine, username: str) -> Principal | None:
    """Who ``username`` is now, or ``None`` if there is no such user or it is disabled.

    The dashboard calls this on every page run with the name from the sign-in cookie, so a
    role change or a disabled account takes effect at once.
    """
    with session_scope(engine) as session:
        user = users_repo.by_username(session=session, username=canonical_username(username))
        if user is None or user.disabled:
            return None
        return Principal(username=user.username, role=Role(user.role))


def is_disabled(*, engine: Engine, username: str) -> bool:
    """Whether ``username`` has an account and it is disabled (no account: ``False``)."""
    with session_scope(engine) as session:
        user = users_repo.by_username(session=session, username=canonical_username(username))
        return user is not None and bool(user.disabled)


def principal_for_email(*, engine: Engine, email: str) -> Principal | None:
    """The enabled user with this e-mail address, or ``None`` (single sign-on look-up).

    The identity provider must have verified the address; the role is the local one.
    """
    address = canonical_email(email)
    if not address:
        return None
    with session_scope(engine) as session:
        user = users_repo.by_email(session=session, email=address)
        if user is None or user.disabled:
            return None
        return Principal(username=user.username, role=Role(user.role))

