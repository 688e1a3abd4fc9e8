"""The overview against a real Prometheus scraping a real inference service."""

from __future__ import annotations

import re
import time

import pytest
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

import dashboard.auth
from db.models import Prediction
from db.session import session_scope
from services.auth.tokens import issue_token
from services.settings import PROJECT_ROOT
from tests.handshake import use_handshake
from tests.live_stack import COOKIE_SECRET, MODEL, OPERATOR, LiveStack

pytestmark = pytest.mark.integration
REQUESTS = 30


def _logged(stack: LiveStack) -> int:
    with session_scope(stack.engine) as session:
        return int(session.scalar(select(func.count()).select_from(Prediction)) or 0)


def test_overview_shows_what_prometheus_scraped_and_the_store_logged(
    live_stack: LiveStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    total = f'sum(opsdash_predictions_total{{model="{MODEL}"}})'
    # Other tests may share the stack: count from where it stands.
    scraped = live_stack.prometheus.instant(total)
    before = scraped[0].value if scraped else 0.0
    # Traffic in two parts, each scraped, so the counter rises between scrapes.
    live_stack.predict(REQUESTS // 3)
    live_stack.wait_for(total, before + REQUESTS // 3)
    live_stack.predict(REQUESTS - REQUESTS // 3)
    # The exporter counted every request, and Prometheus scraped the count.
    live_stack.wait_for(total, before + REQUESTS)
    rate = f'sum(rate(opsdash_predictions_total{{model="{MODEL}"}}[2m]))'
    live_stack.wait_for(f"count({rate} > 0)", 1)
    deadline = time.monotonic() + 15
    while (logged := _logged(live_stack)) < before + REQUESTS and time.monotonic() < deadline:
        time.sleep(0.2)  # the service writes its prediction log in batches
    assert logged == before + REQUESTS

    direct = live_stack.prometheus.instant(rate)[0].value
    for key, value in live_stack.env.items():
        if key.startswith("OPSDASH_"):
            monkeypatch.setenv(key, value)
    # Signed in as the stack's operator: a real token in place of the browser's cookie.
    token = issue_token(username=OPERATOR, secret=COOKIE_SECRET, ttl_seconds=600)
    monkeypatch.setattr(dashboard.auth, "_session_cookie", lambda: token)
    use_handshake(monkeypatch)
    at = AppTest.from_file(str(PROJECT_ROOT / "app.py"), default_timeout=15).run()
    assert not at.exception
    assert not at.warning, [w.value for w in at.warning]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Predictions, last 24 h"] == f"{logged:,}"
    shown_rate = float(re.sub(r"[^\d.]", "", metrics["Request rate now"]))
    # The rate moves as scrapes arrive; the page must show the same order of magnitude.
    assert 0.5 * direct <= shown_rate <= 2 * direct + 0.01
    p95 = re.fullmatch(r"([\d.,]+) ms", metrics["p95 latency now"])
    assert p95 is not None, metrics["p95 latency now"]
    assert 0 < float(p95.group(1).replace(",", "")) <= 2500
