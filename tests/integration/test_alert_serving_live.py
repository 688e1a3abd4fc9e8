"""Serving rules against a real Prometheus backfilled with a known history: churn served
2,100 then 2,400 predictions of 5 ms over 48 hours with about 0.8 % of requests refused.
The backtest replays the rules from range queries through the active preset: a p95 rule
above 5 ms never fires, one at 1 ms fires at once and stays firing; an error-rate rule at
5 % never fires."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from db.schema import upgrade
from db.session import make_engine
from devstack.processes import free_loopback_port
from services.alerts.backtest import backtest
from services.alerts.rules import ServingRule
from services.alerts.sources import Sources
from services.alerts.state import Status
from services.settings import Settings
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
def backfilled(tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[tuple[Sources, History]]:
    var: Path = tmp_path_factory.mktemp("alert-serving")
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
        settings = Settings(var_dir=str(var), database_url=database_url,
                            prometheus_url=prometheus.url)
        yield Sources.from_settings(settings), history
    finally:
        supervisor.stop_all()


def _rule(metric: str, threshold: float) -> ServingRule:
    return ServingRule(name=f"{metric} {threshold}", model=MODEL, metric=metric,
                       threshold=threshold, resolve_at=threshold, window="1h",
                       min_requests=20)


def test_serving_rules_replay_the_backfilled_history(backfilled: tuple[Sources, History]
                                                     ) -> None:
    sources, history = backfilled
    start, end = history.start + timedelta(hours=2), history.end - timedelta(hours=1)
    calm = backtest(engine=None, rule=_rule("p95_latency", 0.25),  # type: ignore[arg-type]
                    start=start, end=end, sources=sources)
    assert calm.unavailable is None
    judged = [obs for _, obs, _ in calm.steps if obs.value is not None]
    assert len(judged) >= 40  # hourly, with requests in every hour
    assert all(0.0025 < (obs.value or 0) <= 0.005 for obs in judged)
    assert calm.fired == 0
    tight = backtest(engine=None, rule=_rule("p95_latency", 0.001),  # type: ignore[arg-type]
                     start=start, end=end, sources=sources)
    assert tight.fired == 1
    assert tight.episodes[0].fired_at == tight.steps[0][0]
    assert tight.steps[-1][2] is Status.FIRING
    errors = backtest(engine=None, rule=_rule("error_rate", 0.05),  # type: ignore[arg-type]
                      start=start, end=end, sources=sources)
    rates = [obs.value for _, obs, _ in errors.steps if obs.value is not None]
    assert rates
    assert all(0.0 <= r < 0.05 for r in rates)
    assert errors.fired == 0
