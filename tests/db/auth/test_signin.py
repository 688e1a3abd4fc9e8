"""Signing in: the lock-out, messages that name no account, and the audit trail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select

from db.models import AuditLog, User
from db.session import session_scope
from services.access import SYSTEM, Principal, Role
from services.auth import signin as signin_module
from services.auth.signin import WRONG_CREDENTIALS
from services.auth.users import (
    SignInError,
    authenticate,
    create_user,
    disable_user,
    get_principal,
    principal_for_email,
    record_sign_out,
    set_role,
    sign_in_with_email,
)
from services.settings import Settings

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
PASSWORD = "linen-harbour-3"


@pytest.fixture
def strict(settings: Settings) -> Settings:
    """Lock after 3 failures for 5 minutes."""
    return settings.replace(signin_max_failures=3, signin_lockout_seconds=300)


@pytest.fixture
def lena(engine: Engine) -> Principal:
    return create_user(engine=engine, actor=SYSTEM, username="lena", role="labeler",
                       password=PASSWORD, email="lena@example.org")


def _sign_in(engine: Engine, settings: Settings, password: str, *, username: str = "lena",
             at: datetime = T0) -> Principal:
    return authenticate(engine=engine, username=username, password=password, now=at,
                        settings=settings)


def _failure(engine: Engine, settings: Settings, password: str, **kwargs: Any) -> str:
    with pytest.raises(SignInError) as failed:
        _sign_in(engine, settings, password, **kwargs)
    return str(failed.value)


def _user(engine: Engine, name: str = "lena") -> User:
    with session_scope(engine) as session:
        user = session.scalar(select(User).where(User.username == name))
        assert user is not None
        return user


def _sign_in_audit(engine: Engine) -> list[tuple[str, str, dict[str, Any]]]:
    with session_scope(engine) as session:
        rows = session.scalars(select(AuditLog).where(AuditLog.action.like("sign_%"))
                               .order_by(AuditLog.id))
        return [(r.actor, r.action, dict(r.details)) for r in rows]


def test_the_right_password_signs_in_with_the_users_role(
    engine: Engine, strict: Settings, lena: Principal
) -> None:
    assert _sign_in(engine, strict, PASSWORD) == Principal(username="lena", role=Role.LABELER)
    assert _sign_in_audit(engine) == [("lena", "sign_in", {"method": "password"})]


def test_user_names_are_not_case_sensitive(
    engine: Engine, strict: Settings, lena: Principal
) -> None:
    assert _sign_in(engine, strict, PASSWORD, username="  Lena ").username == "lena"


def test_a_success_resets_the_failure_count(
    engine: Engine, strict: Settings, lena: Principal
) -> None:
    _failure(engine, strict, "wrong-1")
    _failure(engine, strict, "wrong-2")
    assert _user(engine).failed_attempts == 2
    _sign_in(engine, strict, PASSWORD)
    assert _user(engine).failed_attempts == 0
    _failure(engine, strict, "wrong-3")
    _failure(engine, strict, "wrong-4")
    _sign_in(engine, strict, PASSWORD)  # two more failures did not lock after the reset


def test_too_many_failures_lock_the_account_until_the_lockout_ends(
    engine: Engine, strict: Settings, lena: Principal
) -> None:
    for i in range(3):
        assert _failure(engine, strict, f"wrong-{i}", at=T0 + timedelta(seconds=i)) == (
            WRONG_CREDENTIALS)
    locked_until = _user(engine).locked_until
    assert locked_until == T0 + timedelta(seconds=2 + 300)
    # Locked: even the right password is refused, and the message says for how long.
    message = _failure(engine, strict, PASSWORD, at=T0 + timedelta(seconds=10))
    assert message == "too many failed attempts; try again in 5 minutes"
    assert _failure(engine, strict, PASSWORD, at=locked_until - timedelta(seconds=30)) == (
        "too many failed attempts; try again in 1 minute")
    assert _sign_in(engine, strict, PASSWORD, at=locked_until).username == "lena"
    user = _user(engine)
    assert (user.failed_attempts, user.locked_until) == (0, None)


def test_after_a_lockout_ends_a_new_series_of_failures_is_counted(
    engine: Engine, strict: Settings, lena: Principal
) -> None:
    for _ in range(3):
        _failure(engine, strict, "wrong")
    later = T0 + timedelta(seconds=301)
    assert _failure(engine, strict, "wrong", at=later) == WRONG_CREDENTIALS
    assert _user(engine).failed_attempts == 1
    assert _sign_in(engine, strict, PASSWORD, at=later).username == "lena"


def test_an_unknown_user_gets_the_wrong_password_message_and_the_same_work(
    engine: Engine, strict: Settings, lena: Principal, monkeypatch: pytest.MonkeyPatch
) -> None:
    checks: list[str] = []
    real_verify = signin_module.verify_password

    def counting_verify(password: str, encoded: str) -> bool:
        checks.append(encoded)
        return real_verify(password, encoded)

    monkeypatch.setattr(signin_module, "verify_password", counting_verify)
    wrong_password = _failure(engine, strict, "wrong")
    unknown_user = _failure(engine, strict, PASSWORD, username="lenna")
    assert wrong_password == unknown_user == WRONG_CREDENTIALS
    assert len(checks) == 2  # one full scrypt check each, the unknown one on a dummy hash
    assert all(encoded.startswith("scrypt$16384$8$1$") for encoded in checks)


def test_unknown_user_names_lock_out_like_real_ones(
    engine: Engine, strict: Settings, lena: Principal
) -> None:
    def series(username: str) -> list[str]:
        return [_failure(engine, strict, "wrong", username=username,
                         at=T0 + timedelta(seconds=i)) for i in range(5)]

    assert series("lena") == series("nobody")
    later = T0 + timedelta(seconds=4 + 301)
    assert _failure(engine, strict, "wrong", username="nobody", at=later) == WRONG_CREDENTIALS


def test_a_disabled_account_cannot_sign_in(
    engine: Engine, strict: Settings, lena: Principal
) -> None:
    disable_user(engine=engine, actor=SYSTEM, username="lena")
    assert _failure(engine, strict, "wrong") == WRONG_CREDENTIALS
    assert _failure(engine, strict, PASSWORD) == (
        "this account is disabled; ask an admin to enable it")
    reasons = [d["reason"] for _, action, d in _sign_in_audit(engine)]
    assert reasons == ["disabled", "disabled"]


def test_an_account_without_a_password_cannot_sign_in_with_one(
    engine: Engine, strict: Settings
) -> None:
    create_user(engine=engine, actor=SYSTEM, username="sso", role="analyst",
                email="sso@example.org")
    assert _failure(engine, strict, "", username="sso") == WRONG_CREDENTIALS
    assert _failure(engine, strict, "anything-long", username="sso") == WRONG_CREDENTIALS


def test_every_attempt_is_audited_with_its_reason(
    engine: Engine, strict: Settings, lena: Principal
) -> None:
    _sign_in(engine, strict, PASSWORD)
    _failure(engine, strict, "wrong", username="ghost")
    for _ in range(3):
        _failure(engine, strict, "wrong")
    _failure(engine, strict, PASSWORD)
    disable_user(engine=engine, actor=SYSTEM, username="lena")
    _failure(engine, strict, PASSWORD, at=T0 + timedelta(hours=1))
    rows = _sign_in_audit(engine)
    assert [(actor, action, d.get("reason")) for actor, action, d in rows] == [
        ("lena", "sign_in", None),
        ("ghost", "sign_in_failed", "unknown_user"),
        ("lena", "sign_in_failed", "wrong_password"),
        ("lena", "sign_in_failed", "wrong_password"),
        ("lena", "sign_in_failed", "wrong_password"),
        ("lena", "sign_in_failed", "locked"),
        ("lena", "sign_in_failed", "disabled"),
    ]
    assert rows[4][2]["locked_until"] == (T0 + timedelta(seconds=300)).isoformat()
    assert all(PASSWORD not in repr(details) for _, _, details in rows)


def test_the_principal_follows_role_changes_and_disabling_at_once(
    engine: Engine, lena: Principal
) -> None:
    assert get_principal(engine=engine, username="lena") == lena
    set_role(engine=engine, actor=SYSTEM, username="lena", role="analyst")
    assert get_principal(engine=engine, username="lena") == Principal("lena", Role.ANALYST)
    disable_user(engine=engine, actor=SYSTEM, username="lena")
    assert get_principal(engine=engine, username="lena") is None
    assert get_principal(engine=engine, username="nobody") is None


def test_single_sign_on_finds_the_local_role_by_email(engine: Engine, lena: Principal) -> None:
    assert principal_for_email(engine=engine, email="Lena@Example.org") == lena
    assert principal_for_email(engine=engine, email="other@example.org") is None
    assert principal_for_email(engine=engine, email="") is None
    assert sign_in_with_email(engine=engine, email="lena@example.org", now=T0) == lena
    with pytest.raises(SignInError, match="no account has the e-mail address"):
        sign_in_with_email(engine=engine, email="other@example.org", now=T0)
    disable_user(engine=engine, actor=SYSTEM, username="lena")
    assert principal_for_email(engine=engine, email="lena@example.org") is None
    with pytest.raises(SignInError, match="disabled"):
        sign_in_with_email(engine=engine, email="lena@example.org", now=T0)
    assert [(a, act, d.get("reason")) for a, act, d in _sign_in_audit(engine)] == [
        ("lena", "sign_in", None),
        ("other@example.org", "sign_in_failed", "unknown_user"),
        ("lena", "sign_in_failed", "disabled"),
    ]


def test_signing_out_is_audited(engine: Engine, lena: Principal) -> None:
    record_sign_out(engine=engine, actor=lena)
    assert _sign_in_audit(engine) == [("lena", "sign_out", {})]
