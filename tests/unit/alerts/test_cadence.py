"""When a rule is due: every minute, a quality rule only with new labels or after 15
minutes, a rule that cannot be read every minute (so its reason stays current)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.alerts.cadence import due
from services.alerts.rules import QualityRule, TrafficStoppedRule

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
QUALITY = QualityRule(name="q", model="churn", metric="accuracy", floor=0.7, resolve_at=0.8)
TRAFFIC = TrafficStoppedRule(name="t", model="churn", silence_seconds=600)


def _at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_a_rule_never_evaluated_is_due() -> None:
    assert due(QUALITY, evaluated_at=None, at=T0)
    assert due(TRAFFIC, evaluated_at=None, at=T0)


def test_traffic_rules_every_minute() -> None:
    assert not due(TRAFFIC, evaluated_at=T0, at=_at(59))
    assert due(TRAFFIC, evaluated_at=T0, at=_at(60))


def test_quality_rules_when_labels_arrived_or_after_15_minutes() -> None:
    assert not due(QUALITY, evaluated_at=T0, at=_at(600), newest_label=T0)
    assert not due(QUALITY, evaluated_at=T0, at=_at(600), newest_label=None)
    assert not due(QUALITY, evaluated_at=T0, at=_at(30), newest_label=_at(10))
    assert due(QUALITY, evaluated_at=T0, at=_at(60), newest_label=_at(10))
    assert due(QUALITY, evaluated_at=T0, at=_at(900), newest_label=None)


def test_a_rule_that_cannot_be_read_every_minute() -> None:
    broken = "the rule cannot be read: kind: unknown"
    assert not due(broken, evaluated_at=T0, at=_at(59))
    assert due(broken, evaluated_at=T0, at=_at(60))
