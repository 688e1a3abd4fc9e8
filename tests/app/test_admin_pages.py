"""The users and audit pages do what an admin asks, refuse bad input in words, and record it."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from services.access import CLI, SYSTEM, Role
from services.audit import query_audit
from services.auth.sessions import session_principal
from services.auth.tokens import issue_token, read_token_claims
from services.auth.users import create_user, list_users


def _users(at: AppTest) -> AppTest:
    return at.switch_page("pages/users.py").run()


def _add(at: AppTest, name: str, role: str, password: str) -> AppTest:
    inputs = {t.label: t for t in at.text_input}
    inputs["User name"].input(name)
    inputs["Initial password (leave empty for single sign-on only)"].input(password)
    role_box = next(s for s in at.selectbox if s.label == "Role")
    role_box.select(role)
    return next(b for b in at.button if b.label == "Add user").click().run()


def test_an_admin_adds_a_user_and_the_change_is_audited(
    app: Callable[..., AppTest], engine: Engine
) -> None:
    at = _users(app(as_role=Role.ADMIN))
    at = _add(at, "Nina", "labeler", "a long enough password")
    assert not at.exception
    assert "User nina added as labeler." in at.success[0].value
    assert ("nina", Role.LABELER) in [(u.username, u.role)
                                      for u in list_users(engine=engine, actor=SYSTEM)]
    (entry,) = query_audit(engine=engine, actor=SYSTEM, action="create_user", who="admin-user")
    assert entry.object_id == "nina"


def test_a_refused_user_shows_the_reason_and_changes_nothing(
    app: Callable[..., AppTest], engine: Engine
) -> None:
    at = _users(app(as_role=Role.ADMIN))
    before = list_users(engine=engine, actor=SYSTEM)
    at = _add(at, "bad name!", "analyst", "a long enough password")
    assert not at.exception
    assert at.error[0].value.startswith("Not changed:")
    assert list_users(engine=engine, actor=SYSTEM) == before
    at = _add(at, "short", "analyst", "short")
    assert "Not changed:" in at.error[0].value
    assert "at least" in at.error[0].value
    assert list_users(engine=engine, actor=SYSTEM) == before


def test_the_audit_page_filters_by_actor_and_offers_the_export(
    app: Callable[..., AppTest], engine: Engine
) -> None:
    create_user(engine=engine, actor=SYSTEM, username="amy", role=Role.ANALYST,
                password="a long enough password")
    create_user(engine=engine, actor=CLI, username="bob", role=Role.ANALYST,
                password="a long enough password")
    at = app(as_role=Role.OPERATOR).switch_page("pages/audit.py").run()
    assert not at.exception
    actor = next(s for s in at.selectbox if s.label == "Actor")
    assert {"system", "cli"} <= set(actor.options)
    assert {"user amy", "user bob"} <= set(at.dataframe[0].value["Object"])

    actor.select("cli").run()
    assert list(at.dataframe[0].value["Object"]) == ["user bob"]
    next(b for b in at.button if b.label == "Prepare CSV export").click().run()
    (download,) = at.get("download_button")
    assert download.proto.label == "Download 1 entry (CSV)"


def test_signing_out_everywhere_ends_this_session_too(
    app: Callable[..., AppTest], engine: Engine
) -> None:
    at = app(as_role=Role.ANALYST).switch_page("pages/account.py").run()
    assert not at.exception
    at = next(b for b in at.button if b.label == "Sign out everywhere").click().run()
    assert not at.exception
    # The rerun finds this session ended: the page asks to sign in.
    assert [w.value for w in at.warning] == ["Sign in to see this page."]
    (entry,) = query_audit(engine=engine, actor=SYSTEM, action="end_sessions")
    assert (entry.actor, entry.object_id) == ("analyst-user", "analyst-user")


def test_an_admin_ends_another_users_sessions(
    cookie_secret: str,
    app: Callable[..., AppTest], engine: Engine
) -> None:
    token = issue_token(username="labeler-user", secret=cookie_secret, ttl_seconds=600)
    app(as_role=Role.LABELER)  # creates the account
    session = read_token_claims(token, secret=cookie_secret)
    assert session is not None
    assert session_principal(engine=engine, token=session) is not None
    at = _users(app(as_role=Role.ADMIN))
    next(s for s in at.selectbox if s.label == "User").select("labeler-user")
    at = next(b for b in at.run().button if b.label == "End sessions").click().run()
    assert not at.exception
    assert "Every session of labeler-user has ended." in at.success[0].value
    assert session_principal(engine=engine, token=session) is None
    assert not at.warning  # the admin's own session goes on
    assert "labeler-user" in at.dataframe[0].value["User"].tolist()
