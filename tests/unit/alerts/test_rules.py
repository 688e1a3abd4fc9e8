"""Rule definitions: validation names the field in one line; dicts round-trip."""

from __future__ import annotations

import json
from typing import Any

import pytest

from services.alerts.rules import (
    LabelBacklogRule,
    QualityRule,
    RuleError,
    TrafficStoppedRule,
    rule_from_dict,
    rule_to_dict,
)

QUALITY: dict[str, Any] = {
    "kind": "quality_below", "name": "churn accuracy", "model": "churn",
    "metric": "accuracy", "floor": 0.75, "resolve_at": 0.8, "window_seconds": 86_400,
    "min_labels": 200, "severity": "critical", "for_seconds": 7200, "action": "/drift",
}


@pytest.mark.parametrize("rule", [
    QualityRule(name="f1", model="tickets", metric="macro_f1", floor=0.6, resolve_at=0.65),
    QualityRule(name="recall", model="churn", metric="recall:churns", floor=0.5,
                resolve_at=0.5, action="retrain:weekly"),
    TrafficStoppedRule(name="quiet", model="churn", silence_seconds=900),
    LabelBacklogRule(name="queue", model="churn", size=500, resolve_size=400,
                     severity="info"),
])
def test_rules_round_trip_through_json(rule: Any) -> None:
    assert rule_from_dict(json.loads(json.dumps(rule_to_dict(rule)))) == rule


def test_a_stored_quality_rule_reads_back() -> None:
    rule = rule_from_dict(dict(QUALITY))
    assert isinstance(rule, QualityRule)
    assert (rule.floor, rule.resolve_at, rule.for_seconds) == (0.75, 0.8, 7200)


@pytest.mark.parametrize(("change", "field"), [
    ({"metric": "precision"}, "metric"),
    ({"metric": "recall:"}, "metric"),
    ({"floor": 1.5}, "floor"),
    ({"resolve_at": 0.7}, "resolve_at"),
    ({"window_seconds": 10}, "window_seconds"),
    ({"min_labels": 0}, "min_labels"),
    ({"severity": "page"}, "severity"),
    ({"for_seconds": -1}, "for_seconds"),
    ({"action": "http://10.0.0.1/"}, "action"),
    ({"name": " "}, "name"),
    ({"model": ""}, "model"),
    ({"kind": "drift_share"}, "kind"),
    ({"colour": "red"}, "colour"),
])
def test_an_invalid_rule_names_the_field_in_one_line(change: dict[str, Any], field: str
                                                     ) -> None:
    with pytest.raises(RuleError) as caught:
        rule_from_dict({**QUALITY, **change})
    message = str(caught.value)
    assert message.startswith(f"{field}:")
    assert "\n" not in message


def test_a_missing_field_is_named() -> None:
    data = dict(QUALITY)
    del data["floor"]
    with pytest.raises(RuleError, match=r"^floor:"):
        rule_from_dict(data)


def test_backlog_and_traffic_limits() -> None:
    with pytest.raises(RuleError, match=r"^resolve_size:"):
        LabelBacklogRule(name="q", model="churn", size=10, resolve_size=11)
    with pytest.raises(RuleError, match=r"^silence_seconds:"):
        TrafficStoppedRule(name="t", model="churn", silence_seconds=5)
