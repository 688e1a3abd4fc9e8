"""A rollback target's serving record, read from a real Prometheus backfilled with a known
history: churn v1 served 2,100 predictions (5 ms each, about 0.8 % of requests refused)
until v2 was promoted 20 hours before the end; its record is the 24 hours up to its last
prediction, not the last 24 hours (when it served nothing)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from db.schema import upgrade
from db.session import make_engine
from devstack.processes import free_loopback_port
from services.prometheus.source import PrometheusSource
from services.promotion.evidence import gather_evidence
from services.promotion.policy import Policy, judge
from tests.live_stack import new_supervisor
from tests.serving_history import MODEL, History, backfill, record_history

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        shutil.which("prometheus") is None or shutil.which("promtool") is None,
        reason="Debian's prometheus package (prometheus, promtool) is not installed",
    ),
]


@pytest.fixture(scope="module")
def evidence_source(tmp_path_factory: pytest.TempPathFactory
                    ) -> Iterator[tuple[str, History, PrometheusSource]]:
    var = tmp_path_factory.mktemp("promotion-serving")
    database_url = f"sqlite:///{var / 'opsdash.db'}"
    engine = make_engine(database_url)
    upgrade(engine)
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    history = History(start=end - timedelta(hours=48), promoted=end - timedelta(hours=20),
                      end=end, v1_count=2100, v2_count=2400)
    record_history(engine, history)
    engine.dispose()
    prometheus = backfill(make_engine(database_url), var=var, port=free_loopback_port(),
                          end=end, instance=f"127.0.0.1:{free_loopback_port()}")
    supervisor = new_supervisor(var / "logs", {})
    try:
        prometheus.start(supervisor)
        yield database_url, history, PrometheusSource(prometheus.url, timeout=5)
    finally:
        supervisor.stop_all()


def test_the_rollback_target_shows_how_it_served_before_it_was_replaced(
        evidence_source: tuple[str, History, PrometheusSource]) -> None:
    database_url, history, source = evidence_source
    engine = make_engine(database_url)
    try:
        found = gather_evidence(engine=engine, model=MODEL, candidate=1, source=source)
    finally:
        engine.dispose()
    assert found.baseline == 2
    record = found.serving
    assert record is not None
    assert record.unavailable is None
    # Every prediction took 5 ms: the p95 lies in the histogram's (2.5 ms, 5 ms] bucket.
    assert record.p95_latency_s is not None
    assert 0.0025 < record.p95_latency_s <= 0.005
    # About 0.8 % of requests were refused (a seeded draw): a small share, not zero.
    assert record.error_rate is not None
    assert 0.0 < record.error_rate < 0.03
    assert record.window.startswith("24h up to ")
    last = datetime.fromisoformat(record.window.removeprefix("24h up to "))
    assert history.promoted - timedelta(minutes=30) < last <= history.promoted
    within = judge(found, Policy(min_shared=1, latency_p95_s=0.25, error_rate=0.05))
    assert [c.passed for c in within.checks if c.name in ("latency_p95", "error_rate")] \
        == [True, True]
    over = judge(found, Policy(min_shared=1, latency_p95_s=0.001, error_rate=0.05))
    failed = [c.text for c in over.checks if c.passed is False and c.name == "latency_p95"]
    assert len(failed) == 1
    assert failed[0].startswith("p95 latency of v1 ")
    assert "over the SLO 0.001s" in failed[0]
