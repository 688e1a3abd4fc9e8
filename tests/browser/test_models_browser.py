"""An operator promotes the demo's churn candidate in a real browser, and the Overview names it.

The dashboard runs on its own store, seeded as ``make demo`` seeds it (a few days of
history: churn v1 in production, a candidate v2 answering the last hours in the shadow).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import Engine

from services.promotion.actions import ledger, versions
from services.quality.compare import compare_versions
from services.settings import PROJECT_ROOT
from tests.browser.demo_dashboard import OPERATOR, PASSWORD, Demo, demo_dashboard
from tests.browser.signin import launch, sign_in

pytestmark = pytest.mark.browser
SHOTS = PROJECT_ROOT / "test-artifacts"
REASON = "v2 was retrained on the drift episode; shadow results reviewed"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    yield from demo_dashboard(tmp_path_factory.mktemp("models-demo"))


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from launch()


def _production(engine: Engine) -> int | None:
    return next((r.version for r in versions(engine=engine, model="churn")
                 if r.status == "production"), None)


def test_an_operator_promotes_churn_v2_with_a_reason_and_the_overview_names_it(
    demo: Demo, browser: Browser
) -> None:
    assert _production(demo.engine) == 1
    shared = compare_versions(engine=demo.engine, model="churn", a=1, b=2, since=None).shared
    page = browser.new_page(viewport={"width": 1400, "height": 1400})
    sign_in(page, demo.url, OPERATOR, PASSWORD)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible(timeout=30_000)
    page.get_by_test_id("stSidebar").get_by_text("Models", exact=True).click()
    expect(page.get_by_role("heading", name="Models")).to_be_visible(timeout=30_000)

    # The evidence for churn v2 against v1, on the labelled predictions both answered.
    evidence = page.get_by_test_id("stMetric").filter(has_text="Shared labelled predictions")
    expect(evidence.get_by_test_id("stMetricValue")).to_have_text(f"{shared:,}")
    expect(page.get_by_test_id("stMetric").filter(has_text="Accuracy of v2")).to_be_visible()
    verdict = page.get_by_text(re.compile(r"^(Pass|Fail|Insufficient evidence)\b"))
    expect(verdict.first).to_be_visible()

    reason = page.get_by_label(re.compile(r"^Reason"))
    reason.fill(REASON)
    reason.press("Control+Enter")  # a text area hands its value to the app on Ctrl+Enter
    promote = page.get_by_role("button", name=re.compile(r"Promote v2$"))
    expect(promote).to_be_enabled()
    promote.click()
    expect(page.get_by_text("production moved from v1 to v2")).to_be_visible()
    assert _production(demo.engine) == 2
    newest = ledger(engine=demo.engine, model="churn")[0]
    assert (newest.kind, newest.from_version, newest.to_version) == ("promote", 1, 2)
    assert (newest.actor, newest.reason) == (OPERATOR, REASON)
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "models-browser-test.png"), full_page=True)

    page.get_by_test_id("stSidebar").get_by_text("Overview", exact=True).click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible(timeout=30_000)
    churn = page.get_by_test_id("stVerticalBlock").filter(
        has=page.get_by_role("heading", name="churn", exact=True)).last
    expect(churn.get_by_text(re.compile(r"production v2 since"))).to_be_visible()
    page.close()
