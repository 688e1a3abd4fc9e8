"""Changing one's own password: wrong current passwords count like failed sign-ins, on the
same counter and lock-out, and each is audited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select

from db.models import AuditLog
from db.session import session_scope
from services.access import SYSTEM, Principal, Role
from services.auth.signin import SignInError, authenticate
from services.auth.users import UserError, change_own_password, create_user
from services.settings import Settings

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
PASSWORD = "amber-kettle-41"
NEW = "quiet-meadow-88"
ANN = Principal(username="ann", role=Role.OPERATOR)


@pytest.fixture
def ann(engine: Engine) -> None:
    create_user(engine=engine, actor=SYSTEM, username="ann", role=Role.OPERATOR,
                password=PASSWORD)


@pytest.fixture
def strict(settings: Settings) -> Settings:
    """Lock after 3 failures for 5 minutes."""
    return settings.replace(signin_max_failures=3, signin_lockout_seconds=300)


def _change(engine: Engine, settings: Settings, current: str, *, at: datetime = T0,
            new: str = NEW) -> None:
    change_own_password(engine=engine, actor=ANN, current_password=current, new_password=new,
                        now=at, settings=settings)


def _refused(engine: Engine, settings: Settings, current: str, **kwargs: Any) -> str:
    with pytest.raises(UserError) as refused:
        _change(engine, settings, current, **kwargs)
    return str(refused.value)


def _signs_in(engine: Engine, settings: Settings, password: str, at: datetime) -> bool:
    try:
        authenticate(engine=engine, username="ann", password=password, now=at,
                     settings=settings)
    except SignInError:
        return False
    return True


def _audit(engine: Engine) -> list[tuple[str, str, dict[str, Any]]]:
    with session_scope(engine) as session:
        rows = session.scalars(select(AuditLog).where(AuditLog.actor == "ann")
                               .order_by(AuditLog.id))
        return [(r.actor, r.action, dict(r.details)) for r in rows]


def test_twelve_wrong_guesses_lock_the_account_and_the_right_one_is_then_refused(
    engine: Engine, settings: Settings, ann: None
) -> None:
    # The defaults: 5 failures lock for 300 s.
    messages = [_refused(engine, settings, f"guess-number-{i}") for i in range(12)]
    assert messages[:5] == ["the current password is wrong"] * 5
    assert messages[5:] == ["too many failed attempts; try again in 5 minutes"] * 7
    assert _refused(engine, settings, PASSWORD) == (
        "too many failed attempts; try again in 5 minutes")
    later = T0 + timedelta(seconds=301)
    assert not _signs_in(engine, settings, NEW, later)  # the password never changed
    assert _signs_in(engine, settings, PASSWORD, later)


def test_each_failure_is_audited_like_a_failed_sign_in(
    engine: Engine, strict: Settings, ann: None
) -> None:
    for _ in range(4):
        _refused(engine, strict, "not-the-password")
    locked_until = (T0 + timedelta(seconds=300)).isoformat()
    assert [entry for entry in _audit(engine) if entry[1] != "create_user"] == [
        ("ann", "change_password_failed", {"reason": "wrong_password", "failed_attempts": 1}),
        ("ann", "change_password_failed", {"reason": "wrong_password", "failed_attempts": 2}),
        ("ann", "change_password_failed", {"reason": "wrong_password", "failed_attempts": 3,
                                           "locked_until": locked_until}),
        ("ann", "change_password_failed", {"reason": "locked", "failed_attempts": 3,
                                           "locked_until": locked_until}),
    ]


def test_sign_in_and_password_change_share_one_counter(
    engine: Engine, strict: Settings, ann: None
) -> None:
    assert not _signs_in(engine, strict, "not-the-password", T0)
    assert not _signs_in(engine, strict, "not-the-password", T0)
    assert _refused(engine, strict, "not-the-password") == "the current password is wrong"
    # The third failure, made on the Account page, locks sign-in too.
    assert not _signs_in(engine, strict, PASSWORD, T0)
    with pytest.raises(SignInError) as locked:
        authenticate(engine=engine, username="ann", password=PASSWORD, now=T0,
                     settings=strict)
    assert locked.value.code == "locked"


def test_a_lock_from_sign_in_refuses_a_change_with_the_right_password(
    engine: Engine, strict: Settings, ann: None
) -> None:
    for _ in range(3):
        assert not _signs_in(engine, strict, "not-the-password", T0)
    assert "too many failed attempts" in _refused(engine, strict, PASSWORD)
    _change(engine, strict, PASSWORD, at=T0 + timedelta(seconds=301))  # the lock ran out
    assert _signs_in(engine, strict, NEW, T0 + timedelta(seconds=302))


def test_the_right_current_password_resets_the_count(
    engine: Engine, strict: Settings, ann: None
) -> None:
    _refused(engine, strict, "not-the-password")
    _refused(engine, strict, "not-the-password")
    _change(engine, strict, PASSWORD)
    assert _audit(engine)[-1][:2] == ("ann", "change_password")
    # Two more failures do not lock: the count started again.
    assert not _signs_in(engine, strict, "not-the-password", T0)
    assert not _signs_in(engine, strict, "not-the-password", T0)
    assert _signs_in(engine, strict, NEW, T0)


def test_a_weak_new_password_is_refused_without_counting(
    engine: Engine, strict: Settings, ann: None
) -> None:
    for _ in range(5):
        with pytest.raises(ValueError, match="common passwords"):
            _change(engine, strict, PASSWORD, new="password12")
    assert _signs_in(engine, strict, PASSWORD, T0)
