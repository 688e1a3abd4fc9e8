"""Managing accounts: validation, the last admin, audit entries in the same transaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from db.models import AuditLog, User
from db.session import session_scope
from services.access import CLI, SYSTEM, PermissionDenied, Principal, Role
from services.auth import users as users_module
from services.auth.passwords import PasswordPolicyError
from services.auth.users import (
    SignInError,
    UserError,
    authenticate,
    change_own_password,
    create_user,
    disable_user,
    enable_user,
    list_users,
    set_password,
    set_role,
)
from services.settings import Settings

PASSWORD = "first-password-1"
ADA = Principal(username="ada", role=Role.ADMIN)


def _audit(engine: Engine) -> list[tuple[str, str, str, dict[str, Any]]]:
    with session_scope(engine) as session:
        rows = session.scalars(select(AuditLog).order_by(AuditLog.id))
        return [(r.actor, r.action, r.object_id, dict(r.details)) for r in rows]


def _user(engine: Engine, name: str) -> User:
    with session_scope(engine) as session:
        user = session.scalar(select(User).where(User.username == name))
        assert user is not None
        return user


@pytest.fixture
def ada(engine: Engine) -> Principal:
    return create_user(engine=engine, actor=CLI, username="ada", role="admin", password=PASSWORD)


def test_creating_a_user_stores_a_hash_and_audits_without_secrets(engine: Engine) -> None:
    created = create_user(engine=engine, actor=CLI, username="Grace.Hopper", role="Operator",
                          password=PASSWORD, email=" Grace@Example.org ")
    assert created == Principal(username="grace.hopper", role=Role.OPERATOR)
    user = _user(engine, "grace.hopper")
    assert user.password_hash.startswith("scrypt$")
    assert user.email == "grace@example.org"
    assert _audit(engine) == [("cli", "create_user", "grace.hopper", {
        "role": "operator", "email": "grace@example.org", "has_password": True})]
    assert PASSWORD not in repr(_audit(engine))


@pytest.mark.parametrize(
    ("username", "reason"),
    [
        ("", "1 to 64 characters"),
        ("x" * 65, "1 to 64 characters"),
        ("ann smith", "letters, digits"),
        ("ann;drop", "letters, digits"),
        ("-rf", "start with a letter or digit"),
        ("System", "reserved"),
        ("cli", "reserved"),
        ("retrain-pipeline", "reserved"),
    ],
)
def test_bad_user_names_are_refused(engine: Engine, username: str, reason: str) -> None:
    with pytest.raises(UserError, match=reason):
        create_user(engine=engine, actor=CLI, username=username, role="analyst")


def test_names_and_emails_are_unique_ignoring_case(engine: Engine, ada: Principal) -> None:
    create_user(engine=engine, actor=ada, username="ann", role="analyst", email="a@x.org")
    with pytest.raises(UserError, match="a user named 'ann' already exists"):
        create_user(engine=engine, actor=ada, username="ANN", role="labeler")
    with pytest.raises(UserError, match=r"another user has the e-mail address 'a@x\.org'"):
        create_user(engine=engine, actor=ada, username="bea", role="labeler", email="A@X.org")


def test_unknown_roles_bad_emails_and_weak_passwords_are_refused(engine: Engine) -> None:
    with pytest.raises(UserError, match="unknown role 'root': choose one of admin, operator"):
        create_user(engine=engine, actor=CLI, username="ann", role="root")
    with pytest.raises(UserError, match="not an e-mail address"):
        create_user(engine=engine, actor=CLI, username="ann", role="analyst", email="ann")
    with pytest.raises(PasswordPolicyError, match="at least 10 characters"):
        create_user(engine=engine, actor=CLI, username="ann", role="analyst", password="short")
    assert _audit(engine) == []


def test_a_user_without_password_is_for_single_sign_on(engine: Engine) -> None:
    create_user(engine=engine, actor=CLI, username="sso", role="analyst", email="s@x.org")
    assert _user(engine, "sso").password_hash == ""
    [info] = list_users(engine=engine, actor=CLI)
    assert not info.has_password


def test_the_last_enabled_admin_cannot_be_demoted_or_disabled(
    engine: Engine, ada: Principal
) -> None:
    with pytest.raises(UserError, match="'ada' is the last enabled admin"):
        set_role(engine=engine, actor=ada, username="ada", role="operator")
    with pytest.raises(UserError, match="'ada' is the last enabled admin"):
        disable_user(engine=engine, actor=ada, username="ada")
    create_user(engine=engine, actor=ada, username="bob", role="admin")
    disable_user(engine=engine, actor=ada, username="bob")
    with pytest.raises(UserError, match="last enabled admin"):
        set_role(engine=engine, actor=ada, username="ada", role="analyst")
    enable_user(engine=engine, actor=ada, username="bob")
    assert set_role(engine=engine, actor=ada, username="ada", role="analyst").role is Role.ANALYST


def test_changes_to_missing_users_name_them(engine: Engine) -> None:
    for change in (
        lambda: set_role(engine=engine, actor=CLI, username="ghost", role="admin"),
        lambda: disable_user(engine=engine, actor=CLI, username="ghost"),
        lambda: enable_user(engine=engine, actor=CLI, username="ghost"),
        lambda: set_password(engine=engine, actor=CLI, username="ghost", password=PASSWORD),
    ):
        with pytest.raises(UserError, match="no user named 'ghost'"):
            change()


def test_each_change_is_audited_with_before_and_after(engine: Engine, ada: Principal) -> None:
    create_user(engine=engine, actor=ada, username="ann", role="labeler")
    set_role(engine=engine, actor=ada, username="ann", role="analyst")
    set_role(engine=engine, actor=ada, username="ann", role="analyst")  # no change, no entry
    disable_user(engine=engine, actor=ada, username="ann")
    disable_user(engine=engine, actor=ada, username="ann")  # already disabled
    enable_user(engine=engine, actor=ada, username="ann")
    set_password(engine=engine, actor=ada, username="ann", password="amber-kettle-41")
    assert [(actor, action, details) for actor, action, _, details in _audit(engine)[1:]] == [
        ("ada", "create_user", {"role": "labeler", "email": None, "has_password": False}),
        ("ada", "set_role", {"old": "labeler", "new": "analyst"}),
        ("ada", "disable_user", {}),
        ("ada", "enable_user", {"was_disabled": True}),
        ("ada", "set_password", {}),
    ]


def test_a_new_password_and_enabling_both_lift_a_lockout(
    engine: Engine, settings: Settings, ada: Principal
) -> None:
    create_user(engine=engine, actor=ada, username="ann", role="analyst", password=PASSWORD)
    now = datetime(2026, 11, 24, tzinfo=UTC)
    for _ in range(5):
        with pytest.raises(SignInError):
            authenticate(engine=engine, username="ann", password="wrong", now=now,
                             settings=settings)
    assert _user(engine, "ann").locked_until is not None
    enable_user(engine=engine, actor=ada, username="ann")
    assert _user(engine, "ann").locked_until is None
    for _ in range(5):
        with pytest.raises(SignInError):
            authenticate(engine=engine, username="ann", password="wrong", now=now,
                             settings=settings)
    set_password(engine=engine, actor=ada, username="ann", password="second-password")
    user = _user(engine, "ann")
    assert (user.failed_attempts, user.locked_until) == (0, None)
    later = now + timedelta(seconds=1)
    signed_in = authenticate(engine=engine, username="ann", password="second-password",
                             now=later, settings=settings)
    assert signed_in.username == "ann"


def test_users_change_their_own_password_knowing_the_current_one(
    engine: Engine, settings: Settings, ada: Principal
) -> None:
    ann = create_user(engine=engine, actor=ada, username="ann", role="labeler", password=PASSWORD)
    with pytest.raises(UserError, match="current password is wrong"):
        change_own_password(engine=engine, actor=ann, current_password="nope",
                            new_password="quiet-meadow-88")
    with pytest.raises(PasswordPolicyError):
        change_own_password(engine=engine, actor=ann, current_password=PASSWORD,
                            new_password="short")
    with pytest.raises(PermissionDenied, match="sign in first"):
        change_own_password(engine=engine, actor=None, current_password=PASSWORD,
                            new_password="quiet-meadow-88")
    change_own_password(engine=engine, actor=ann, current_password=PASSWORD,
                        new_password="quiet-meadow-88")
    assert authenticate(engine=engine, username="ann", password="quiet-meadow-88",
                        settings=settings) == ann
    assert _audit(engine)[-2][:2] == ("ann", "change_password")


def test_the_user_list_shows_accounts_without_hashes(engine: Engine, ada: Principal) -> None:
    create_user(engine=engine, actor=ada, username="ann", role="labeler", password=PASSWORD,
                email="ann@x.org")
    infos = list_users(engine=engine, actor=ada)
    assert [(i.username, i.role, i.email, i.disabled, i.has_password) for i in infos] == [
        ("ada", Role.ADMIN, None, False, True),
        ("ann", Role.LABELER, "ann@x.org", False, True),
    ]
    assert "scrypt" not in repr(infos)


def test_a_change_is_not_committed_without_its_audit_entry(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_record(**_: Any) -> None:
        raise RuntimeError("audit store broken")

    monkeypatch.setattr(users_module, "record", failing_record)
    with pytest.raises(RuntimeError):
        create_user(engine=engine, actor=SYSTEM, username="ann", role="analyst")
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(User)) == 0
