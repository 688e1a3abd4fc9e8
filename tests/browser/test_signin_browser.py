"""Signing in and out in a real browser, against the real dashboard server and store."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from services.access import SYSTEM
from services.audit import query_audit
from tests.browser.signin import launch, nav_links, sign_in
from tests.live_stack import MODEL, OPERATOR, OPERATOR_PASSWORD, LiveStack

pytestmark = pytest.mark.browser
COOKIE = "opsdash_session"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from launch()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 1300, "height": 900})
    yield ctx
    ctx.close()


def _audit(stack: LiveStack, action: str) -> list[str]:
    return [e.actor for e in query_audit(engine=stack.engine, actor=SYSTEM, action=action)]


def _nav(page: Page) -> list[str]:
    links = nav_links(page)
    expect(links.first).to_be_visible(timeout=30_000)
    # Each link's text is its icon's ligature name, then its title.
    return [text.split("\n")[-1].strip() for text in links.all_inner_texts()]


def test_signing_in_shows_the_roles_pages_and_survives_a_reload(
    live_stack: LiveStack, context: BrowserContext
) -> None:
    before = _audit(live_stack, "sign_in").count(OPERATOR)
    page = context.new_page()
    sign_in(page, live_stack.dashboard_url, OPERATOR, OPERATOR_PASSWORD)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible(timeout=30_000)
    expect(page.get_by_test_id("stSidebar").get_by_text(f"{OPERATOR} · operator")).to_be_visible()
    assert _nav(page) == ["Overview", "Serving", "Model quality", "Drift", "Models", "Alerts",
                          "Label feedback", "Audit log", "Account"]
    (cookie,) = [c for c in context.cookies() if c["name"] == COOKIE]
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert cookie["expires"] > 0  # persistent, so a reload or a new tab keeps it
    assert COOKIE not in page.evaluate("document.cookie")  # scripts cannot read it
    assert _audit(live_stack, "sign_in").count(OPERATOR) == before + 1

    page.reload(wait_until="domcontentloaded")
    expect(page.get_by_role("heading", name="Overview")).to_be_visible(timeout=30_000)
    page.goto(f"{live_stack.dashboard_url}/audit", wait_until="domcontentloaded")
    expect(page.get_by_role("heading", name="Audit log")).to_be_visible(timeout=30_000)
    expect(page.get_by_text(re.compile(r"^[\d,]+ entr(y|ies), newest first"))).to_be_visible()
    # The start page also answers at its own path (a bookmark), not with "page not found".
    page.goto(f"{live_stack.dashboard_url}/overview", wait_until="domcontentloaded")
    expect(page.get_by_role("heading", name="Overview")).to_be_visible(timeout=30_000)
    expect(page.get_by_role("heading", name=MODEL)).to_be_visible(timeout=30_000)
    expect(page.get_by_text("Page not found")).to_have_count(0)


def test_signing_out_drops_the_cookie_and_is_audited(
    live_stack: LiveStack, context: BrowserContext
) -> None:
    page = context.new_page()
    sign_in(page, live_stack.dashboard_url, OPERATOR, OPERATOR_PASSWORD)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible(timeout=30_000)
    before = _audit(live_stack, "sign_out").count(OPERATOR)
    page.get_by_test_id("stSidebar").get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You are signed out.")).to_be_visible(timeout=30_000)
    assert not [c for c in context.cookies() if c["name"] == COOKIE]
    assert _audit(live_stack, "sign_out").count(OPERATOR) == before + 1
    page.goto(f"{live_stack.dashboard_url}/audit", wait_until="domcontentloaded")
    expect(page.get_by_role("heading", name="Sign in to opsdash")).to_be_visible(
        timeout=30_000)


def test_a_wrong_password_says_so_and_signs_nobody_in(
    live_stack: LiveStack, context: BrowserContext
) -> None:
    before = _audit(live_stack, "sign_in_failed").count(OPERATOR)
    page = context.new_page()
    sign_in(page, live_stack.dashboard_url, OPERATOR, "not the password")
    expect(page.get_by_text("Wrong user name or password.")).to_be_visible(timeout=30_000)
    assert page.url.endswith("/?signin=failed")
    assert not [c for c in context.cookies() if c["name"] == COOKIE]
    expect(page.get_by_test_id("stSidebar")).to_have_count(0)
    assert _audit(live_stack, "sign_in_failed").count(OPERATOR) == before + 1


@pytest.mark.parametrize("path", ["audit", "users", "overview", "account"])
def test_an_anonymous_visitor_opening_a_page_url_gets_the_sign_in_page(
    live_stack: LiveStack, context: BrowserContext, path: str
) -> None:
    page = context.new_page()
    page.goto(f"{live_stack.dashboard_url}/{path}", wait_until="domcontentloaded")
    expect(page.get_by_role("heading", name="Sign in to opsdash")).to_be_visible(
        timeout=30_000)
    page.locator("#opsdash-username").fill("someone")  # usable: no "page not found" dialog
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(page.get_by_test_id("stSidebar")).to_have_count(0)
    expect(page.get_by_test_id("stDataFrame")).to_have_count(0)
    expect(page.get_by_test_id("stMetric")).to_have_count(0)
