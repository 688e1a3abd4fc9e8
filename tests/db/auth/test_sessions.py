"""Sign-in sessions end for good: signed out (every copy of the cookie), or ended by a
password reset or change, or a disabled account."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select

from db.models import AuditLog, RevokedSession
from db.session import session_scope
from services.access import SYSTEM, PermissionDenied, Principal, Role
from services.auth.sessions import end_session, session_principal
from services.auth.tokens import SessionToken, issue_token, read_token_claims
from services.auth.users import (
    UserError,
    change_own_password,
    create_user,
    disable_user,
    enable_user,
    end_sessions,
    set_password,
    set_role,
)

SECRET = "session-test-secret-" + "x" * 32
PASSWORD = "amber-kettle-41"
ANN = Principal(username="ann", role=Role.OPERATOR)


@pytest.fixture
def ann(engine: Engine) -> None:
    create_user(engine=engine, actor=SYSTEM, username="ann", role=Role.OPERATOR,
                password=PASSWORD)


def _session(username: str = "ann", ttl: float = 600) -> SessionToken:
    claims = read_token_claims(issue_token(username=username, secret=SECRET, ttl_seconds=ttl),
                               secret=SECRET)
    assert claims is not None
    return claims


def _actions(engine: Engine) -> list[tuple[str, str]]:
    with session_scope(engine) as session:
        entries = session.scalars(select(AuditLog).order_by(AuditLog.id))
        return [(a.actor, a.action) for a in entries]


def test_a_live_session_signs_its_user_in_with_the_current_role(engine: Engine, ann: None) -> None:
    token = _session()
    assert session_principal(engine=engine, token=token) == ANN
    set_role(engine=engine, actor=SYSTEM, username="ann", role=Role.ANALYST)
    assert session_principal(engine=engine, token=token) == Principal("ann", Role.ANALYST)


def test_signing_out_ends_the_session_for_every_copy_and_only_that_one(
        engine: Engine, ann: None) -> None:
    laptop, phone = _session(), _session()
    assert end_session(engine=engine, token=laptop) == ANN
    copied = SessionToken(**vars(laptop))  # the same cookie, used from elsewhere
    assert session_principal(engine=engine, token=copied) is None
    assert session_principal(engine=engine, token=phone) == ANN
    assert ("ann", "sign_out") in _actions(engine)


def test_signing_out_twice_audits_once_and_keeps_one_revocation(
        engine: Engine, ann: None) -> None:
    token = _session()
    end_session(engine=engine, token=token)
    assert end_session(engine=engine, token=token) is None
    assert _actions(engine).count(("ann", "sign_out")) == 1
    with session_scope(engine) as session:
        assert session.scalars(select(RevokedSession.nonce)).all() == [token.nonce]


def test_revocations_are_kept_until_the_token_would_have_expired(
        engine: Engine, ann: None) -> None:
    old = _session()
    end_session(engine=engine, token=old)
    with session_scope(engine, write=True) as session:  # as if it had expired an hour ago
        session.get(RevokedSession, old.nonce).expires_at = (  # type: ignore[union-attr]
            datetime.now(UTC) - timedelta(hours=1))
    live = _session()
    end_session(engine=engine, token=live)
    with session_scope(engine) as session:
        assert session.scalars(select(RevokedSession.nonce)).all() == [live.nonce]
        expires = session.get(RevokedSession, live.nonce).expires_at  # type: ignore[union-attr]
    assert expires == datetime.fromtimestamp(live.expires_at, UTC)


def test_a_password_reset_ends_every_earlier_session(engine: Engine, ann: None) -> None:
    before = _session()
    time.sleep(0.01)
    set_password(engine=engine, actor=SYSTEM, username="ann", password="a-new-password-2")
    time.sleep(0.01)
    after = _session()
    assert session_principal(engine=engine, token=before) is None
    assert session_principal(engine=engine, token=after) == ANN


def test_changing_ones_own_password_ends_every_session_of_the_user(
        engine: Engine, ann: None) -> None:
    current = _session()
    time.sleep(0.01)
    change_own_password(engine=engine, actor=ANN, current_password=PASSWORD,
                        new_password="a-new-password-2")
    assert session_principal(engine=engine, token=current) is None


def test_a_disabled_account_does_not_get_its_old_sessions_back(
        engine: Engine, ann: None) -> None:
    token = _session()
    time.sleep(0.01)
    disable_user(engine=engine, actor=SYSTEM, username="ann")
    assert session_principal(engine=engine, token=token) is None
    enable_user(engine=engine, actor=SYSTEM, username="ann")
    assert session_principal(engine=engine, token=token) is None
    time.sleep(0.01)
    assert session_principal(engine=engine, token=_session()) == ANN


def test_a_session_of_an_unknown_or_disabled_user_is_nobody(engine: Engine, ann: None) -> None:
    assert session_principal(engine=engine, token=_session("nobody")) is None
    token = _session()
    disable_user(engine=engine, actor=SYSTEM, username="ann")
    assert end_session(engine=engine, token=token) is None
    assert [a for a in _actions(engine) if a[1] == "sign_out"] == []


def test_anyone_may_sign_themselves_out_everywhere(engine: Engine, ann: None) -> None:
    laptop, phone = _session(), _session()
    time.sleep(0.01)
    end_sessions(engine=engine, actor=ANN, username="ANN")
    assert session_principal(engine=engine, token=laptop) is None
    assert session_principal(engine=engine, token=phone) is None
    time.sleep(0.01)
    assert session_principal(engine=engine, token=_session()) == ANN  # may sign in again
    assert _actions(engine)[-1] == ("ann", "end_sessions")


def test_only_an_admin_ends_somebody_elses_sessions(engine: Engine, ann: None) -> None:
    token = _session()
    create_user(engine=engine, actor=SYSTEM, username="bob", role=Role.OPERATOR,
                password="brass-lantern-7")
    bob = Principal(username="bob", role=Role.OPERATOR)
    with pytest.raises(PermissionDenied):
        end_sessions(engine=engine, actor=bob, username="ann")
    with pytest.raises(PermissionDenied):
        end_sessions(engine=engine, actor=None, username="ann")
    assert session_principal(engine=engine, token=token) == ANN
    time.sleep(0.01)
    end_sessions(engine=engine, actor=SYSTEM, username="ann")
    assert session_principal(engine=engine, token=token) is None
    with pytest.raises(UserError, match="no user named 'nobody'"):
        end_sessions(engine=engine, actor=SYSTEM, username="nobody")
