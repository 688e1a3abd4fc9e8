"""An operator retrains churn from the Models page in a real browser: the dialog, a job run
by a real worker (``python -m services.worker``) against the same store, its progress bar
moving on the page, and the new candidate with its evidence.

The store is seeded as ``make demo`` seeds it (three days of history); the dashboard and
the worker run as the demo runs them.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from services.promotion.actions import versions
from services.retrain.jobs import list_jobs
from services.settings import PROJECT_ROOT
from tests.browser.demo_dashboard import OPERATOR, PASSWORD, Demo, demo_dashboard
from tests.browser.signin import launch, sign_in

pytestmark = pytest.mark.browser
SHOTS = PROJECT_ROOT / "test-artifacts"
#: How long the whole job may take on a loaded machine (it takes seconds on a quiet one).
JOB_S = 240


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    yield from demo_dashboard(tmp_path_factory.mktemp("retrain-demo"), with_worker=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from launch()


def _progress(page: Page) -> str | None:
    """The progress bar's text (``42 % · elapsed 0:07``), when one is drawn."""
    bar = page.get_by_test_id("stProgress")
    if bar.count() == 0:
        return None
    try:
        return bar.first.inner_text(timeout=1_000)
    except Exception:  # redrawn between the count and the read: look again
        return None


def _watch(page: Page, demo: Demo) -> tuple[set[str], set[str]]:
    """The percents and stages the page showed until the job ended (read every 0.2 s)."""
    percents: set[str] = set()
    stages: set[str] = set()
    shot = False
    deadline = time.monotonic() + JOB_S
    while any(j.active for j in list_jobs(engine=demo.engine, model="churn")):
        assert time.monotonic() < deadline, "the retrain job did not end"
        text = _progress(page)
        if text and (found := re.match(r"(\d+) %", text)):
            percents.add(found.group(1))
            header = page.get_by_text(re.compile(r"^Job \d+ · running · ")).first
            if header.count():
                stages.add(header.inner_text().split(" · ")[2].split(":")[0])
            if not shot and "training" in stages:
                SHOTS.mkdir(exist_ok=True)
                page.screenshot(path=str(SHOTS / "models-retrain-running.png"), full_page=True)
                shot = True
        page.wait_for_timeout(200)
    return percents, stages


def test_an_operator_retrains_churn_watches_the_job_and_sees_the_candidate_s_evidence(
    demo: Demo, browser: Browser
) -> None:
    before = {r.version for r in versions(engine=demo.engine, model="churn")}
    page = browser.new_page(viewport={"width": 1400, "height": 1600})
    sign_in(page, demo.url, OPERATOR, PASSWORD)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible(timeout=30_000)
    page.get_by_test_id("stSidebar").get_by_text("Models", exact=True).click()
    expect(page.get_by_role("heading", name="Models")).to_be_visible(timeout=30_000)

    page.get_by_test_id("stExpander").get_by_text("Retrain churn…").click()
    expect(page.get_by_text("Labelled rows per class in the window")).to_be_visible(
        timeout=60_000)
    page.get_by_text("Search (cross-validated grid, bounded)").click()
    start = page.get_by_role("button", name=re.compile(r"Start retraining"))
    expect(start).to_be_enabled()
    start.click()
    expect(page.get_by_test_id("stProgress")).to_be_visible(timeout=60_000)
    percents, stages = _watch(page, demo)

    (job, *_) = list_jobs(engine=demo.engine, model="churn")
    assert (job.status, job.requested_by, job.preset) == ("succeeded", OPERATOR, "search"), job.log
    assert len(percents) >= 2 or len(stages) >= 2, (percents, stages)
    new = job.result_version
    assert new is not None
    assert new not in before
    expect(page.get_by_text(f"Job {job.id} produced candidate v{new}")).to_be_visible(
        timeout=60_000)
    page.get_by_role("button", name=f"Compare v{new} with production").click()
    metric = page.get_by_test_id("stMetric").filter(has_text=f"Accuracy of v{new}")
    expect(metric).to_be_visible(timeout=60_000)
    shared = page.get_by_test_id("stMetric").filter(has_text="Shared labelled predictions")
    expect(shared.get_by_test_id("stMetricValue")).not_to_have_text("0")
    history = page.get_by_test_id("stExpander").filter(has_text="Retrain jobs of churn")
    expect(history).to_be_visible()
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "models-retrain-done.png"), full_page=True)
    page.close()
