"""The worker's /metrics: the last published figures, GET only, small, names escaped."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from services.alerts.figures import DriftFigure, Figures, QualityFigure, RuleFiring
from services.worker.metrics_server import MetricsServer, start_metrics_server

HOSTILE = 'ch"urn\\ {{x}}\n日本'
FIGURES = Figures(
    computed_at=datetime(2026, 12, 1, 12, tzinfo=UTC),
    quality=(QualityFigure(HOSTILE, "production", "accuracy", "1d", 0.64, 0.62, 0.66, 1920),
             QualityFigure("churn", "2", "recall:churns", "90m", 0.5, 0.4, 0.6, 80)),
    label_backlog=((HOSTILE, 1204),),
    drift_share=(DriftFigure("churn", "1d", 0.625, 480), DriftFigure("churn", "7d", 0.25, 3100)),
    firing=(RuleFiring("churn accuracy", "critical", True), RuleFiring('q"uiet', "info", False)),
)


class Published:
    """What the worker task last published; the test swaps it."""

    def __init__(self) -> None:
        self.figures = Figures()

    def __call__(self) -> Figures:
        return self.figures


@pytest.fixture
def served() -> Iterator[tuple[MetricsServer, Published]]:
    published = Published()
    server = start_metrics_server(port=0, figures=published)
    try:
        yield server, published
    finally:
        server.close()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_the_published_figures_are_served(served: tuple[MetricsServer, Published]) -> None:
    server, published = served
    url = f"http://127.0.0.1:{server.port}/metrics"
    before = requests.get(url, timeout=5)
    assert before.status_code == 200
    assert "opsdash_model_quality" not in samples(before.text)  # nothing computed yet
    published.figures = FIGURES
    found = samples(requests.get(url, timeout=5).text)
    key = (("metric", "accuracy"), ("model", HOSTILE), ("version", "production"),
           ("window", "1d"))
    for bound, value in (("estimate", 0.64), ("lower", 0.62), ("upper", 0.66)):
        labels = tuple(sorted((*key, ("bound", bound))))
        assert found[("opsdash_model_quality", labels)] == value
    assert found[("opsdash_model_quality_labels", key)] == 1920
    assert found[("opsdash_label_backlog", (("model", HOSTILE),))] == 1204
    assert found[("opsdash_drift_share", (("model", "churn"), ("window", "1d")))] == 0.625
    assert found[("opsdash_drift_share", (("model", "churn"), ("window", "7d")))] == 0.25
    assert found[("opsdash_drift_rows", (("model", "churn"), ("window", "7d")))] == 3100
    assert found[("opsdash_alert_firing", (("rule", "churn accuracy"),
                                           ("severity", "critical")))] == 1
    assert found[("opsdash_alert_firing", (("rule", 'q"uiet'), ("severity", "info")))] == 0
    assert FIGURES.computed_at is not None
    stamp = FIGURES.computed_at.timestamp()
    assert found[("opsdash_worker_figures_timestamp_seconds", ())] == stamp


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"])
def test_only_get_is_answered(served: tuple[MetricsServer, Published], method: str) -> None:
    server, _ = served
    answer = requests.request(method, f"http://127.0.0.1:{server.port}/metrics",
                              data=b"x" * 10_000, timeout=5)
    assert answer.status_code == 405
    assert answer.headers["Allow"] == "GET"


def test_other_paths_are_not_found(served: tuple[MetricsServer, Published]) -> None:
    server, published = served
    published.figures = FIGURES
    for path in ("/", "/metrics/x", "/../etc/passwd", "/healthz"):
        answer = requests.get(f"http://127.0.0.1:{server.port}{path}", timeout=5)
        assert answer.status_code == 404
        assert "opsdash" not in answer.text


def test_a_taken_port_is_refused(served: tuple[MetricsServer, Published]) -> None:
    server, published = served
    with pytest.raises(OSError, match="in use"):
        start_metrics_server(port=server.port, figures=published)
