"""The Serving page's spool figures against a real Prometheus scraping a real inference service."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from services.views.spool import spool_status
from tests.live_stack import LiveStack

pytestmark = pytest.mark.integration
REQUESTS = 20
SPOOLED = 'sum(opsdash_prediction_spool_rows_total{event="spooled"})'
SEEN = 'count_over_time(opsdash_prediction_spool_rows_total{event="spooled"}[10m])'
HELD = "sum(opsdash_prediction_spool_bytes)"


def test_the_spool_figures_count_what_the_service_spooled_and_stored(
    live_stack: LiveStack,
) -> None:
    # Prometheus counts a counter's rise from its first scraped sample: wait until the
    # service's counters have been scraped once before sending (a long-running service's
    # have been).
    live_stack.wait_for(f"count({SEEN} >= 1)", 1)
    before = live_stack.prometheus.instant(SPOOLED)[0].value
    start = datetime.now(UTC)
    live_stack.predict(REQUESTS)
    live_stack.wait_for(SPOOLED, before + REQUESTS)
    # Every answered prediction reaches the store, then leaves the spool.
    live_stack.wait_for(HELD, 0)
    time.sleep(1.5)  # one more scrape, so the window's end holds the settled values
    status = spool_status(source=live_stack.prometheus, start=start - timedelta(minutes=1),
                          end=datetime.now(UTC))
    assert status.unavailable is None
    assert status.exported
    # increase() extrapolates to the window's edges: never below what happened, and on a
    # loaded machine (few samples in the window) by up to about half a scrape interval's
    # worth at each edge; far more would be counting something twice.
    assert REQUESTS <= status.rows["spooled"] <= 5 * REQUESTS
    assert status.rows["replayed"] == 0
    assert status.rows["rejected"] == 0
    assert status.held_bytes == 0


def test_a_past_window_reads_that_window_not_now(live_stack: LiveStack) -> None:
    long_ago = datetime.now(UTC) - timedelta(days=30)
    status = spool_status(source=live_stack.prometheus, start=long_ago - timedelta(hours=1),
                          end=long_ago)
    assert status.unavailable is None
    assert not status.exported  # nothing was scraped then
