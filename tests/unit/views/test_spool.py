"""The spool figures' queries and what a down Prometheus gives (a fake at the HTTP boundary)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.prometheus.results import InstantResult, InstantSeries, RangeResult
from services.prometheus.source import MetricsSourceError
from services.views.spool import spool_queries, spool_status

END = datetime(2026, 12, 1, 12, tzinfo=UTC)


class _Down:
    url = "http://127.0.0.1:9"

    def instant(self, query: str) -> list[InstantSeries]:
        raise MetricsSourceError("Prometheus at http://127.0.0.1:9 refused the connection",
                                 url=self.url, kind="refused")

    def instant_result(self, query: str) -> InstantResult:
        raise AssertionError("not used")

    def range(self, query: str, *, start: datetime, end: datetime, step_s: float
              ) -> RangeResult:
        raise AssertionError("not used")


def test_the_queries_cover_the_window_and_are_evaluated_at_its_end() -> None:
    rows, held = spool_queries(start=END - timedelta(hours=6), end=END,
                               job='a"b')
    at = f"@ {END.timestamp():.3f}"
    assert rows == ('sum by (event) (increase(opsdash_prediction_spool_rows_total'
                    f'{{job="a\\"b"}}[21600s] {at}))')
    assert held == f'sum(opsdash_prediction_spool_bytes{{job="a\\"b"}} {at})'


def test_an_empty_window_is_refused() -> None:
    with pytest.raises(ValueError, match="must end after it starts"):
        spool_queries(start=END, end=END)


def test_a_down_prometheus_gives_its_message_not_an_exception() -> None:
    status = spool_status(source=_Down(), start=END - timedelta(hours=1), end=END)
    assert status.unavailable == "Prometheus at http://127.0.0.1:9 refused the connection"
    assert not status.exported
