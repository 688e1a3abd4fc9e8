"""Hostile text in every free-text field that exists is shown as text: no script runs.

The dashboard runs on its own store here, seeded with payloads in the places a user or an
upstream system can put text today: model names and class labels (registry), user names
typed into the sign-in form (they reach the audit log), user names typed into the
users page, a prediction id from an imported prediction log and a labeler name from a label
import. Each page that shows them is opened; the test fails on any dialog or any
request that leaves loopback.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import Engine

from dashboard.format import NO_LINK
from db.base import utcnow
from db.schema import upgrade
from db.session import make_engine
from devstack.processes import free_loopback_port
from devstack.specs import child_env, dashboard_spec
from services.access import CLI, SYSTEM, Role
from services.auth.users import create_user
from services.labels.importer import import_labels
from services.predictions.importer import import_predictions
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
# Markdown that would make a live link and load an image on another labeler's screen.
LABELER_MD = ("[Session expired - sign in again](https://evil.example/login) "
              "![t](https://evil.example/t.png)")
# A prediction id of another serving stack (at most 36 characters), leaving its code span.
PREDICTION_ID_MD = "`![i](https://evil.example/i.png)`"




@pytest.fixture(scope="module")
def var(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("xss")


def _import_hostile_prediction(engine: Engine, folder: Path) -> None:
    """A prediction log of another stack whose prediction id is markdown."""
    make_model(engine, name="triage", classes=("stays", "churns"))
    log = folder / "predictions.csv"
    log.write_text("prediction_id,timestamp,model,version,predicted,score_stays,score_churns,"
                   f"tenure_months,plan\n{PREDICTION_ID_MD},"
                   f"{(utcnow() - timedelta(hours=1)).isoformat()},triage,1,stays,0.6,0.4,"
                   "3,basic\n", encoding="utf-8")
    import_predictions(engine=engine, actor=CLI, path=log)


@pytest.fixture(scope="module")
def dashboard(var: Path) -> Iterator[str]:
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
    _import_hostile_prediction(engine, var)
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
    # Shown as typed, with an invisible word joiner keeping its address from being a link.
    expect(page.get_by_role("heading", name=MODEL_MARKDOWN.replace("://", f":{NO_LINK}//"))
           ).to_be_visible()
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


def test_a_labeler_name_and_a_prediction_id_are_shown_as_text(
    dashboard: str, browser: Browser, var: Path
) -> None:
    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    watch = Watch(page)
    sign_in(page, dashboard, ADMIN, PASSWORD)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible(timeout=30_000)
    page.goto(f"{dashboard}/labeling", wait_until="domcontentloaded")
    expect(page.get_by_role("heading", name="Label feedback")).to_be_visible(timeout=30_000)
    page.get_by_role("combobox").first.click()  # the model filter
    page.get_by_role("option", name="triage", exact=True).click()
    churns = page.get_by_role("button", name=re.compile(r"^churns"))
    expect(churns).to_be_visible()
    expect(page.get_by_test_id("stMarkdown").filter(has_text="![i](https:")).to_have_count(1)

    # Meanwhile an admin imports a label for it, naming a labeler whose name is markdown;
    # the labeler on screen then gets the conflict, which names who labelled it.
    engine = make_engine(Settings(var_dir=str(var), database_url="").resolved_database_url)
    try:
        import_labels(engine=engine, actor=CLI, filename="labels.csv",
                      data=(f"prediction_id,label,labeler\n{PREDICTION_ID_MD},stays,"
                            f"\"{LABELER_MD}\"\n").encode(), settings=Settings())
    finally:
        engine.dispose()
    churns.click()
    expect(page.get_by_text("Someone else labelled these first.")).to_be_visible()
    conflict = page.get_by_test_id("stRadio")
    expect(conflict).to_contain_text("Session expired")
    # Shown as typed (an invisible word joiner keeps each address from being a link).
    shown = conflict.inner_text().replace(NO_LINK, "")
    assert LABELER_MD in shown
    assert PREDICTION_ID_MD in shown

    page.wait_for_timeout(1000)  # give any image the chance to load
    assert page.locator('a[href*="evil.example"]').count() == 0
    assert page.locator('img[src*="evil.example"]').count() == 0
    assert watch.dialogs == []
    assert watch.outside == []
    page.close()
