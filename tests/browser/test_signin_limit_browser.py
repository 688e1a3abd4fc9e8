"""The per-client limit on failed sign-ins in a real browser: after too many failures from
one address the sign-in route answers 429, and the browser lands on the sign-in page,
which says why, with nobody signed in. On a dashboard of its own, as the count is the
dashboard process's."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from db.schema import upgrade
from db.session import make_engine
from devstack.processes import free_loopback_port
from devstack.specs import child_env, dashboard_spec
from services.access import SYSTEM, Role
from services.audit import query_audit
from services.auth.users import create_user
from services.settings import Settings
from tests.browser.signin import launch, sign_in
from tests.live_stack import new_supervisor

pytestmark = pytest.mark.browser
USER, PASSWORD = "ines", "violet-harbour-29"
LIMIT = 2


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Settings]]:
    var = tmp_path_factory.mktemp("limit")
    settings = Settings(var_dir=str(var), database_url="", dashboard_port=free_loopback_port())
    engine = make_engine(settings.resolved_database_url)
    upgrade(engine)
    create_user(engine=engine, actor=SYSTEM, username=USER, role=Role.ANALYST,
                password=PASSWORD)
    engine.dispose()
    env = child_env(settings, os.environ)
    env.update({
        "OPSDASH_DATABASE_URL": "",
        "OPSDASH_COOKIE_SECRET": "limit-test-cookie-secret-" + "k" * 32,
        "OPSDASH_PROMETHEUS_URL": f"http://127.0.0.1:{free_loopback_port()}",
        "OPSDASH_SIGNIN_CLIENT_MAX_FAILURES": str(LIMIT),
        "OPSDASH_SIGNIN_CLIENT_WINDOW_SECONDS": "600",
    })
    supervisor = new_supervisor(Path(var) / "logs", env)
    try:
        supervisor.wait_ready([supervisor.start(dashboard_spec(settings))])
        yield f"http://127.0.0.1:{settings.dashboard_port}", settings
    finally:
        supervisor.stop_all()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from launch()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    yield context.new_page()
    context.close()


def test_too_many_failures_from_one_address_pause_its_sign_in_with_a_message(
    dashboard: tuple[str, Settings], page: Page
) -> None:
    url, settings = dashboard
    for _ in range(LIMIT):
        sign_in(page, url, USER, "not the password at all")
        expect(page.get_by_text("Wrong user name or password.")).to_be_visible()
    with page.expect_response(lambda r: r.url.endswith("/api/auth/signin")) as answer:
        sign_in(page, url, USER, PASSWORD)  # the right password, but this address is paused
    assert answer.value.status == 429
    expect(page.get_by_text("Too many failed sign-ins from your network address")
           ).to_be_visible()
    expect(page.get_by_text("paused for up to 10 minutes")).to_be_visible()
    expect(page.get_by_role("heading", name="Sign in to opsdash")).to_be_visible()
    assert not [c for c in page.context.cookies() if c["name"] == "opsdash_session"]
    engine = make_engine(settings.resolved_database_url)
    try:
        failed = query_audit(engine=engine, actor=SYSTEM, action="sign_in_failed")
        signed_in = query_audit(engine=engine, actor=SYSTEM, action="sign_in")
    finally:
        engine.dispose()
    assert len(failed) == LIMIT  # the paused attempt never reached the account
    assert signed_in == []
