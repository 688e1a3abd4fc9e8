"""Overview figures from the store, checked against hand-counted rows."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine

from services.prometheus.results import InstantSeries
from services.prometheus.source import MetricsSourceError
from services.views.overview import MIN_LABELS_PER_DAY, serving_snapshot, store_overview
from tests.factories import log_predictions, make_model

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def test_counts_shares_and_accuracy_match_hand_counts(engine: Engine) -> None:
    model_id, version_id = make_model(engine, at=NOW - timedelta(days=20))
    rows: list[tuple[datetime, str, str | None]] = []
    # 2 h ago: 4 predictions, 3 labelled, 2 right.
    t = NOW - timedelta(hours=2)
    rows += [(t, "stays", "stays"), (t, "stays", "churns"), (t, "churns", "churns"),
             (t, "stays", None)]
    # 3 days ago: 6 predictions, 2 labelled, 1 right.
    t = NOW - timedelta(days=3)
    rows += [(t, "churns", "churns"), (t, "churns", "stays")] + [(t, "stays", None)] * 4
    # 9 days ago: outside the 7-day window, inside the trend.
    t = NOW - timedelta(days=9)
    rows += [(t, "stays", "stays")] * MIN_LABELS_PER_DAY
    log_predictions(engine, model_id=model_id, version_id=version_id, rows=rows)

    (ov,) = store_overview(engine=engine, now=NOW)
    assert ov.name == "churn"
    assert ov.production_version == 1
    assert ov.predictions_24h == 4
    assert ov.predictions_7d == 10
    assert ov.labelled_7d == 5
    assert ov.ground_truth_share_7d == 0.5
    assert ov.accuracy_7d == 3 / 5
    by_day = {d.day: d for d in ov.daily}
    assert len(ov.daily) == 14
    assert by_day[date(2026, 3, 10)].labelled == 3
    assert by_day[date(2026, 3, 10)].accuracy is None  # fewer than the minimum labels
    assert by_day[date(2026, 3, 1)].accuracy == 1.0


def test_days_follow_the_display_time_zone(engine: Engine) -> None:
    model_id, version_id = make_model(engine)
    # 03:30 UTC on 10 March is still 9 March in New York (UTC-4 after 8 March 2026).
    t = datetime(2026, 3, 10, 3, 30, tzinfo=UTC)
    log_predictions(engine, model_id=model_id, version_id=version_id,
                    rows=[(t, "stays", "stays")])
    (ov,) = store_overview(engine=engine, tz="America/New_York", now=NOW)
    labelled = {d.day: d.labelled for d in ov.daily if d.labelled}
    assert labelled == {date(2026, 3, 9): 1}


def test_a_model_without_production_or_traffic_reads_as_empty(engine: Engine) -> None:
    make_model(engine, production=False)
    (ov,) = store_overview(engine=engine, now=NOW)
    assert ov.production_version is None
    assert ov.predictions_7d == 0
    assert ov.ground_truth_share_7d is None
    assert ov.accuracy_7d is None


class _Source:
    url = "http://prom.test"

    def __init__(self, answers: list[list[InstantSeries]] | None = None) -> None:
        self.answers = answers
        self.calls = 0

    def instant(self, query: str) -> list[InstantSeries]:
        self.calls += 1
        if self.answers is None:
            raise MetricsSourceError("Prometheus at http://prom.test is unavailable: x",
                                     url=self.url)
        return self.answers.pop(0)


def test_serving_snapshot_joins_rate_and_latency_by_model() -> None:
    source = _Source([
        [InstantSeries({"model": "churn"}, 2.0)],
        [InstantSeries({"model": "churn"}, 0.012), InstantSeries({"model": "other"}, float("nan"))],
    ])
    snap = serving_snapshot(source=source)
    assert snap.error is None
    assert snap.get("churn").request_rate == 2.0
    assert snap.get("churn").latency_p95_seconds == 0.012
    assert snap.get("other").latency_p95_seconds is None
    assert snap.get("absent").request_rate is None


def test_a_failing_source_is_asked_once_and_the_error_kept() -> None:
    source = _Source(None)
    snap = serving_snapshot(source=source)
    assert source.calls == 1
    assert snap.error is not None
    assert "http://prom.test" in snap.error
