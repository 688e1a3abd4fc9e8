"""One-line summaries read as promised, and each kind's evaluation cadence."""

from __future__ import annotations

import json
from typing import Any

import pytest

from services.alerts.describe import summary
from services.alerts.rules import (
    BakeRollbackRule,
    DriftShareRule,
    LabelBacklogRule,
    PredictionDriftRule,
    QualityRule,
    RetrainFailedRule,
    RuleError,
    ServingRule,
    TrafficStoppedRule,
    cadence_seconds,
    rule_from_dict,
    rule_to_dict,
)
from services.alerts.state import Observation

ACCURACY = QualityRule(name="acc", model="churn", metric="accuracy", floor=0.75,
                       resolve_at=0.8)
DRIFT = DriftShareRule(name="drift", model="churn", level=0.5, resolve_level=0.3)
P95 = ServingRule(name="p95", model="churn", metric="p95_latency", threshold=0.25,
                  resolve_at=0.2)
ERRORS = ServingRule(name="err", model="churn", metric="error_rate", threshold=0.01,
                     resolve_at=0.005)


@pytest.mark.parametrize(("rule", "obs", "line"), [
    (ACCURACY, Observation(0.64, (0.61, 0.67), 1920),
     "churn accuracy 64 % < 75 % (1,920 labels)"),
    (ACCURACY, Observation(0.9, (0.88, 0.92), 1920),
     "churn accuracy 90 % ≥ 75 % (1,920 labels)"),
    (ACCURACY, Observation(0.5, (0.2, 0.8), 12),
     "churn accuracy 50 % (12 labels, fewer than 200: not judged)"),
    (QualityRule(name="r", model="churn", metric="recall:yes", floor=0.6, resolve_at=0.6),
     Observation(0.41, (0.35, 0.47), 320), "churn recall of yes 41 % < 60 % (320 labels)"),
    (DRIFT, Observation(0.62, sample_size=800), "churn drift share 62 % > 50 %"),
    (PredictionDriftRule(name="pd", model="churn"),
     Observation(2.4, detail="predicted class"),
     "churn prediction drift score 2.4 > 1.0 (predicted class)"),
    (P95, Observation(0.412, sample_size=300), "churn p95 latency 412 ms > 250 ms"),
    (ERRORS, Observation(0.032, sample_size=300), "churn error rate 3.2 % > 1.0 %"),
    (P95, Observation(None, sample_size=3),
     "churn p95 latency: too few requests in the last 5m to judge (3)"),
    (TrafficStoppedRule(name="t", model="churn", silence_seconds=600), Observation(840.0),
     "churn no prediction for 14 min"),
    (LabelBacklogRule(name="b", model="churn", size=1000, resolve_size=800),
     Observation(1204.0), "churn label backlog 1,204 > 1,000"),
    (RetrainFailedRule(name="rf", model="churn"),
     Observation(1.0, detail="retrain job 12 failed: out of memory"),
     "churn retrain job 12 failed: out of memory"),
    (BakeRollbackRule(name="bk", model="churn"), Observation(1.0, detail="v3 → v2"),
     "churn rolled back v3 → v2 by the bake watch"),
    (P95, Observation(None, unavailable="Prometheus could not be read: timed out"),
     "churn p95 latency: Prometheus could not be read: timed out"),
])
def test_summary_reads_as_one_line(rule: Any, obs: Observation, line: str) -> None:
    assert summary(rule, obs) == line


def test_drift_rules_are_evaluated_every_15_minutes_and_the_rest_every_minute() -> None:
    assert cadence_seconds(DRIFT) == 900
    assert cadence_seconds(PredictionDriftRule(name="pd", model="churn")) == 900
    for rule in (ACCURACY, P95, ERRORS, RetrainFailedRule(name="rf", model="churn"),
                 BakeRollbackRule(name="bk", model="churn"),
                 TrafficStoppedRule(name="t", model="churn", silence_seconds=600)):
        assert cadence_seconds(rule) == 60


@pytest.mark.parametrize("rule", [
    DRIFT, P95, ERRORS, PredictionDriftRule(name="pd", model="churn", level=2.0,
                                            resolve_level=1.0, window_days=3),
    RetrainFailedRule(name="rf", model="churn", window_seconds=3600),
    BakeRollbackRule(name="bk", model="churn", severity="critical"),
    QualityRule(name="all", model="churn", metric="accuracy", floor=0.7, resolve_at=0.8,
                scope="all"),
])
def test_new_kinds_round_trip_through_json(rule: Any) -> None:
    assert rule_from_dict(json.loads(json.dumps(rule_to_dict(rule)))) == rule


def test_a_serving_rule_takes_its_threshold_from_the_slo() -> None:
    rule = ServingRule.from_slo(slo_latency_p95_seconds=0.3, slo_error_rate=0.02,
                                name="p95", model="churn", metric="p95_latency")
    assert (rule.threshold, rule.resolve_at) == (0.3, 0.3)


@pytest.mark.parametrize(("build", "field"), [
    (lambda: DriftShareRule(name="d", model="m", level=1.5, resolve_level=0.3), "level"),
    (lambda: DriftShareRule(name="d", model="m", level=0.5, resolve_level=0.6),
     "resolve_level"),
    (lambda: DriftShareRule(name="d", model="m", level=0.5, resolve_level=0.3,
                            window_days=0), "window_days"),
    (lambda: ServingRule(name="s", model="m", metric="p99", threshold=1, resolve_at=1),
     "metric"),
    (lambda: ServingRule(name="s", model="m", metric="error_rate", threshold=2,
                         resolve_at=1), "threshold"),
    (lambda: ServingRule(name="s", model="m", metric="p95_latency", threshold=0.2,
                         resolve_at=0.3), "resolve_at"),
    (lambda: ServingRule(name="s", model="m", metric="p95_latency", threshold=0.2,
                         resolve_at=0.1, window="5 minutes"), "window"),
    (lambda: ServingRule(name="s", model="m", metric="p95_latency", threshold=0.2,
                         resolve_at=0.1, window="30s"), "window"),
    (lambda: DriftShareRule(name="d", model="m", level=0.5, resolve_level=0.3,
                            min_rows=10), "min_rows"),
    (lambda: RetrainFailedRule(name="r", model="m", window_seconds=0), "window_seconds"),
    (lambda: QualityRule(name="q", model="m", metric="accuracy", floor=0.5, resolve_at=0.6,
                         scope="latest"), "scope"),
])
def test_an_invalid_new_kind_names_the_field(build: Any, field: str) -> None:
    with pytest.raises(RuleError) as caught:
        build()
    assert str(caught.value).startswith(f"{field}:")
    assert "\n" not in str(caught.value)
