"""An operator creates an alert rule in a real browser: its form, its backtest over the
stored history, Save; then the evaluator judges it and the banner names it on every page.

The dashboard runs on its own store, seeded as ``make demo`` seeds it (three days of
history). The rule's floor is above anything the demo's churn model reaches, so it fires
on the first evaluation.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from services.alerts import store
from services.alerts.evaluate import evaluate_due
from services.settings import PROJECT_ROOT, Settings
from tests.browser.demo_dashboard import OPERATOR, PASSWORD, Demo, demo_dashboard
from tests.browser.signin import launch, sign_in

pytestmark = pytest.mark.browser
SHOTS = PROJECT_ROOT / "test-artifacts"
NAME = "accuracy floor 99"
BANNER = re.compile(r"alerts? firing: .*churn accuracy")


@pytest.fixture(scope="module")
def var(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("alerts-demo")


@pytest.fixture(scope="module")
def demo(var: Path) -> Iterator[Demo]:
    yield from demo_dashboard(var)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from launch()


def _number(page: Page, label: str, value: str) -> None:
    field = page.get_by_label(label, exact=True)
    field.fill(value)
    field.press("Enter")  # a number input hands its value to the app on Enter


def _banner_after_reload(page: Page) -> None:
    """Reload until the banner shows (its list is cached a few seconds per process)."""
    banner = page.get_by_test_id("stAlertContainer").filter(has_text=BANNER)
    deadline = time.monotonic() + 30
    while True:
        page.reload(wait_until="domcontentloaded")
        try:
            expect(banner).to_be_visible(timeout=4_000)
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise


def test_an_operator_backtests_and_saves_a_rule_and_the_banner_shows_it_firing(
    demo: Demo, var: Path, browser: Browser
) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 1600})
    sign_in(page, demo.url, OPERATOR, PASSWORD)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible(timeout=30_000)
    page.get_by_test_id("stSidebar").get_by_text("Alerts", exact=True).click()
    expect(page.get_by_role("heading", name="Alerts")).to_be_visible(timeout=30_000)
    page.get_by_role("tab", name="Edit a rule").click()

    name = page.get_by_label("Name", exact=True)
    name.fill(NAME)
    name.press("Enter")
    _number(page, "Floor (a share, 0 to 1)", "0.99")
    _number(page, "Resolves when the figure is back at (the resolve threshold)", "0.995")
    backtest = page.get_by_role("button", name=re.compile(r"Backtest the last 14 days"))
    expect(backtest).to_be_enabled()
    started = time.monotonic()
    backtest.click()
    words = page.get_by_text(re.compile(r"^Would have fired 1 time and resolved 0 times"))
    expect(words).to_be_visible()
    took = time.monotonic() - started
    expect(page.get_by_test_id("stPlotlyChart")).to_be_visible()
    print(f"backtest: click to drawn answer in {took:.2f} s")
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "alerts-backtest-browser-test.png"), full_page=True)

    page.get_by_role("button", name="Save the rule").click()
    expect(page.get_by_text(re.compile(rf"Rule {NAME} saved"))).to_be_visible()
    (saved,) = [r for r in store.list_rules(engine=demo.engine) if r.rule.name == NAME]
    assert (saved.rule.model, saved.created_by, saved.enabled) == ("churn", OPERATOR, True)

    # The worker's evaluator judges it (forced: a rule just saved), as its next turn would.
    settings = Settings(var_dir=str(var), database_url="")
    evaluate_due(engine=demo.engine, settings=settings, holder="browser-test", force=True)
    assert store.get_rule(engine=demo.engine, rule_id=saved.id).state.status == "firing"
    _banner_after_reload(page)
    page.screenshot(path=str(SHOTS / "alerts-banner-browser-test.png"), full_page=True)

    # Every page carries it, with a link back to the Alerts page.
    page.get_by_test_id("stSidebar").get_by_text("Overview", exact=True).click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible(timeout=30_000)
    expect(page.get_by_test_id("stAlertContainer").filter(has_text=BANNER)).to_be_visible()
    page.get_by_role("link", name=re.compile("Open the Alerts page")).click()
    expect(page.get_by_role("heading", name="Alerts")).to_be_visible(timeout=30_000)
    page.close()
