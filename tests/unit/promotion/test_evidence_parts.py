"""Evidence snapshots survive JSON exactly; the serving record never raises."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.prometheus.results import InstantResult, InstantSeries, RangeResult
from services.prometheus.source import PrometheusSource
from services.promotion.evidence import ClassRecall, Estimate, Evidence, ServingRecord
from services.promotion.serving_record import serving_record
from tests.unit.promotion.test_policy import evidence

LAST = datetime(2026, 12, 6, 18, 30, tzinfo=UTC)


@pytest.mark.parametrize("serving", [
    None,
    ServingRecord(window="24h up to 2026-12-06T18:30:00+00:00", p95_latency_s=0.0123456789,
                  error_rate=1 / 3),
    ServingRecord(window="24h", p95_latency_s=None, error_rate=None,
                  unavailable="Prometheus could not answer: refused"),
])
def test_a_snapshot_round_trips_through_json_text_exactly(serving: ServingRecord | None) -> None:
    original = evidence(serving=serving)
    text = json.dumps(original.to_json(), allow_nan=False)
    assert Evidence.from_json(json.loads(text)) == original


def test_a_snapshot_without_a_baseline_or_figures_round_trips() -> None:
    none = Estimate(None, None, None)
    empty = Evidence(
        model="tickets", baseline=None, candidate=1, shared=0, accuracy_baseline=none,
        accuracy_candidate=none, macro_f1_baseline=none, macro_f1_candidate=none,
        accuracy_difference=none, macro_f1_difference=none, disagreements=0,
        only_baseline_right=0, only_candidate_right=0, mcnemar_p=None,
        per_class=(ClassRecall("a", 0, None, None),), serving=None,
        computed_at=datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=timezone(timedelta(hours=2))),
    )
    text = json.dumps(empty.to_json(), allow_nan=False)
    restored = Evidence.from_json(json.loads(text))
    assert restored == empty
    assert restored.computed_at.utcoffset() == timedelta(hours=2)


def test_a_snapshot_holds_plain_json_values_only() -> None:
    data = evidence().to_json()
    assert data["accuracy_difference"] == {"value": 0.10, "low": 0.02, "high": 0.15}
    assert data["per_class"][0] == {"label": "stays", "support": 300, "baseline": 0.85,
                                    "candidate": 0.9}
    assert data["computed_at"] == "2026-12-07T12:00:00+00:00"
    assert data["format"] == 1


@pytest.mark.parametrize("broken", [
    {},
    {"format": 99},
    {**evidence().to_json(), "accuracy_baseline": {"value": 1}},
    {**evidence().to_json(), "computed_at": "yesterday"},
    {**evidence().to_json(), "per_class": [{"label": "a", "colour": "red"}]},
])
def test_something_else_is_refused_in_one_line(broken: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="not an evidence snapshot") as caught:
        Evidence.from_json(broken)
    assert "\n" not in str(caught.value)


class Answers:
    """A metrics source answering each kind of query with fixed series (the boundary)."""

    url = "http://prometheus.test"

    def __init__(self, latency: float | None, errors: float | None,
                 predictions: float | None) -> None:
        self.values = {"histogram_quantile": latency, "prediction_errors_total": errors,
                       "predictions_total": predictions}
        self.queries: list[str] = []

    def instant(self, query: str) -> list[InstantSeries]:
        self.queries.append(query)
        for key, value in self.values.items():
            if key in query:
                return [] if value is None else [InstantSeries(labels={}, value=value)]
        raise AssertionError(query)

    def instant_result(self, query: str) -> InstantResult:
        return InstantResult(samples=self.instant(query), warnings=())

    def range(self, query: str, *, start: datetime, end: datetime,
              step_s: float) -> RangeResult:
        raise AssertionError("no range query expected")


def test_the_record_reads_p95_and_the_error_share_where_the_version_last_served() -> None:
    source = Answers(latency=0.042, errors=5.0, predictions=995.0)
    record = serving_record(source=source, model='ch"urn', version=2, last_served=LAST)
    assert (record.p95_latency_s, record.error_rate, record.unavailable) == (0.042, 0.005, None)
    assert record.window == "24h up to 2026-12-06T18:30:00+00:00"
    assert len(source.queries) == 3
    for query in source.queries:
        assert 'model="ch\\"urn"' in query
        assert 'version="2"' in query
        assert f"[24h] @ {LAST.timestamp():.3f}" in query


def test_no_traffic_gives_no_figures_and_no_error_series_a_zero_rate() -> None:
    quiet = serving_record(source=Answers(None, None, None), model="churn", version=2,
                           last_served=LAST)
    assert (quiet.p95_latency_s, quiet.error_rate, quiet.unavailable) == (None, None, None)
    clean = serving_record(source=Answers(0.01, None, 40.0), model="churn", version=2,
                           last_served=LAST)
    assert clean.error_rate == 0.0
    no_quantile = serving_record(source=Answers(float("nan"), None, 3.0), model="churn",
                                 version=2, last_served=LAST)
    assert no_quantile.p95_latency_s is None


def test_a_prometheus_that_refuses_gives_a_reason_not_an_exception() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    source = PrometheusSource(f"http://127.0.0.1:{port}", timeout=2)
    record = serving_record(source=source, model="churn", version=2, last_served=LAST)
    assert record.p95_latency_s is None
    assert record.error_rate is None
    assert record.unavailable is not None
    assert record.unavailable.startswith("Prometheus could not answer")
    assert "\n" not in record.unavailable
