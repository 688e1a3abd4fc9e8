"""A real browser (Debian's Chromium driven by Playwright) opens the overview."""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect, sync_playwright
from sqlalchemy import func, select

from db.models import Prediction
from db.session import session_scope
from services.settings import PROJECT_ROOT
from tests.live_stack import MODEL, LiveStack

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"
SHOTS = PROJECT_ROOT / "test-artifacts"
# Without these, Chromium phones home at start and this machine's closed network refuses it.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        pytest.skip("Debian's chromium is not installed; `make test` installs it")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


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
    page.goto(live_stack.dashboard_url, wait_until="domcontentloaded")
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
