"""Hostile text in every free-text field that exists is shown as text: no script runs.

The dashboard runs on its own store here, seeded with payloads in the places a user or an
upstream system can put text today: model names and class labels (registry), user names
typed into the sign-in form (they reach the audit log), and user names typed into the
users page. Each page that shows them is opened; the test fails on any dialog or any
request that leaves loopback.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect

from db.base import utcnow
from db.schema import upgrade
from db.session import make_engine
from devstack.processes import free_loopback_port
from devstack.specs import child_env, dashboard_spec
from services.access import SYSTEM, Role
from services.auth.users import create_user
from services.settings import Settings
from tests.browser.signin import launch, sign_in
from tests.factories import log_predictions, make_model
from tests.live_stack import new_supervisor

pytestmark = pytest.mark.browser
ADMIN, PASSWORD = "root-admin", "admin password 12"
# An outside address reserved for documentation: a request to it means markup ran.
OUTSIDE = "203.0.113.9"
MODEL_HTML = "<img src=x onerror=alert('model')>"
MODEL_MARKDOWN = f"![p](http://{OUTSIDE}/p.png) [go](javascript:alert(2)) :red[x] $x$"
LABEL_HTML = "<script>alert('label')</script>"
TYPED_NAME = "<svg/onload=alert('signin')>"
TYPED_ON_USERS_PAGE = "<img src=/ onerror=alert('users')>"




@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    var = tmp_path_factory.mktemp("xss")
    settings = Settings(var_dir=str(var), database_url="", dashboard_port=free_loopback_port())
    engine = make_engine(settings.resolved_database_url)
    upgrade(engine)
    create_user(engine=engine, actor=SYSTEM, username=ADMIN, role=Role.ADMIN,
                password=PASSWORD)
    now = utcnow()
    for name, classes in [(MODEL_HTML, (LABEL_HTML, "b")), (MODEL_MARKDOWN, ("x", "y"))]:
        model_id, version_id = make_model(engine, name=name, classes=classes)
        rows = [(now - timedelta(hours=2 + i % 48), classes[i % 2], classes[0])
                for i in range(60)]
        log_predictions(engine, model_id=model_id, version_id=version_id, rows=rows)
    engine.dispose()
    env = child_env(settings, os.environ)
    env.update({
        "OPSDASH_DATABASE_URL": "",
        "OPSDASH_COOKIE_SECRET": "xss-test-cookie-secret-" + "q" * 32,
        # Nothing listens here: the page must say so and carry on.
        "OPSDASH_PROMETHEUS_URL": f"http://127.0.0.1:{free_loopback_port()}",
    })
    supervisor = new_supervisor(Path(var) / "logs", env)
    try:
        supervisor.wait_ready([supervisor.start(dashboard_spec(settings))])
        yield f"http://127.0.0.1:{settings.dashboard_port}"
    finally:
        supervisor.stop_all()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from launch()


class Watch:
    """Dialogs opened and requests sent off loopback by a page."""

    def __init__(self, page: Page) -> None:
        self.dialogs: list[str] = []
        self.outside: list[str] = []
        page.on("dialog", self._dialog)
        page.on("request", lambda r: self._request(r.url))

    def _dialog(self, dialog) -> None:  # type: ignore[no-untyped-def]
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def _request(self, url: str) -> None:
        host = urlsplit(url).hostname
        if host not in (None, "127.0.0.1", "localhost") and not url.startswith("data:"):
            self.outside.append(url)


def test_the_first_visit_after_a_start_goes_through_the_router(
    dashboard: str, browser: Browser
) -> None:
    # Runs first on this module's fresh server: Streamlit would run a file of pages/
    # directly for the very first visit, bypassing the router (server.py prevents it).
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    page.goto(f"{dashboard}/users", wait_until="domcontentloaded")
    expect(page.get_by_role("heading", name="Sign in to opsdash")).to_be_visible(
        timeout=30_000)
    expect(page.get_by_test_id("stSidebar")).to_have_count(0)
    page.close()


def test_hostile_text_everywhere_is_shown_as_text(dashboard: str, browser: Browser) -> None:
    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    watch = Watch(page)
    # A user name typed into the sign-in form lands in the audit log.
    sign_in(page, dashboard, TYPED_NAME, "whatever password")
    expect(page.get_by_text("Wrong user name or password.")).to_be_visible(timeout=30_000)

    sign_in(page, dashboard, ADMIN, PASSWORD)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible(timeout=30_000)
    expect(page.get_by_role("heading", name=MODEL_HTML)).to_be_visible(timeout=30_000)
    expect(page.get_by_role("heading", name=MODEL_MARKDOWN)).to_be_visible()
    # Plotly draws the chart title as SVG text: the name appears literally there too.
    expect(page.locator("text.gtitle").filter(has_text=MODEL_HTML)).to_have_count(1)
    assert page.locator("main img").count() == 0  # no image was made of a name

    page.goto(f"{dashboard}/audit", wait_until="domcontentloaded")
    expect(page.get_by_role("heading", name="Audit log")).to_be_visible(timeout=30_000)
    page.get_by_role("combobox").first.click()  # the actor filter lists the typed name
    expect(page.get_by_role("option", name=TYPED_NAME)).to_be_visible()
    page.keyboard.press("Escape")

    page.goto(f"{dashboard}/users", wait_until="domcontentloaded")
    expect(page.get_by_role("heading", name="Add a user")).to_be_visible(timeout=30_000)
    form = page.get_by_test_id("stForm")
    form.get_by_role("textbox", name="User name").fill(TYPED_ON_USERS_PAGE)
    form.get_by_role("button", name="Add user").click()
    refusal = page.get_by_test_id("stAlertContentError")
    expect(refusal).to_contain_text("Not changed:", timeout=30_000)
    expect(refusal).to_contain_text(TYPED_ON_USERS_PAGE)

    page.wait_for_timeout(1000)  # give any injected handler the chance to fire
    assert watch.dialogs == []
    assert watch.outside == []
    page.close()
