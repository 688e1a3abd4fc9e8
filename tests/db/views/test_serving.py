"""serving_view: versions checked against the registry, one request a panel, markers, SLOs."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from db.repositories import registry
from db.session import session_scope
from services.prometheus.presets import active_preset
from services.prometheus.results import InstantSeries, RangeResult, RangeSeries
from services.prometheus.source import MetricsSourceError
from services.settings import Settings
from services.views.serving import (
    PANELS,
    UnknownVersionError,
    rate_window,
    serving_view,
    slo_status,
)
from tests.factories import make_model

END = datetime(2026, 11, 20, 12, tzinfo=UTC)
START = END - timedelta(hours=6)


class FakeSource:
    """Answers range queries from a function of the query; counts them."""

    url = "http://fake"

    def __init__(self, answer) -> None:  # type: ignore[no-untyped-def]
        self.answer = answer
        self.queries: list[str] = []
        self.request_count = 0

    def instant(self, query: str) -> list[InstantSeries]:
        raise AssertionError("the page asks range queries only")

    def instant_result(self, query: str):  # type: ignore[no-untyped-def]
        raise AssertionError("the page asks range queries only")

    def range(self, query: str, *, start: datetime, end: datetime, step_s: float) -> RangeResult:
        self.queries.append(query)
        self.request_count += 1
        return self.answer(query)


def _series(label: str, value: str, values: Sequence[float]) -> RangeSeries:
    times = tuple(START.timestamp() + 60 * i for i in range(len(values)))
    return RangeSeries(labels={label: value}, times=times, values=tuple(values))


@pytest.fixture
def two_versions(engine: Engine) -> Engine:
    model_id, _ = make_model(engine, name="churn", at=START - timedelta(days=1))
    with session_scope(engine, write=True) as session:
        v2 = registry.add_version(session=session, model_id=model_id, artifact_path="/x",
                                  artifact_sha256="0" * 64, created_by="test")
        registry.set_production(session=session, model_id=model_id, version_id=v2.id,
                                actor="ann", reason="better", at=START + timedelta(hours=2))
    return engine


def test_one_request_a_panel_for_any_number_of_versions(
    two_versions: Engine, settings: Settings
) -> None:
    source = FakeSource(lambda q: RangeResult(series=[], warnings=()))
    view = serving_view(source=source, preset=active_preset(settings), engine=two_versions,
                        model="churn", versions=["1", "2"], start=START, end=END)
    assert view.requests == len(PANELS) == len(source.queries)
    by_panel = dict(zip([p.name for p in PANELS], source.queries, strict=True))
    assert 'version=~"1|2"' in by_panel["request_rate"]
    assert 'version=~"1|2"' in by_panel["latency_p95"]
    # Failures before any version answered carry an empty version: always included.
    assert 'version=~"|1|2"' in by_panel["error_rate"]
    assert view.versions == ("1", "2")
    (marker,) = view.markers
    assert (marker.text, marker.actor, marker.from_version) == ("v2 promoted", "ann", "1")
    assert view.panels["request_rate"].empty_reason == (
        "no samples yet: Prometheus needs two scrapes for a rate")


def test_a_version_not_in_the_registry_never_reaches_a_query(
    two_versions: Engine, settings: Settings
) -> None:
    source = FakeSource(lambda q: RangeResult(series=[], warnings=()))
    with pytest.raises(UnknownVersionError, match="churn has no version 3"):
        serving_view(source=source, preset=active_preset(settings), engine=two_versions,
                     model="churn", versions=["1", "3"], start=START, end=END)
    with pytest.raises(UnknownVersionError):
        serving_view(source=source, preset=active_preset(settings), engine=two_versions,
                     model="churn", versions=['1"} or vector(1) #'], start=START, end=END)
    assert source.queries == []


def test_an_unreachable_prometheus_is_asked_once(
    two_versions: Engine, settings: Settings
) -> None:
    def refuse(query: str) -> RangeResult:
        raise MetricsSourceError("Prometheus at http://fake is unavailable: no answer within "
                                 "3 s", url="http://fake", kind="timeout")

    source = FakeSource(refuse)
    view = serving_view(source=source, preset=active_preset(settings), engine=two_versions,
                        model="churn", versions=None, start=START, end=END)
    assert len(source.queries) == 1
    assert view.unavailable is not None
    assert all(p.error == view.unavailable for p in view.panels.values())


def test_a_bad_query_fails_its_panel_only(two_versions: Engine, settings: Settings) -> None:
    def answer(query: str) -> RangeResult:
        if "process_cpu" in query:
            raise MetricsSourceError("bad query: parse error", url="http://fake",
                                     kind="bad_query")
        return RangeResult(series=[_series("version", "1", [1.0])], warnings=("partial",))

    view = serving_view(source=FakeSource(answer), preset=active_preset(settings),
                        engine=two_versions, model="churn", versions=None, start=START,
                        end=END)
    assert view.unavailable is None
    assert view.panels["cpu"].error == "bad query: parse error"
    assert view.panels["request_rate"].warnings == ("partial",)
    assert view.panels["request_rate"].empty_reason is None


def test_slo_status_takes_the_worst_version_and_the_error_ratio(
    two_versions: Engine, settings: Settings
) -> None:
    def answer(query: str) -> RangeResult:
        if "latency" in query and "0.95" in query:
            return RangeResult(series=[_series("version", "1", [0.1, 0.3, math.nan]),
                                       _series("version", "2", [0.2, 0.2, 0.2])], warnings=())
        if "errors" in query:
            return RangeResult(series=[_series("reason", "validation", [0.0, 1.0, 1.0])],
                               warnings=())
        if "sum by (version) (rate(opsdash_predictions_total" in query:
            return RangeResult(series=[_series("version", "1", [9.0, 9.0, 0.0])], warnings=())
        return RangeResult(series=[], warnings=())

    view = serving_view(source=FakeSource(answer), preset=active_preset(settings),
                        engine=two_versions, model="churn", versions=None, start=START,
                        end=END)
    latency, errors = slo_status(view, latency_p95_target_s=0.25, error_ratio_target=0.05)
    # Worst version per point: 0.2, 0.3, 0.2 -> the latest 0.2 is within; 1 of 3 out.
    assert latency.current == pytest.approx(0.2)
    assert latency.met is True
    assert latency.share_out == pytest.approx(1 / 3)
    # Error ratio per point: 0/9, 1/10, 1/1 -> latest 1.0 is out; 2 of 3 out.
    assert errors.current == pytest.approx(1.0)
    assert errors.met is False
    assert errors.share_out == pytest.approx(2 / 3)


def test_no_traffic_means_no_slo_figure_not_zero(two_versions: Engine, settings: Settings) -> None:
    view = serving_view(source=FakeSource(lambda q: RangeResult(series=[], warnings=())),
                        preset=active_preset(settings), engine=two_versions, model="churn",
                        versions=None, start=START, end=END)
    for status in slo_status(view, latency_p95_target_s=0.25, error_ratio_target=0.01):
        assert status.current is None
        assert status.share_out is None
        assert status.met is None


@pytest.mark.parametrize(("step", "window"), [(1.0, "20s"), (14.0, "20s"), (300.0, "300s"),
                                              (2016.5, "2017s")])
def test_the_rate_window_covers_a_step_and_four_scrapes(step: float, window: str) -> None:
    assert rate_window(step) == window
