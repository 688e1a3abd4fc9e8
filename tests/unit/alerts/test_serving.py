"""Serving rules read from a Prometheus played by a loopback stub: the p95 and the error
rate with the active preset's queries, the model's name escaped, too few requests judged
as nothing, and Prometheus down, slow or failing making the rule unknown (never resolved);
the backtest from range queries, unavailable (saying why) when Prometheus is down."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from services.alerts.backtest import backtest
from services.alerts.describe import summary
from services.alerts.observe import observe
from services.alerts.rules import ServingRule
from services.alerts.sources import Sources
from services.alerts.state import RuleState, Status, step
from services.prometheus import metric_names as m
from services.settings import Settings
from tests.http_stub import QuietHandler, serving


class Stub:
    """What the stub answers per panel (by the metric its query reads), and the queries."""

    def __init__(self) -> None:
        self.values = {m.LATENCY_SECONDS: 0.4, m.PREDICTIONS_TOTAL: 2.0, m.ERRORS_TOTAL: 0.1}
        self.status = 200
        self.delay = 0.0
        self.queries: list[str] = []
        self.release = threading.Event()

    def body(self, path: str, query: str) -> bytes:
        metric = next(name for name in (m.LATENCY_SECONDS, m.ERRORS_TOTAL, m.PREDICTIONS_TOTAL)
                      if name in query)
        value = self.values[metric]
        if path.endswith("query_range"):
            start = 1_800_000_000
            result: list[dict[str, Any]] = [{"metric": {"version": "1"}, "values": [
                [start + 3600 * i, str(value * (3 if i >= 3 else 1))] for i in range(6)]}]
            kind = "matrix"
        else:
            result = [{"metric": {"version": "1"}, "value": [1_800_000_000, str(value)]}]
            kind = "vector"
        return json.dumps({"status": "success",
                           "data": {"resultType": kind, "result": result}}).encode()


@pytest.fixture
def stub() -> Iterator[tuple[str, Stub]]:
    state = Stub()

    class Handler(QuietHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)["query"][0]
            state.queries.append(query)
            if state.delay:
                state.release.wait(state.delay)
            if state.status != 200:
                self.answer(state.status, b'{"status":"error","error":"boom"}')
                return
            self.answer(200, state.body(parts.path, query))

    with serving(ThreadingHTTPServer(("127.0.0.1", 0), Handler)) as httpd:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", state
        state.release.set()


def _sources(url: str, tmp_path: Any) -> Sources:
    return Sources.from_settings(Settings(var_dir=str(tmp_path), database_url="",
                                          prometheus_url=url, prometheus_timeout=0.5))


P95 = ServingRule(name="p95", model='churn "eu"', metric="p95_latency", threshold=0.25,
                  resolve_at=0.2, window="5m", min_requests=20, for_seconds=120)
ERRORS = ServingRule(name="errors", model='churn "eu"', metric="error_rate",
                     threshold=0.01, resolve_at=0.005, window="5m", min_requests=20)
NOW = datetime(2027, 1, 4, 12, tzinfo=UTC)


def test_p95_and_error_rate_come_from_the_presets_queries(stub: tuple[str, Stub],
                                                          tmp_path: Any) -> None:
    url, state = stub
    sources = _sources(url, tmp_path)
    seen = observe(engine=None, rule=P95, at=NOW, sources=sources)  # type: ignore[arg-type]
    assert seen.unavailable is None
    assert seen.value == pytest.approx(0.4)
    assert seen.sample_size == round((2.0 + 0.1) * 300)
    assert summary(P95, seen) == 'churn "eu" p95 latency 400 ms > 250 ms'
    assert any('model="churn \\"eu\\""' in q for q in state.queries)  # escaped
    errors = observe(engine=None, rule=ERRORS, at=NOW, sources=sources)  # type: ignore[arg-type]
    assert errors.value == pytest.approx(0.1 / 2.1)


def test_fires_after_its_pending_period_and_resolves_at_the_resolve_level(
        stub: tuple[str, Stub], tmp_path: Any) -> None:
    url, state = stub
    sources = _sources(url, tmp_path)
    clock, status = NOW, RuleState()
    events = []
    for latency in (0.4, 0.4, 0.4, 0.22, 0.19):  # one minute apart
        state.values[m.LATENCY_SECONDS] = latency
        seen = observe(engine=None, rule=P95, at=clock, sources=sources)  # type: ignore[arg-type]
        move = step(P95, status, seen, clock)
        status = move.state
        events.append((move.event, status.status))
        clock += timedelta(minutes=1)
    assert events == [("pending", Status.PENDING), (None, Status.PENDING),
                      ("firing", Status.FIRING), (None, Status.FIRING),  # 0.22 > 0.2
                      ("resolved", Status.INACTIVE)]


def test_too_few_requests_is_nothing_to_judge(stub: tuple[str, Stub], tmp_path: Any) -> None:
    url, state = stub
    state.values[m.PREDICTIONS_TOTAL] = 0.01  # three requests in five minutes
    state.values[m.ERRORS_TOTAL] = 0.0
    seen = observe(engine=None, rule=P95, at=NOW, sources=_sources(url, tmp_path))  # type: ignore[arg-type]
    assert seen.unavailable is None
    assert seen.value is None
    firing = RuleState(Status.FIRING, NOW, NOW)
    assert step(P95, firing, seen, NOW).state.status is Status.FIRING  # no recovery either
    assert step(P95, RuleState(), seen, NOW).event is None


@pytest.mark.parametrize("trouble", ["down", "slow", "error"])
def test_prometheus_trouble_makes_the_rule_unknown(stub: tuple[str, Stub], tmp_path: Any,
                                                    trouble: str) -> None:
    url, state = stub
    if trouble == "down":
        url = "http://127.0.0.1:9"
    elif trouble == "slow":
        state.delay = 5.0
    else:
        state.status = 500
    began = time.monotonic()
    seen = observe(engine=None, rule=P95, at=NOW, sources=_sources(url, tmp_path))  # type: ignore[arg-type]
    assert time.monotonic() - began < 4.0
    assert seen.unavailable is not None
    assert seen.unavailable.startswith("Prometheus could not be read")
    assert "\n" not in seen.unavailable
    firing = RuleState(Status.FIRING, NOW, NOW)
    move = step(P95, firing, seen, NOW)
    assert (move.event, move.state.status) == ("unknown", Status.UNKNOWN)


def test_without_sources_a_serving_rule_is_unknown_saying_why() -> None:
    seen = observe(engine=None, rule=P95, at=NOW)  # type: ignore[arg-type]
    assert seen.unavailable is not None
    assert "Prometheus" in seen.unavailable


def test_backtest_replays_range_queries_and_says_when_prometheus_is_down(
        stub: tuple[str, Stub], tmp_path: Any) -> None:
    url, _ = stub
    start = datetime.fromtimestamp(1_800_000_000, tz=UTC)
    rule = ServingRule(name="errors", model="churn", metric="error_rate", threshold=0.06,
                       resolve_at=0.05, window="5m", min_requests=20)
    result = backtest(engine=None, rule=rule, start=start,  # type: ignore[arg-type]
                      end=start + timedelta(hours=6), sources=_sources(url, tmp_path))
    assert result.unavailable is None
    assert [s[0] for s in result.steps] == [start + timedelta(hours=i) for i in range(6)]
    assert result.fired == 0  # errors and requests triple alike: the rate stays 4.8 %
    latency = ServingRule(name="p95", model="churn", metric="p95_latency", threshold=0.5,
                          resolve_at=0.45)
    fired = backtest(engine=None, rule=latency, start=start,  # type: ignore[arg-type]
                     end=start + timedelta(hours=6), sources=_sources(url, tmp_path))
    assert [e.fired_at for e in fired.episodes] == [start + timedelta(hours=3)]
    down = backtest(engine=None, rule=rule, start=start,  # type: ignore[arg-type]
                    end=start + timedelta(hours=6),
                    sources=_sources("http://127.0.0.1:9", tmp_path))
    assert down.steps == []
    assert down.unavailable is not None
    assert "Prometheus" in down.unavailable
