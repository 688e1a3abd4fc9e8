"""A real browser (Debian's Chromium driven by Playwright) opens the overview."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import func, select

from db.models import Prediction
from db.session import session_scope
from services.settings import PROJECT_ROOT
from tests.browser.signin import launch, sign_in
from tests.live_stack import MODEL, OPERATOR, OPERATOR_PASSWORD, LiveStack

pytestmark = pytest.mark.browser
SHOTS = PROJECT_ROOT / "test-artifacts"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from launch()


def _logged(stack: LiveStack) -> int:
    with session_scope(stack.engine) as session:
        return int(session.scalar(select(func.count()).select_from(Prediction)) or 0)


def test_the_overview_shows_store_and_prometheus_figures(
    live_stack: LiveStack, browser: Browser
) -> None:
    before = _logged(live_stack)
    live_stack.predict(5)
    live_stack.wait_for(f'count(sum(opsdash_predictions_total{{model="{MODEL}"}}) >= 5)', 1)
    deadline = time.monotonic() + 15
    while (logged := _logged(live_stack)) < before + 5 and time.monotonic() < deadline:
        time.sleep(0.2)  # the service writes its prediction log in batches
    assert logged == before + 5
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    sign_in(page, live_stack.dashboard_url, OPERATOR, OPERATOR_PASSWORD)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible(timeout=30_000)
    expect(page.get_by_role("heading", name=MODEL)).to_be_visible(timeout=30_000)
    counted = page.get_by_test_id("stMetric").filter(has_text="Predictions, last 24 h")
    expect(counted.get_by_test_id("stMetricValue")).to_have_text(f"{logged:,}")
    live_rate = page.get_by_test_id("stMetric").filter(has_text="Request rate now")
    expect(live_rate.get_by_test_id("stMetricValue")).to_have_text(re.compile(r"req/s$"))
    expect(page.get_by_text("is unavailable")).to_have_count(0)
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "overview-browser-test.png"), full_page=True)
    page.close()
