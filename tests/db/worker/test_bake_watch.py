"""The bake watch against a real store: a breach rolls back as ``system`` with its numbers,
a clean bake does not, and missing figures never do.

Prometheus is the one fake (:class:`FakePrometheus`, at the metrics-source boundary); the
store, the ledger and the audit log are real.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine

from db.base import utcnow
from db.repositories import registry
from db.session import session_scope
from services.access.principal import SYSTEM
from services.audit import query_audit
from services.prometheus import metric_names as m
from services.prometheus.results import InstantResult, InstantSeries, RangeResult
from services.prometheus.source import MetricsSourceError
from services.promotion.actions import ledger
from services.worker.bake import BakeLimits
from services.worker.bake_watch import bake_step
from tests.factories import log_predictions, make_model

LIMITS = BakeLimits(latency_p95_s=0.25, error_rate=0.01, min_labels=100, accuracy_drop=0.05)
PERIOD = timedelta(minutes=60)


class FakePrometheus:
    """Answers the bake watch's three queries with fixed figures (or refuses, when down)."""

    url = "http://prometheus.test"

    def __init__(self, *, answered: float = 0.0, failed: float = 0.0,
                 p95: float | None = None, down: bool = False) -> None:
        self.figures = {"answered": answered, "failed": failed, "p95": p95}
        self.down = down
        self.queries: list[str] = []

    def instant(self, query: str) -> list[InstantSeries]:
        self.queries.append(query)
        if self.down:
            raise MetricsSourceError("Prometheus at http://prometheus.test refused the "
                                     "connection", url=self.url, kind="refused")
        if m.LATENCY_SECONDS in query:
            value = self.figures["p95"]
        elif m.ERRORS_TOTAL in query:
            value = self.figures["failed"]
        else:
            value = self.figures["answered"]
        return [] if value is None else [InstantSeries(labels={}, value=value)]

    def instant_result(self, query: str) -> InstantResult:
        return InstantResult(samples=self.instant(query), warnings=())

    def range(self, query: str, *, start: datetime, end: datetime, step_s: float) -> RangeResult:
        raise AssertionError("the bake watch reads instant figures only")


def _promoted(engine: Engine, *, at: datetime) -> tuple[int, int, int]:
    """churn v1 in production since long before ``at``, v2 promoted over it at ``at``."""
    model_id, v1 = make_model(engine, at=at - timedelta(days=2))
    with session_scope(engine, write=True) as session:
        v2 = registry.add_version(session=session, model_id=model_id,
                                  artifact_path="/nonexistent/churn-v2.pkl",
                                  artifact_sha256="1" * 64, created_by="test").id
        registry.set_production(session=session, model_id=model_id, version_id=v2,
                                actor="alice", reason="better on holdout", at=at)
    return model_id, v1, v2


def _production(engine: Engine) -> int | None:
    with session_scope(engine) as session:
        model = registry.get_model(session=session, name="churn")
        found = registry.production_version(session=session, model_id=model.id)
        return found.version if found else None


def _labelled(engine: Engine, *, model_id: int, version_id: int, start: datetime,
              correct: int, wrong: int) -> None:
    rows = [(start + timedelta(seconds=i), "stays", "stays") for i in range(correct)]
    rows += [(start + timedelta(seconds=correct + i), "stays", "churns") for i in range(wrong)]
    log_predictions(engine, model_id=model_id, version_id=version_id, rows=rows)


def _system_rollbacks(engine: Engine) -> list[str]:
    entries = query_audit(engine=engine, actor=SYSTEM, who="system")
    return [entry.object_id for entry in entries if "rollback" in entry.action]


def test_an_error_rate_breach_rolls_back_as_system_with_its_numbers(engine: Engine) -> None:
    promoted_at = utcnow() - timedelta(minutes=10)
    _promoted(engine, at=promoted_at)
    prometheus = FakePrometheus(answered=380, failed=20, p95=0.05)

    looks = bake_step(engine=engine, source=prometheus, limits=LIMITS, period=PERIOD)

    assert [(look.decision.breach, look.rolled_back) for look in looks] == [(True, True)]
    assert _production(engine) == 1
    latest = ledger(engine=engine, model="churn")[0]
    assert (latest.kind, latest.from_version, latest.to_version, latest.actor) == (
        "rollback", 2, 1, "system")
    assert "error rate 5.00% (interval 2.45% to 9.92%) over the SLO 1.00%" in latest.reason
    assert latest.trigger["error_rate"] == pytest.approx(0.05)
    assert latest.trigger["requests"] == pytest.approx(400)
    assert len(_system_rollbacks(engine)) == 1
    # The queries name exactly the new version of this model, counted from the promotion.
    assert all('model="churn",version="2"' in q for q in prometheus.queries)
    assert all(f"@ {promoted_at.timestamp():.3f}" in q for q in prometheus.queries)


def test_a_clean_bake_keeps_the_new_version(engine: Engine) -> None:
    _promoted(engine, at=utcnow() - timedelta(minutes=10))
    prometheus = FakePrometheus(answered=1000, failed=2, p95=0.04)

    looks = bake_step(engine=engine, source=prometheus, limits=LIMITS, period=PERIOD)

    assert [(look.decision.breach, look.rolled_back) for look in looks] == [(False, False)]
    assert _production(engine) == 2
    assert ledger(engine=engine, model="churn")[0].kind == "promote"
    assert _system_rollbacks(engine) == []


def test_prometheus_down_is_never_a_reason_to_roll_back(engine: Engine) -> None:
    _promoted(engine, at=utcnow() - timedelta(minutes=10))

    looks = bake_step(engine=engine, source=FakePrometheus(down=True), limits=LIMITS,
                      period=PERIOD)

    assert [look.decision.breach for look in looks] == [False]
    assert "serving figures unavailable" in looks[0].decision.reason
    assert _production(engine) == 2


def test_an_accuracy_drop_on_stored_labels_rolls_back(engine: Engine) -> None:
    now = utcnow()
    promoted_at = now - timedelta(minutes=20)
    model_id, v1, v2 = _promoted(engine, at=promoted_at)
    # Over the 20 minutes before the promotion v1 was right 90 times in 100; since, v2 70.
    _labelled(engine, model_id=model_id, version_id=v1, start=promoted_at - timedelta(minutes=15),
              correct=90, wrong=10)
    _labelled(engine, model_id=model_id, version_id=v2, start=promoted_at + timedelta(minutes=1),
              correct=70, wrong=30)
    # Labels of v1 from long before the window do not count.
    _labelled(engine, model_id=model_id, version_id=v1, start=promoted_at - timedelta(days=1),
              correct=0, wrong=500)

    looks = bake_step(engine=engine, source=FakePrometheus(answered=1000), limits=LIMITS,
                      period=PERIOD, now=now)

    assert looks[0].rolled_back
    latest = ledger(engine=engine, model="churn")[0]
    assert (latest.kind, latest.to_version, latest.actor) == ("rollback", 1, "system")
    assert latest.trigger["new_accuracy"] == pytest.approx(0.7)
    assert latest.trigger["old_accuracy"] == pytest.approx(0.9)
    assert latest.trigger["new_labelled"] == 100
    assert _production(engine) == 1


def test_too_few_labels_leave_accuracy_unjudged(engine: Engine) -> None:
    now = utcnow()
    promoted_at = now - timedelta(minutes=20)
    model_id, v1, v2 = _promoted(engine, at=promoted_at)
    _labelled(engine, model_id=model_id, version_id=v1, start=promoted_at - timedelta(minutes=15),
              correct=100, wrong=0)
    _labelled(engine, model_id=model_id, version_id=v2, start=promoted_at + timedelta(minutes=1),
              correct=0, wrong=99)

    looks = bake_step(engine=engine, source=None, limits=LIMITS, period=PERIOD, now=now)

    assert not looks[0].decision.breach
    assert "99 labels since the promotion" in looks[0].decision.reason
    assert _production(engine) == 2


def test_a_rolled_back_or_old_promotion_is_no_longer_watched(engine: Engine) -> None:
    _promoted(engine, at=utcnow() - timedelta(minutes=10))
    breaching = FakePrometheus(answered=100, failed=100)

    assert bake_step(engine=engine, source=breaching, limits=LIMITS, period=PERIOD)[0].rolled_back
    # Its latest ledger row is now the rollback: nothing bakes any more.
    assert bake_step(engine=engine, source=breaching, limits=LIMITS, period=PERIOD) == []
    assert len(_system_rollbacks(engine)) == 1


def test_a_promotion_past_its_bake_period_is_left_alone(engine: Engine) -> None:
    _promoted(engine, at=utcnow() - timedelta(minutes=61))

    looks = bake_step(engine=engine, source=FakePrometheus(answered=100, failed=100),
                      limits=LIMITS, period=PERIOD)

    assert looks == []
    assert _production(engine) == 2
