"""The Serving page in a real browser: the live panel refreshes itself, survives Prometheus
going away and coming back, and keeps the filters as they were.

The module runs its own small stack (dashboard plus a Prometheus backfilled with a few
hours of two versions), not the session's shared one, because it stops Prometheus. The
panel refreshes every 2 s here (``OPSDASH_SERVING_REFRESH_SECONDS``).
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from db.schema import upgrade
from db.session import make_engine
from devstack.processes import Supervisor, free_loopback_port
from devstack.specs import child_env, dashboard_spec
from services.access import SYSTEM, Role
from services.auth.users import create_user
from services.settings import PROJECT_ROOT, Settings
from services.views.serving import PANELS
from tests.browser.signin import launch, sign_in
from tests.live_stack import new_supervisor
from tests.serving_history import BackfilledPrometheus, History, backfill, record_history

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        shutil.which("prometheus") is None or shutil.which("promtool") is None,
        reason="Debian's prometheus package (prometheus, promtool) is not installed",
    ),
]

SHOTS = PROJECT_ROOT / "test-artifacts"
REFRESH_S = 2
USER, PASSWORD = "petra", "operator password 3"
SECRET = "serving-browser-secret-" + "b" * 32
#: Not the page's default ("Last 24 h"), so a full rerun that reset it would show.
RANGE = "Last 6 h"
UPDATED = re.compile(r"Updated (\d\d:\d\d:\d\d) UTC")




@dataclass
class ServingStack:
    """The dashboard, and a Prometheus this module may stop and start again."""

    url: str
    prometheus: BackfilledPrometheus
    #: Supervises Prometheus alone, so stopping it leaves the dashboard running.
    prometheus_supervisor: Supervisor

    def stop_prometheus(self) -> None:
        self.prometheus_supervisor.stop_all()

    def start_prometheus(self) -> None:
        self.prometheus.start(self.prometheus_supervisor)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServingStack]:
    var = tmp_path_factory.mktemp("serving-browser")
    settings = Settings(var_dir=str(var), database_url="",
                        dashboard_port=free_loopback_port(), prometheus_port=free_loopback_port())
    engine = make_engine(settings.resolved_database_url)
    upgrade(engine)
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    record_history(engine, History(start=end - timedelta(hours=5),
                                   promoted=end - timedelta(hours=2), end=end,
                                   v1_count=900, v2_count=1200))
    create_user(engine=engine, actor=SYSTEM, username=USER, role=Role.OPERATOR,
                password=PASSWORD)
    prometheus = backfill(engine, var=var, port=settings.prometheus_port, end=end,
                          instance=f"127.0.0.1:{free_loopback_port()}")
    env = child_env(settings, os.environ)
    env.update({
        "OPSDASH_DATABASE_URL": "",
        "OPSDASH_COOKIE_SECRET": SECRET,
        "OPSDASH_PROMETHEUS_URL": prometheus.url,
        "OPSDASH_SERVING_REFRESH_SECONDS": str(REFRESH_S),
        "OPSDASH_TIMEZONE": "UTC",
        "OPSDASH_QUERY_PRESET": "opsdash",
        "OPSDASH_QUERY_PRESETS_FILE": "",
    })
    logs = var / "logs"
    dashboard = new_supervisor(logs, env)
    prometheus_supervisor = new_supervisor(logs, {})
    try:
        prometheus.start(prometheus_supervisor)
        dashboard.wait_ready([dashboard.start(dashboard_spec(settings))])
        yield ServingStack(url=f"http://127.0.0.1:{settings.dashboard_port}",
                           prometheus=prometheus, prometheus_supervisor=prometheus_supervisor)
    finally:
        dashboard.stop_all()
        prometheus_supervisor.stop_all()
        engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from launch()


@pytest.fixture(scope="module")
def page(browser: Browser, stack: ServingStack) -> Iterator[Page]:
    """The Serving page, signed in, with the time range set to :data:`RANGE` and only v2.

    One page for the module: with a refresh every 2 s the browser redraws nine charts
    continually, so each click takes seconds; the tests leave the filters as they are.
    """
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    sign_in(page, stack.url, USER, PASSWORD)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible(timeout=30_000)
    page.goto(f"{stack.url}/serving", wait_until="domcontentloaded")
    expect(page.get_by_role("heading", name="Serving")).to_be_visible(timeout=30_000)
    _time_range(page).click()
    page.get_by_role("option", name=RANGE, exact=True).click()
    expect(_time_range(page)).to_have_value(RANGE)
    # Drop v1 from the versions; v2 remains.
    _versions(page).get_by_role("button", name="Remove v1", exact=True).click()
    _filters_kept(page)
    expect(_charts(page)).to_have_count(len(PANELS), timeout=20_000)
    yield page
    context.close()


def _time_range(page: Page) -> Locator:
    return page.get_by_role("combobox", name="Time range")


def _versions(page: Page) -> Locator:
    return page.get_by_test_id("stMultiSelect").filter(has_text="Versions")


def _chosen_versions(page: Page) -> Locator:
    """One "Remove <version>" button per chosen version."""
    return _versions(page).get_by_role("button", name=re.compile(r"^Remove "))


def _charts(page: Page) -> Locator:
    # While a rerun replaces a chart, the old one lingers for a moment, hidden.
    return page.get_by_test_id("stPlotlyChart").filter(visible=True)


def _updated(page: Page) -> str:
    caption = page.get_by_test_id("stCaptionContainer").filter(has_text=UPDATED, visible=True)
    expect(caption).to_have_count(1, timeout=20_000)
    found = UPDATED.search(caption.inner_text())
    assert found is not None
    return found[1]


def _filters_kept(page: Page) -> None:
    expect(_time_range(page)).to_have_value(RANGE)
    expect(_chosen_versions(page)).to_have_accessible_name("Remove v2 (production)")


def test_the_live_panel_refreshes_by_itself_and_keeps_the_filters(page: Page) -> None:
    # Two changes in a row: the first might still be the rerun of the fixture's last click,
    # the second can only come from the panel's own timer.
    seen = [_updated(page)]
    deadline = time.monotonic() + 6 * REFRESH_S
    while len(seen) < 3 and time.monotonic() < deadline:
        page.wait_for_timeout(200)
        if (now := _updated(page)) != seen[-1]:
            seen.append(now)
    assert len(seen) == 3, f"the panel said only {seen} in {6 * REFRESH_S} s"
    _filters_kept(page)
    expect(_charts(page)).to_have_count(len(PANELS))
    expect(page.get_by_test_id("stException")).to_have_count(0)
    legend = _charts(page).first.locator(".legendtext")
    expect(legend).to_have_text(["v2"])


def test_the_panel_says_prometheus_is_gone_and_recovers_when_it_is_back(
    page: Page, stack: ServingStack
) -> None:
    unavailable = page.get_by_test_id("stAlert").filter(has_text="is unavailable")
    expect(unavailable).to_have_count(0)
    stack.stop_prometheus()
    try:
        expect(unavailable).to_have_count(1, timeout=10_000)
        expect(unavailable).to_contain_text("this panel retries by itself")
        expect(_charts(page)).to_have_count(0)
        expect(page.get_by_test_id("stException")).to_have_count(0)
        expect(page.get_by_text("Traceback")).to_have_count(0)
        # The deployments come from the store and stay.
        expect(page.get_by_test_id("stDataFrame")).to_have_count(1)
    finally:
        stack.start_prometheus()
    expect(_charts(page)).to_have_count(len(PANELS), timeout=15_000)
    expect(unavailable).to_have_count(0)
    expect(page.get_by_test_id("stException")).to_have_count(0)
    _filters_kept(page)
    SHOTS.mkdir(exist_ok=True)
    page.set_viewport_size({"width": 1400, "height": 2400})  # the app scrolls inside
    page.screenshot(path=str(SHOTS / "serving-browser-test.png"), full_page=True)
