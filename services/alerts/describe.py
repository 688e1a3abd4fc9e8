"""One line for people about what a rule saw: the banner's, the events', the webhooks'.

:func:`summary` reads like ``churn accuracy 64 % < 75 % (1,920 labels)`` or
``churn p95 latency 412 ms > 250 ms``: the model, what is measured, the value, and the
level it is compared with (``<``/``>`` when on the wrong side, ``≥``/``≤`` otherwise). An
observation whose source could not be read gives the reason instead of a value.
"""

from __future__ import annotations

from services.alerts.rules import (
    BakeRollbackRule,
    DriftShareRule,
    LabelBacklogRule,
    PredictionDriftRule,
    QualityRule,
    RetrainFailedRule,
    Rule,
    ServingRule,
    TrafficStoppedRule,
)
from services.alerts.state import Observation

__all__ = ["measure", "summary"]


def measure(rule: Rule) -> str:
    """What the rule measures, after the model's name: ``accuracy``, ``recall of yes``,
    ``drift share``, ``p95 latency``, ``label backlog`` ..."""
    if isinstance(rule, QualityRule):
        if rule.metric.startswith("recall:"):
            return f"recall of {rule.metric.removeprefix('recall:')}"
        return "macro F1" if rule.metric == "macro_f1" else "accuracy"
    if isinstance(rule, ServingRule):
        return "p95 latency" if rule.metric == "p95_latency" else "error rate"
    return {
        "drift_share_above": "drift share",
        "prediction_drift_above": "prediction drift",
        "traffic_stopped": "traffic",
        "label_backlog_above": "label backlog",
        "retrain_failed": "retraining",
        "bake_rollback": "bake watch",
    }[rule.kind]


def summary(rule: Rule, obs: Observation) -> str:
    """One line saying what ``rule`` saw in ``obs`` (or why it could not see)."""
    if obs.unavailable is not None:
        return f"{rule.model} {measure(rule)}: {obs.unavailable}"
    if isinstance(rule, QualityRule):
        return _quality(rule, obs)
    if isinstance(rule, ServingRule):
        return _serving(rule, obs)
    if isinstance(rule, DriftShareRule | PredictionDriftRule):
        return _drift(rule, obs)
    return _events(rule, obs)


def _quality(rule: QualityRule, obs: Observation) -> str:
    labels = obs.sample_size or 0
    counted = f"{labels:,} label{'' if labels == 1 else 's'}"
    head = f"{rule.model} {measure(rule)}"
    if obs.value is None:
        return f"{head}: no labels in the window"
    if labels < rule.min_labels:
        return (f"{head} {_pct(obs.value)} ({counted}, fewer than {rule.min_labels:,}: "
                "not judged)")
    sign = "<" if obs.value < rule.floor else "≥"
    value, floor = _pct_pair(obs.value, rule.floor)
    return f"{head} {value} {sign} {floor} ({counted})"


def _serving(rule: ServingRule, obs: Observation) -> str:
    head = f"{rule.model} {measure(rule)}"
    requests = obs.sample_size or 0
    if obs.value is None or requests < rule.min_requests:
        return (f"{head}: too few requests in the last {rule.window} to judge "
                f"({requests:,})")
    sign = ">" if obs.value > rule.threshold else "≤"
    if rule.metric == "p95_latency":
        return f"{head} {_seconds(obs.value)} {sign} {_seconds(rule.threshold)}"
    value, threshold = _pct_pair(obs.value, rule.threshold)
    return f"{head} {value} {sign} {threshold}"


def _drift(rule: DriftShareRule | PredictionDriftRule, obs: Observation) -> str:
    head = f"{rule.model} {measure(rule)}"
    if obs.value is None:
        return f"{head}: too few predictions in the window to test"
    sign = ">" if obs.value > rule.level else ("≥" if obs.value == rule.level else "<")
    if isinstance(rule, DriftShareRule):
        value, level = _pct_pair(obs.value, rule.level)
        text = f"{head} {value} {sign} {level}"
    else:
        text = f"{head} score {obs.value:.1f} {sign} {rule.level:.1f}"
    return f"{text} ({obs.detail})" if obs.detail else text


def _events(rule: Rule, obs: Observation) -> str:
    """Traffic, backlog, retrain and rollback rules."""
    value = obs.value or 0.0
    if isinstance(rule, TrafficStoppedRule):
        return f"{rule.model} no prediction for {_duration(value)}"
    if isinstance(rule, LabelBacklogRule):
        sign = ">" if value > rule.size else "≤"
        return f"{rule.model} label backlog {value:,.0f} {sign} {rule.size:,}"
    if isinstance(rule, RetrainFailedRule):
        if value < 1:
            return f"{rule.model} no failed retrain job awaiting a success"
        return f"{rule.model} {obs.detail}" if obs.detail else (
            f"{rule.model} {value:.0f} retrain job(s) failed")
    assert isinstance(rule, BakeRollbackRule)
    if value < 1:
        return f"{rule.model} no rollback by the bake watch"
    what = f"rolled back {obs.detail}" if obs.detail else "rolled back"
    more = f" ({value:.0f} rollbacks)" if value > 1 else ""
    return f"{rule.model} {what} by the bake watch{more}"


def _pct(share: float, decimals: int = 0) -> str:
    return f"{100 * share:.{decimals}f} %"


def _pct_pair(value: float, level: float) -> tuple[str, str]:
    """Both as percentages, with a decimal below 10 % (error rates) or when whole numbers
    would hide the difference (or the level has one)."""
    for decimals in ((1, 2) if max(value, level) < 0.1 else (0, 1, 2)):
        a, b = _pct(value, decimals), _pct(level, decimals)
        level_exact = abs(100 * level - round(100 * level, decimals)) < 1e-9
        if (a != b or value == level) and level_exact:
            return a, b
    return _pct(value, 2), _pct(level, 2)


def _seconds(value: float) -> str:
    if value < 10:
        return f"{1000 * value:,.0f} ms"
    return f"{value:,.1f} s"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86_400:.0f} days"
