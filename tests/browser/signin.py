"""Shared steps of the browser tests: a Chromium, and signing in through the real form."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

CHROMIUM = "/usr/bin/chromium"
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


#: How long an ``expect`` waits for the page to match (Playwright's default is 5 s). With the
#: tests running in parallel on a busy machine, a dashboard may take longer to draw; the wait
#: ends as soon as the page matches, so a generous bound costs nothing when it is fast.
EXPECT_MS = 20_000


def launch() -> Iterator[Browser]:
    """Debian's Chromium, headless; skips when it is not installed."""
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        pytest.skip("Debian's chromium is not installed; `make test` installs it")
    expect.set_options(timeout=EXPECT_MS)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def sign_in(page: Page, base_url: str, username: str, password: str, path: str = "") -> None:
    """Open ``base_url/path``, fill in the sign-in form and submit it."""
    page.goto(f"{base_url}/{path}", wait_until="domcontentloaded")
    expect(page.get_by_role("heading", name="Sign in to opsdash")).to_be_visible(
        timeout=30_000)
    page.locator("#opsdash-username").fill(username)
    page.locator("#opsdash-password").fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()


def nav_links(page: Page) -> Locator:
    """The sidebar's page links (each one's text is its icon's name, then its title)."""
    return page.get_by_test_id("stSidebar").get_by_test_id("stPageLink-NavLink")
