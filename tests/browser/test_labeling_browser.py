"""A labeler labels a prediction with the keyboard in a real browser, and the Model quality
page moves with it."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import func, select

from db.models import Feedback, Prediction, User
from db.session import session_scope
from services.access import SYSTEM, Role
from services.auth.users import create_user
from services.settings import PROJECT_ROOT
from tests.browser.signin import launch, sign_in
from tests.live_stack import LiveStack

pytestmark = pytest.mark.browser
SHOTS = PROJECT_ROOT / "test-artifacts"
LABELER, LABELER_PASSWORD = "lara", "labeler password 1"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from launch()


def _labels(stack: LiveStack) -> dict[str, tuple[str, str]]:
    with session_scope(stack.engine) as session:
        return {pid: (label, who) for pid, label, who in session.execute(
            select(Feedback.prediction_id, Feedback.label, Feedback.labeler))}


def _wait_logged(stack: LiveStack, ids: list[str]) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with session_scope(stack.engine) as session:
            found = session.scalar(select(func.count()).select_from(Prediction)
                                   .where(Prediction.id.in_(ids)))
        if found == len(ids):
            return
        time.sleep(0.2)  # the service writes its prediction log in batches
    raise AssertionError("the inference service did not log the predictions")


def _labelled_metric(page: Page) -> str:
    metric = page.get_by_test_id("stMetric").filter(has_text="Labelled predictions")
    return metric.get_by_test_id("stMetricValue").inner_text()


def test_a_key_press_labels_the_shown_item_and_quality_moves(
    live_stack: LiveStack, browser: Browser
) -> None:
    if LABELER not in _users(live_stack):
        create_user(engine=live_stack.engine, actor=SYSTEM, username=LABELER,
                    role=Role.LABELER, password=LABELER_PASSWORD)
    _wait_logged(live_stack, live_stack.predict(3))
    before = len(_labels(live_stack))
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    sign_in(page, live_stack.dashboard_url, LABELER, LABELER_PASSWORD)
    # Labelers start at their queue.
    expect(page.get_by_role("heading", name="Label feedback")).to_be_visible(timeout=30_000)
    sidebar = page.get_by_test_id("stSidebar")
    # The quality page first, so its figures are cached before the label arrives.
    sidebar.get_by_text("Model quality").click()
    expect(page.get_by_role("heading", name="Model quality")).to_be_visible(timeout=30_000)
    if before:
        expect(page.get_by_test_id("stMetric").filter(has_text="Labelled predictions")
               ).to_be_visible(timeout=30_000)
        assert _labelled_metric(page) == f"{before:,}"
    else:
        expect(page.get_by_text("No labelled predictions")).to_be_visible(timeout=30_000)
    sidebar.get_by_text("Label feedback").click()
    shown = page.get_by_text(re.compile(r"^Prediction [0-9a-f]{32} · v1 · made "))
    expect(shown).to_be_visible(timeout=30_000)
    first = shown.inner_text().split()[1]
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "labeling-browser-test.png"), full_page=True)

    # The second class's button carries the shortcut "2"; press it with nothing focused.
    expect(page.get_by_role("button", name=re.compile(r"Shortcut 2$"))).to_be_enabled()
    page.evaluate("document.activeElement && document.activeElement.blur()")
    page.keyboard.press("2")
    expect(page.get_by_text("1 label saved")).to_be_visible(timeout=15_000)
    expect(shown).not_to_have_text(re.compile(first), timeout=15_000)  # the next item at once
    labels = _labels(live_stack)
    assert len(labels) == before + 1
    assert labels[first][1] == LABELER

    sidebar.get_by_text("Model quality").click()
    expect(page.get_by_role("heading", name="Model quality")).to_be_visible(timeout=30_000)
    expect(page.get_by_test_id("stMetric").filter(has_text="Labelled predictions")
           ).to_be_visible(timeout=30_000)
    assert _labelled_metric(page) == f"{before + 1:,}"
    page.close()


def test_a_label_file_is_refused_whole_then_imported(
    live_stack: LiveStack, browser: Browser
) -> None:
    if LABELER not in _users(live_stack):
        create_user(engine=live_stack.engine, actor=SYSTEM, username=LABELER,
                    role=Role.LABELER, password=LABELER_PASSWORD)
    ids = live_stack.predict(2)
    _wait_logged(live_stack, ids)
    before = _labels(live_stack)
    page = browser.new_page(viewport={"width": 1400, "height": 1400})
    sign_in(page, live_stack.dashboard_url, LABELER, LABELER_PASSWORD)
    expect(page.get_by_role("heading", name="Label feedback")).to_be_visible(timeout=30_000)
    expect(page.get_by_role("button", name=re.compile(r"Shortcut 1$"))).to_be_visible(
        timeout=30_000)  # the page has settled
    page.get_by_text("Import or export labels").click()
    expect(page.get_by_text("Label file", exact=True)).to_be_visible()
    upload = page.locator("input[type=file]")

    bad = f"prediction_id,label\n{ids[0]},stays\nnot-a-prediction,stays\n".encode()
    upload.set_input_files(files=[{"name": "bad.csv", "mimeType": "text/csv", "buffer": bad}])
    page.get_by_role("button").filter(has_text="Import labels").click()
    expect(page.get_by_text(re.compile(r"^Nothing imported: "))).to_be_visible(timeout=15_000)
    assert _labels(live_stack) == before  # the good first row was not stored either

    good = f"prediction_id,label,labeler\n{ids[0]},stays,vendor\n{ids[1]},churns,vendor\n"
    upload.set_input_files(files=[{"name": "good.csv", "mimeType": "text/csv",
                                   "buffer": good.encode()}])
    # Choosing another file clears the last outcome once the page has taken the file.
    expect(page.get_by_text(re.compile(r"^Nothing imported: "))).to_have_count(0,
                                                                             timeout=15_000)
    page.get_by_role("button").filter(has_text="Import labels").click()
    expect(page.get_by_text("Imported good.csv: 2 rows, 2 labels stored")).to_be_visible(
        timeout=15_000)
    # Only an admin may name another labeler: the labeler's rows are the labeler's own.
    expect(page.get_by_text("2 rows named another labeler")).to_be_visible()
    labels = _labels(live_stack)
    assert labels[ids[0]] == ("stays", LABELER)
    assert labels[ids[1]] == ("churns", LABELER)
    page.screenshot(path=str(SHOTS / "labeling-import-browser-test.png"), full_page=True)
    page.close()


def _users(stack: LiveStack) -> set[str]:
    with session_scope(stack.engine) as session:
        return set(session.scalars(select(User.username)))
