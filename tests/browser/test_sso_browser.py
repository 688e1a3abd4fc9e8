"""Single sign-on in a real browser: Streamlit's ``st.login`` against a mock OIDC provider.

One mock provider and two dashboards per module, each on a free loopback port: one takes
the role from the local account with the verified e-mail address, the other from an
ID-token claim (``OPSDASH_OIDC_ROLE_CLAIM``) and trusts the provider's addresses without an
``email_verified`` claim (``OPSDASH_OIDC_TRUST_EMAIL``). The ``[auth]`` secrets of each
dashboard are in a temporary file passed with ``--secrets.files``; the repository's
``.streamlit`` is not read. The browser may reach nothing but loopback.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import secrets
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import Engine, select

from dashboard.format import NO_LINK
from db.models import AuditLog
from db.schema import upgrade
from db.session import make_engine, session_scope
from devstack.processes import RunningService, ServiceSpec, Supervisor, free_loopback_port
from devstack.specs import LOOPBACK, dashboard_spec
from services.access import SYSTEM, Role
from services.auth.users import create_user, disable_user
from services.settings import Settings
from tests.browser.signin import launch, nav_links
from tests.live_stack import new_supervisor

pytestmark = pytest.mark.browser

#: The first page run after a navigation imports the dashboard's libraries: allow for it.
LOAD_MS = 30_000
#: Users the mock provider knows, with the claims of their ID token. Anyone else may type a
#: subject on its authorize page and gets ``{"email": <subject>}``.
ANA: dict[str, Any] = {"sub": "idp-ana", "email": "ana@example.test", "email_verified": True,
                       "name": "Ana"}
LENA: dict[str, Any] = {"sub": "idp-lena", "email": "Lena@Example.test",
                        "email_verified": True, "groups": ["staff", "operator"]}
#: An address the provider vouches for, of nobody the dashboards know.
NOBODY = "nobody@example.test"
NOBODY_CLAIMS: dict[str, Any] = {"sub": "idp-nobody", "email": NOBODY, "email_verified": True}
#: A provider that sends no ``email_verified`` (as Microsoft Entra ID does).
OTTO: dict[str, Any] = {"sub": "idp-otto", "email": "otto@example.test",
                        "groups": ["analyst"]}
ONLY_LOOPBACK = re.compile(rf"^(?!https?://{re.escape(LOOPBACK)}[:/])")


@dataclass(frozen=True)
class Dashboard:
    """One running dashboard and its store."""

    url: str
    engine: Engine


@dataclass(frozen=True)
class SsoStack:
    """The mock provider and the two dashboards that sign in through it."""

    provider_url: str
    by_email: Dashboard
    by_claim: Dashboard




def _base_env() -> dict[str, str]:
    # A developer's own OPSDASH_* or STREAMLIT_* settings must not leak into the servers.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPSDASH_", "STREAMLIT_"))}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _auth_secrets(path: Path, *, port: int, provider_url: str) -> None:
    # JSON strings are valid TOML basic strings for these ASCII values.
    values = {
        "redirect_uri": f"http://{LOOPBACK}:{port}/oauth2callback",
        "cookie_secret": secrets.token_urlsafe(32),
        "client_id": "opsdash",
        "client_secret": secrets.token_urlsafe(16),
        "server_metadata_url": f"{provider_url}/.well-known/openid-configuration",
    }
    lines = ["[auth]", *(f"{key} = {json.dumps(value)}" for key, value in values.items())]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _start_dashboard(
    stack: ExitStack, folder: Path, *, provider_url: str, role_claim: str = "",
    trust_email: bool = False,
) -> tuple[Dashboard, Supervisor, RunningService]:
    """Start a dashboard signing in through ``provider_url`` (without waiting for it)."""
    folder.mkdir()
    port = free_loopback_port()
    secrets_file = folder / "secrets.toml"
    _auth_secrets(secrets_file, port=port, provider_url=provider_url)
    env = _base_env()
    env.update({
        "OPSDASH_VAR_DIR": str(folder),
        "OPSDASH_DATABASE_URL": "",
        "OPSDASH_COOKIE_SECRET": secrets.token_urlsafe(32),
        # Nothing listens there: the overview says Prometheus is unavailable, at once.
        "OPSDASH_PROMETHEUS_URL": f"http://{LOOPBACK}:{free_loopback_port()}",
        "OPSDASH_OIDC_ROLE_CLAIM": role_claim,
        "OPSDASH_OIDC_TRUST_EMAIL": "true" if trust_email else "",
    })
    settings = Settings(var_dir=str(folder), database_url="", dashboard_port=port)
    engine = make_engine(settings.resolved_database_url)
    stack.callback(engine.dispose)
    upgrade(engine)
    spec = dashboard_spec(settings)
    spec = replace(spec, argv=(*spec.argv, "--secrets.files", str(secrets_file)))
    supervisor = stack.enter_context(
        new_supervisor(folder / "logs", env))
    service = supervisor.start(spec)
    return Dashboard(url=f"http://{LOOPBACK}:{port}", engine=engine), supervisor, service


@pytest.fixture(scope="module")
def sso(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SsoStack]:
    """The mock provider and both dashboards, started side by side once per module."""
    if importlib.util.find_spec("oidc_provider_mock") is None:
        pytest.skip("the mock OIDC provider is not installed; it is in requirements-dev.txt")
    root = tmp_path_factory.mktemp("sso")
    port = free_loopback_port()
    provider_url = f"http://{LOOPBACK}:{port}"
    users = [arg for claims in (ANA, LENA, NOBODY_CLAIMS, OTTO)
             for arg in ("--user-claims", json.dumps(claims))]
    provider_spec = ServiceSpec(
        name="oidc-provider",
        argv=(sys.executable, "-m", "oidc_provider_mock", "--host", LOOPBACK,
              "--port", str(port), *users),
        ready_url=f"{provider_url}/.well-known/openid-configuration",
        ready_timeout_s=30.0,
    )
    with ExitStack() as stack:
        provider = stack.enter_context(
            new_supervisor(root / "logs", _base_env()))
        started = [(provider, provider.start(provider_spec))]
        by_email, supervisor, service = _start_dashboard(stack, root / "by-email",
                                                         provider_url=provider_url)
        started.append((supervisor, service))
        by_claim, supervisor, service = _start_dashboard(
            stack, root / "by-claim", provider_url=provider_url, role_claim="groups",
            trust_email=True)
        started.append((supervisor, service))
        for supervisor, service in started:
            supervisor.wait_ready([service])
        yield SsoStack(provider_url=provider_url, by_email=by_email, by_claim=by_claim)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from launch()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A page with fresh cookies that may reach nothing but loopback."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    # The mock provider's pages link a stylesheet on a CDN; this network has none.
    context.route(ONLY_LOOPBACK, lambda route: route.abort())
    yield context.new_page()
    context.close()


def _audit(engine: Engine, action: str) -> list[tuple[str, dict[str, Any]]]:
    with session_scope(engine) as session:
        rows = session.scalars(
            select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id))
        return [(row.actor, dict(row.details or {})) for row in rows]


def _sign_in(page: Page, sso: SsoStack, dashboard: Dashboard, subject: str) -> None:
    """Press the single sign-on button and authorize ``subject`` at the mock provider."""
    page.goto(dashboard.url, wait_until="domcontentloaded")
    page.get_by_role("button", name="Sign in with single sign-on").click(timeout=LOAD_MS)
    page.wait_for_url(re.compile(rf"^{re.escape(sso.provider_url)}/oauth2/authorize\?"))
    page.get_by_placeholder("sub").fill(subject)
    page.get_by_role("button", name="Authorize", exact=True).click()
    page.wait_for_url(f"{dashboard.url}/")


def _end_session_at_provider(page: Page, sso: SsoStack, dashboard: Dashboard) -> None:
    """Streamlit's sign-out passes by the provider's end-session page, which asks first."""
    page.wait_for_url(re.compile(rf"^{re.escape(sso.provider_url)}/oauth2/end_session\?"))
    page.get_by_role("button", name="End session").click()
    page.wait_for_url(f"{dashboard.url}/")


def _expect_signed_in(page: Page, who: str, pages: list[str]) -> None:
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_test_id("stText")).to_have_text(who, timeout=LOAD_MS)
    # Each link also holds its icon's name: match the title at the end.
    links = nav_links(page)
    expect(links).to_have_text([re.compile(f"{re.escape(title)}$") for title in pages])


def _expect_sign_in_page(page: Page) -> None:
    expect(page.get_by_role("heading", name="Sign in to opsdash")).to_be_visible(
        timeout=LOAD_MS)
    expect(nav_links(page)).to_have_count(0)
    expect(page.get_by_text("Signed in as")).to_have_count(0)


def test_a_local_account_signs_in_with_single_sign_on_and_out_again(
    sso: SsoStack, page: Page
) -> None:
    engine = sso.by_email.engine
    create_user(engine=engine, actor=SYSTEM, username="ana", role=Role.ANALYST,
                password=None, email=ANA["email"])
    _sign_in(page, sso, sso.by_email, ANA["sub"])
    _expect_signed_in(page, "ana · analyst",
                      ["Overview", "Serving", "Model quality", "Drift", "Models", "Alerts",
                       "Account"])
    assert _audit(engine, "sign_in") == [
        ("ana", {"method": "oidc", "email": "ana@example.test"})]

    page.reload(wait_until="domcontentloaded")
    _expect_signed_in(page, "ana · analyst",
                      ["Overview", "Serving", "Model quality", "Drift", "Models", "Alerts",
                       "Account"])
    assert len(_audit(engine, "sign_in")) == 1  # a reload is not another sign-in

    page.get_by_test_id("stSidebar").get_by_role("button", name="Sign out", exact=True).click()
    _end_session_at_provider(page, sso, sso.by_email)
    _expect_sign_in_page(page)
    expect(page.get_by_role("button", name="Sign in with single sign-on")).to_be_visible()
    assert [actor for actor, _ in _audit(engine, "sign_out")] == ["ana"]

    page.reload(wait_until="domcontentloaded")
    _expect_sign_in_page(page)


def test_an_address_without_a_local_account_is_refused(sso: SsoStack, page: Page) -> None:
    engine = sso.by_email.engine
    _sign_in(page, sso, sso.by_email, NOBODY_CLAIMS["sub"])
    _expect_sign_in_page(page)
    refusal = page.get_by_test_id("stAlert").filter(has_text="opsdash refused the account")
    # The address reads as typed; an invisible word joiner keeps markdown from linking it.
    expect(refusal).to_contain_text(NOBODY.replace("@", f"@{NO_LINK}"))
    failed = [(actor, details) for actor, details in _audit(engine, "sign_in_failed")
              if actor == NOBODY]
    assert failed == [
        (NOBODY, {"method": "oidc", "email": NOBODY, "reason": "unknown_user"})]

    page.reload(wait_until="domcontentloaded")
    expect(refusal).to_be_visible(timeout=LOAD_MS)
    expect(nav_links(page)).to_have_count(0)
    # The refusal was decided once for this sign-in: a reload does not log it again.
    assert len([a for a, _ in _audit(engine, "sign_in_failed") if a == NOBODY]) == 1

    page.get_by_role("button", name="Sign out of single sign-on").click()
    _end_session_at_provider(page, sso, sso.by_email)
    expect(page.get_by_role("button", name="Sign in with single sign-on")).to_be_visible(
        timeout=LOAD_MS)
    expect(refusal).to_have_count(0)


def test_the_role_claim_names_the_role_and_a_disabled_account_stays_shut(
    sso: SsoStack, page: Page
) -> None:
    engine = sso.by_claim.engine
    create_user(engine=engine, actor=SYSTEM, username="lena", role=Role.LABELER,
                password=None, email="lena@example.test")
    _sign_in(page, sso, sso.by_claim, LENA["sub"])
    # The claim's "operator" wins over the local "labeler"; the name is the local one.
    _expect_signed_in(page, "lena · operator",
                      ["Overview", "Serving", "Model quality", "Drift", "Models", "Alerts",
                       "Label feedback", "Audit log", "Account"])
    assert _audit(engine, "sign_in") == [("lena", {
        "method": "oidc", "email": "lena@example.test", "role_claim": "groups",
        "role": "operator"})]

    disable_user(engine=engine, actor=SYSTEM, username="lena")
    page.reload(wait_until="domcontentloaded")
    _expect_sign_in_page(page)
    expect(page.get_by_test_id("stAlert")).to_contain_text("this account is disabled")


def test_an_unverified_address_is_refused_unless_the_provider_is_trusted(
    sso: SsoStack, page: Page
) -> None:
    # Otto has a local admin account, but the provider does not say his address is verified.
    engine = sso.by_email.engine
    create_user(engine=engine, actor=SYSTEM, username="otto", role=Role.ADMIN,
                password=None, email=OTTO["email"])
    _sign_in(page, sso, sso.by_email, OTTO["sub"])
    _expect_sign_in_page(page)
    refusal = page.get_by_test_id("stAlert").filter(has_text="opsdash refused the account")
    expect(refusal).to_contain_text(f"has not verified 'otto@{NO_LINK}example.test'")
    assert "otto" not in [actor for actor, _ in _audit(engine, "sign_in")]
    assert [(a, d) for a, d in _audit(engine, "sign_in_failed") if a == OTTO["email"]] == [
        (OTTO["email"], {"method": "oidc", "email": OTTO["email"],
                         "reason": "unverified_email"})]
    page.get_by_role("button", name="Sign out of single sign-on").click()
    _end_session_at_provider(page, sso, sso.by_email)

    # The other dashboard trusts the provider's addresses (OPSDASH_OIDC_TRUST_EMAIL).
    _sign_in(page, sso, sso.by_claim, OTTO["sub"])
    _expect_signed_in(page, "otto@example.test · analyst",
                      ["Overview", "Serving", "Model quality", "Drift", "Models", "Alerts",
                       "Account"])
