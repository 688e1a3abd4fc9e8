"""Who sees which page: every role against every page, through the router and directly."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from services.access import SYSTEM, Role, View, allowed_views
from services.auth.sessions import end_session
from services.auth.tokens import issue_token, read_token_claims
from services.auth.users import disable_user
from services.settings import Settings
from tests.http_stub import QuietHandler, serving

#: Page script, its title, and the view that opens it (None: every signed-in user).
PAGES: list[tuple[str, str, View | None]] = [
    ("pages/overview.py", "Overview", View.OVERVIEW),
    ("pages/serving.py", "Serving", View.SERVING),
    ("pages/quality.py", "Model quality", View.QUALITY),
    ("pages/drift.py", "Drift", View.DRIFT),
    ("pages/models.py", "Models", View.LIFECYCLE),
    ("pages/alerts.py", "Alerts", View.ALERTS),
    ("pages/labeling.py", "Label feedback", View.LABELING),
    ("pages/audit.py", "Audit log", View.AUDIT),
    ("pages/users.py", "Users", View.USERS),
    ("pages/account.py", "Account", None),
]
CASES = [(role, script, title, view) for role in Role for script, title, view in PAGES]
#: Something only that page draws (AppTest drops the router's title on a page switch).
MARKERS: dict[str, Callable[[AppTest], bool]] = {
    "pages/overview.py": lambda at: any("Days in" in c.value for c in at.caption),
    "pages/serving.py": lambda at: [s.label for s in at.selectbox][:2] == ["Model",
                                                                            "Time range"]
    or any("No models are registered" in i.value for i in at.info),
    "pages/quality.py": lambda at: [s.label for s in at.selectbox][:2] == ["Model", "Version"]
    or any("No models are registered" in i.value for i in at.info),
    "pages/drift.py": lambda at: [s.label for s in at.selectbox][:3] == [
        "Model", "Reference", "Current window"]
    or any("No models are registered" in i.value for i in at.info),
    "pages/models.py": lambda at: "Production ledger" in [s.value for s in at.subheader]
    or any("No models are registered" in i.value for i in at.info),
    "pages/alerts.py": lambda at: [t.label for t in at.tabs][:1] == ["Rules"]
    or any("No models are registered" in i.value for i in at.info),
    "pages/labeling.py": lambda at: [s.label for s in at.selectbox][:3] == [
        "Model", "Version", "Predicted class"]
    or any("No models are registered" in i.value for i in at.info),
    "pages/audit.py": lambda at: [s.label for s in at.selectbox][:2] == ["Actor", "Action"],
    "pages/users.py": lambda at: "Add a user" in [s.value for s in at.subheader],
    "pages/account.py": lambda at: any(t.value.startswith("User name: ") for t in at.text),
}


def _may(role: Role, view: View | None) -> bool:
    return view is None or view in allowed_views(role)


#: What each role's sidebar links, written out rather than derived from the code under test.
EXPECTED_LINKS = {
    Role.ADMIN: ["Overview", "Serving", "Model quality", "Drift", "Models", "Alerts",
                 "Label feedback", "Audit log", "Users", "Account"],
    Role.OPERATOR: ["Overview", "Serving", "Model quality", "Drift", "Models", "Alerts",
                    "Label feedback", "Audit log", "Account"],
    Role.ANALYST: ["Overview", "Serving", "Model quality", "Drift", "Models", "Alerts",
                   "Account"],
    Role.LABELER: ["Model quality", "Label feedback", "Account"],
}


@pytest.mark.parametrize("role", list(Role), ids=[r.value for r in Role])
def test_the_sidebar_links_exactly_the_pages_a_role_may_open(
    app: Callable[..., AppTest], role: Role
) -> None:
    at = app(as_role=role)
    assert not at.exception
    assert [link.value for link in at.sidebar.page_link] == EXPECTED_LINKS[role]
    # The landing page is the first the role may open; labelers start at their queue.
    start = "Label feedback" if role is Role.LABELER else EXPECTED_LINKS[role][0]
    first = next(script for script, title, _ in PAGES if title == start)
    assert MARKERS[first](at)


@pytest.mark.parametrize(("role", "script", "title", "view"), CASES,
                         ids=[f"{c[0].value}-{Path(c[1]).stem}" for c in CASES])
def test_a_page_reached_by_url_renders_or_says_why_not(
    app: Callable[..., AppTest], role: Role, script: str, title: str, view: View | None
) -> None:
    at = app(as_role=role)
    at.switch_page(script).run()
    assert not at.exception
    if _may(role, view):
        assert MARKERS[script](at), f"{title} did not render for {role}"
        assert not at.error, [e.value for e in at.error]
    else:
        (error,) = at.error
        assert f"Your role ({role.value}) does not include" in error.value
        assert not MARKERS[script](at)
        assert not at.dataframe
        assert not at.text_input


@pytest.mark.parametrize(("role", "script", "title", "view"), CASES,
                         ids=[f"{c[0].value}-{Path(c[1]).stem}" for c in CASES])
def test_a_page_run_directly_refuses_a_role_without_its_permission(
    app: Callable[..., AppTest], role: Role, script: str, title: str, view: View | None
) -> None:
    at = app(as_role=role, script=script)
    assert not at.exception
    if _may(role, view):
        assert not at.error, [e.value for e in at.error]
        assert MARKERS[script](at), f"{title} did not render for {role}"
    else:
        (error,) = at.error
        assert f"Your role ({role.value}) does not include" in error.value
        assert not at.dataframe
        assert not at.metric
        assert not at.text_input


@pytest.mark.parametrize("script", [script for script, _, _ in PAGES])
def test_a_page_run_directly_asks_an_anonymous_visitor_to_sign_in(
    app: Callable[..., AppTest], script: str
) -> None:
    at = app(as_role=None, script=script)
    assert not at.exception
    assert "Sign in to see this page" in at.warning[0].value
    assert not at.dataframe
    assert not at.metric
    assert not at.text_input


class _Counting(QuietHandler):
    def do_GET(self) -> None:
        self.server.hits += 1  # type: ignore[attr-defined]
        self.answer(503, b"{}")


@pytest.fixture
def counting_prometheus() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Counting)
    server.hits = 0  # type: ignore[attr-defined]
    with serving(server) as running:
        yield running


@pytest.mark.parametrize("token", [None, "", "v1.forged.token", "not-a-token"])
def test_an_anonymous_visitor_sees_only_sign_in_and_queries_nothing(
    app: Callable[..., AppTest], settings: Settings, tmp_path: Path,
    counting_prometheus: ThreadingHTTPServer, token: str | None,
) -> None:
    absent = tmp_path / "never-created.db"
    at = app(as_role=None, token=token, database_url=f"sqlite:///{absent}",
             prometheus_url=f"http://127.0.0.1:{counting_prometheus.server_port}")
    assert not at.exception
    assert at.title[0].value == "Sign in to opsdash"
    assert not at.error
    assert not at.metric
    assert not absent.exists()  # the store was never opened
    assert counting_prometheus.hits == 0  # type: ignore[attr-defined]


def test_an_expired_token_is_anonymous(cookie_secret: str, app: Callable[..., AppTest]) -> None:
    token = issue_token(username="admin-user", secret=cookie_secret, ttl_seconds=60, now=1000.0)
    at = app(as_role=None, token=token)
    assert at.title[0].value == "Sign in to opsdash"


def test_a_token_signed_with_another_secret_is_anonymous(app: Callable[..., AppTest]) -> None:
    token = issue_token(username="admin-user", secret="another-secret-" + "y" * 32,
                        ttl_seconds=600)
    at = app(as_role=None, token=token)
    assert at.title[0].value == "Sign in to opsdash"


def test_a_disabled_account_loses_its_open_session_at_the_next_run(
    app: Callable[..., AppTest], engine: Engine
) -> None:
    at = app(as_role=Role.OPERATOR)
    assert at.title[0].value == "Overview"
    assert at.metric or at.info  # the overview rendered
    disable_user(engine=engine, actor=SYSTEM, username="operator-user")
    at.run()
    assert not at.exception
    assert not at.metric
    assert not at.info
    assert any("opsdash-username" in h.value for h in at.get("html"))  # the sign-in form
    assert not at.sidebar.text  # nobody is named as signed in


def test_a_session_signed_out_elsewhere_ends_at_the_next_run(
    cookie_secret: str,
    app: Callable[..., AppTest], engine: Engine
) -> None:
    token = issue_token(username="operator-user", secret=cookie_secret, ttl_seconds=600)
    app(as_role=Role.OPERATOR)  # creates the account
    at = app(as_role=None, token=token)
    assert at.title[0].value == "Overview"
    session = read_token_claims(token, secret=cookie_secret)
    assert session is not None
    end_session(engine=engine, token=session)  # e.g. the same cookie, signed out in a copy
    at.run()
    assert not at.exception
    assert at.title[0].value == "Sign in to opsdash"
    assert not at.metric


def test_a_bad_setting_stops_the_app_naming_the_variable(app: Callable[..., AppTest]) -> None:
    at = app(as_role=Role.ADMIN, timezone="Mars/Olympus")
    assert not at.exception
    # The message is markdown, its underscore escaped.
    assert at.error[0].value == (
        "The settings cannot be used: OPSDASH\\_TIMEZONE='Mars/Olympus' is not a known IANA "
        "time zone. Fix them and restart the dashboard."
    )
    assert not at.metric


def test_a_missing_cookie_secret_stops_the_app_with_how_to_set_it(
    cookie_secret: str,
    app: Callable[..., AppTest], monkeypatch: pytest.MonkeyPatch
) -> None:
    at = app(as_role=Role.ADMIN, cookie_secret="")
    monkeypatch.delenv("OPSDASH_COOKIE_SECRET")
    at.run()
    assert not at.exception
    assert "OPSDASH_COOKIE_SECRET is not set" in at.error[0].value
    assert not at.metric


def test_the_sidebar_names_the_signed_in_user(app: Callable[..., AppTest]) -> None:
    at = app(as_role=Role.LABELER)
    assert "labeler-user · labeler" in [t.value for t in at.sidebar.text]
