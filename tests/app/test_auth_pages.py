"""Passwords set on the Users and Account pages meet the policy, the Account page's
password change counts wrong current passwords like failed sign-ins, and the sign-in page
says when a client address has failed too often."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from services.access import SYSTEM, Role
from services.audit import query_audit
from services.auth.signin import SignInError, authenticate
from services.auth.users import list_users
from services.settings import Settings
from tests.app.conftest import PASSWORD


def _add(at: AppTest, name: str, password: str) -> AppTest:
    inputs = {t.label: t for t in at.text_input}
    inputs["User name"].input(name)
    inputs["Initial password (leave empty for single sign-on only)"].input(password)
    next(s for s in at.selectbox if s.label == "Role").select("analyst")
    return next(b for b in at.button if b.label == "Add user").click().run()


@pytest.mark.parametrize(
    ("password", "reason"),
    [("password12", "most common passwords"), ("1234567890", "straight run"),
     ("aaaaaaaaaa", "repeated"), ("nina-the-analyst", "user name")],
)
def test_the_users_page_refuses_a_weak_password_and_says_why(
    app: Callable[..., AppTest], engine: Engine, password: str, reason: str
) -> None:
    at = app(as_role=Role.ADMIN).switch_page("pages/users.py").run()
    before = list_users(engine=engine, actor=SYSTEM)
    at = _add(at, "nina", password)
    assert not at.exception
    (error,) = at.error
    assert error.value.startswith("Not changed:")
    assert reason in error.value
    assert "password manager" in error.value  # and what to do instead
    assert list_users(engine=engine, actor=SYSTEM) == before


def _change(at: AppTest, current: str, new: str) -> AppTest:
    inputs = {t.label: t for t in at.text_input}
    inputs["Current password"].input(current)
    inputs["New password"].input(new)
    inputs["New password again"].input(new)
    return next(b for b in at.button if b.label == "Change password").click().run()


def _account(app: Callable[..., AppTest], **env: str) -> AppTest:
    at = app(as_role=Role.ANALYST, **env).switch_page("pages/account.py").run()
    assert not at.exception
    return at


def test_the_account_page_refuses_a_weak_new_password(
    app: Callable[..., AppTest], engine: Engine, settings: Settings
) -> None:
    at = _change(_account(app), PASSWORD, "qwertyuiop")
    assert not at.exception
    (error,) = at.error
    assert "straight run" in error.value
    assert not at.success
    assert authenticate(engine=engine, username="analyst-user", password=PASSWORD,
                        settings=settings).username == "analyst-user"


def test_wrong_current_passwords_lock_the_change_as_sign_in_does(
    app: Callable[..., AppTest], engine: Engine, settings: Settings
) -> None:
    at = _account(app, signin_max_failures="3")
    for guess in ("guess-one-x", "guess-two-x", "guess-three"):
        at = _change(at, guess, "a fresh strong phrase")
        assert [e.value for e in at.error] == ["Not changed: the current password is wrong."]
    at = _change(at, PASSWORD, "a fresh strong phrase")  # right, but the account is locked
    assert [e.value for e in at.error] == [
        "Not changed: too many failed attempts; try again in 5 minutes."]
    assert not at.success
    failures = query_audit(engine=engine, actor=SYSTEM, action="change_password_failed")
    assert [e.details["reason"] for e in reversed(failures)] == [
        "wrong_password", "wrong_password", "wrong_password", "locked"]
    with pytest.raises(SignInError) as locked:  # sign-in shares the lock
        authenticate(engine=engine, username="analyst-user", password=PASSWORD,
                     settings=settings)
    assert locked.value.code == "locked"


def test_the_sign_in_page_says_when_this_address_has_failed_too_often(
    app: Callable[..., AppTest],
) -> None:
    at = app(as_role=None, signin_client_window_seconds="600")
    at.query_params["signin"] = "throttled"
    at = at.run()
    assert not at.exception
    assert [e.value for e in at.error] == [
        "Too many failed sign-ins from your network address: sign-in from it is paused for "
        "up to 10 minutes. Wait, then try again."]
