"""Stored alert rules as a Prometheus rules file, judged on the worker's exported figures.

Each enabled rule whose kind Prometheus can judge becomes one alert of one group
(:func:`export_rules`); the others are listed with the reason. Quality rules judge
``opsdash_model_quality{model,version,metric,window,bound}`` exactly as the in-app rule
does: a breach is the interval's upper bound below the floor with at least ``min_labels``
labels (``opsdash_model_quality_labels``), held for the rule's ``for``.

**Hysteresis** is written with the alert's own ``ALERTS`` series, not ``keep_firing_for``:
a firing alert stays firing until its figure is *back past the resolve threshold*
(``keep_firing_for`` would only add a fixed time after the breach ends, which is not
what the in-app rule does). So every alert with a resolve threshold reads::

    breach or on(L) (max by (L) (ALERTS{alertname="A",alertstate="firing"}) unless on(L) clear)

where ``L`` are the labels the alert is about. A figure that disappears (the worker is
down) keeps a firing alert firing, as the in-app rule goes *unknown*, never resolved.

Every name and label value is escaped (PromQL strings, YAML scalars, Go templates), so a
model or rule name with quotes, braces or line breaks stays text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from services.alerts.figures import scope_label, window_label
from services.alerts.promexpr import (
    CannotJudgeError,
    Scenario,
    by_clause,
    gauges,
    number,
    phases,
    selector_text,
    with_hysteresis,
)
from services.alerts.promserving import serving_alert, traffic_alert
from services.alerts.rules import (
    DriftShareRule,
    LabelBacklogRule,
    QualityRule,
    Rule,
    ServingRule,
    TrafficStoppedRule,
)
from services.alerts.store import StoredRule
from services.drift.analysis import MIN_DAY_ROWS
from services.prometheus.presets import Preset

__all__ = ["GROUP", "Alert", "Export", "alert_names", "export_rules"]

#: The rule group's name in the generated file.
GROUP = "opsdash-alerts"
#: Why the kinds Prometheus cannot judge are left to the app.
_APP_ONLY = {
    "prediction_drift_above": "the prediction drift is computed in the app only (no series)",
    "retrain_failed": "retrain jobs live in the store, not in Prometheus",
    "bake_rollback": "bake-watch rollbacks live in the store, not in Prometheus",
}


@dataclass(frozen=True)
class Alert:
    """One Prometheus alert made from one stored rule.

    Attributes:
        name: the alert's name (:func:`alert_names`).
        rule: the stored rule's name (the alert's ``rule`` label).
        expr: the PromQL that is non-empty while the rule breaches (or, once firing, until
            it clears).
        for_seconds: the rule's pending period (the alert's ``for``).
        labels: the labels the rule adds: ``severity``, ``rule``, ``model``.
        on: the labels (and values) of the series the expression returns.
        summary: the ``summary`` annotation, in words.
        scenario: the input of its generated test (``None``: exported untested).
    """

    name: str
    rule: str
    expr: str
    for_seconds: int
    labels: dict[str, str]
    on: dict[str, str]
    summary: str
    scenario: Scenario | None = None


@dataclass(frozen=True)
class Export:
    """What :func:`export_rules` made: the alerts, and the rules left out with why."""

    alerts: list[Alert] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def alert_names(names: Sequence[str]) -> list[str]:
    """A valid, unique alert name per rule name: ``Opsdash`` and the name's letters and
    digits in CamelCase (``churn accuracy`` → ``OpsdashChurnAccuracy``), ``_2``, ``_3``
    … for repeats."""
    found: list[str] = []
    for name in names:
        words = re.findall(r"[A-Za-z0-9]+", name)
        base = "Opsdash" + "".join(w[:1].upper() + w[1:] for w in words)
        candidate, n = base, 1
        while candidate in found:
            n += 1
            candidate = f"{base}_{n}"
        found.append(candidate)
    return found


def _quality(name: str, rule: QualityRule) -> tuple[str, dict[str, str], Scenario]:
    on = {"model": rule.model, "version": scope_label(rule), "metric": rule.metric,
          "window": window_label(rule.window_seconds)}
    by = by_clause(list(on))

    def figure(series: str, **more: str) -> str:
        return f"max by {by} ({selector_text(series, {**on, **more})})"

    estimate = figure("opsdash_model_quality", bound="estimate")
    upper = figure("opsdash_model_quality", bound="upper")
    enough = f"on{by} ({figure('opsdash_model_quality_labels')} >= {number(rule.min_labels)})"
    breach = f"{estimate} and on{by} ({upper} < {number(rule.floor)}) and {enough}"
    clear = f"({estimate} >= {number(rule.resolve_at)}) and {enough}"
    return with_hysteresis(name, list(on), breach, clear), on, _quality_scenario(rule, on)


#: How far past a threshold the generated test values sit.
_NUDGE = 0.005


def _quality_scenario(rule: QualityRule, on: dict[str, str]) -> Scenario:
    floor, resolve, n = rule.floor, rule.resolve_at, float(rule.min_labels)
    below, short = floor - _NUDGE, resolve - _NUDGE  # below 0 only for a floor of 0
    per_phase = {
        "estimate": {"low": below, "edge": floor, "breach": below - _NUDGE,
                     "between": short, "clear": resolve},
        "lower": {"low": below - _NUDGE, "edge": floor - _NUDGE, "breach": below - 2 * _NUDGE,
                  "between": short - _NUDGE, "clear": resolve - _NUDGE},
        "upper": {"low": below, "edge": floor, "breach": below,
                  "between": max(floor, resolve), "clear": 1.0},
    }
    minutes, checks = phases(rule.for_seconds, low=True, between=resolve > floor)
    values = {selector_text("opsdash_model_quality", {**on, "bound": b}): v
              for b, v in per_phase.items()}
    values[selector_text("opsdash_model_quality_labels", on)] = {
        "low": n - 1, "edge": n, "breach": n, "between": n, "clear": n}
    return Scenario(gauges(minutes, values), checks)


def _backlog(name: str, rule: LabelBacklogRule) -> tuple[str, dict[str, str], Scenario]:
    """More than ``size`` awaiting a label breaches; ``resolve_size`` or fewer clears."""
    on = {"model": rule.model}
    value = f"max by (model) ({selector_text('opsdash_label_backlog', on)})"
    expr = with_hysteresis(name, list(on), f"{value} > {number(rule.size)}",
                           f"{value} <= {number(rule.resolve_size)}")
    per_phase = {"edge": float(rule.size), "breach": rule.size + 1.0,
                 "between": rule.resolve_size + 1.0, "clear": float(rule.resolve_size)}
    minutes, checks = phases(rule.for_seconds, low=False,
                             between=rule.resolve_size < rule.size)
    series = gauges(minutes, {selector_text("opsdash_label_backlog", on): per_phase})
    return expr, on, Scenario(series, checks)


def _drift(name: str, rule: DriftShareRule) -> tuple[str, dict[str, str], Scenario]:
    """The share at or above ``level`` on at least ``min_rows`` predictions (and the Drift
    page's own minimum); keeps firing until below ``resolve_level`` on as many."""
    on = {"model": rule.model, "window": f"{rule.window_days}d"}
    by = by_clause(list(on))
    share = f"max by {by} ({selector_text('opsdash_drift_share', on)})"
    rows = f"max by {by} ({selector_text('opsdash_drift_rows', on)})"
    need = max(MIN_DAY_ROWS, rule.min_rows)
    enough = f"on{by} ({rows} >= {number(need)})"
    expr = with_hysteresis(name, list(on), f"({share} >= {number(rule.level)}) and {enough}",
                           f"({share} < {number(rule.resolve_level)}) and {enough}")
    level, resolve = rule.level, rule.resolve_level
    shares = {"low": level, "edge": level - min(_NUDGE, level / 2), "breach": level,
              "between": resolve, "clear": resolve - min(_NUDGE, resolve / 2)}
    counts = {phase: float(need) for phase in shares} | {"low": float(need - 1)}
    timeline, checks = phases(rule.for_seconds, low=True, between=resolve < level)
    series = gauges(timeline, {selector_text("opsdash_drift_share", on): shares,
                               selector_text("opsdash_drift_rows", on): counts})
    return expr, on, Scenario(series, checks)


def _build(name: str, rule: Rule, preset: Preset, job: str
           ) -> tuple[str, dict[str, str], Scenario | None]:
    if isinstance(rule, QualityRule):
        return _quality(name, rule)
    if isinstance(rule, LabelBacklogRule):
        return _backlog(name, rule)
    if isinstance(rule, DriftShareRule):
        return _drift(name, rule)
    if isinstance(rule, TrafficStoppedRule):
        return traffic_alert(rule, preset, job)
    if isinstance(rule, ServingRule):
        return serving_alert(name, rule, preset, job)
    raise CannotJudgeError(_APP_ONLY.get(rule.kind, f"a {rule.kind} rule is judged in the "
                                                    "app only"))


def export_rules(rules: Sequence[StoredRule], *, preset: Preset, job: str) -> Export:
    """The enabled rules as Prometheus alerts; disabled ones are left out silently, rules
    of kinds Prometheus cannot judge are listed in ``skipped`` with the reason.

    Args:
        rules: the stored rules (:func:`services.alerts.store.list_rules`).
        preset: the active query preset, for the serving kinds.
        job: the inference service's scrape job.
    """
    enabled = [s for s in rules if s.enabled]
    export = Export()
    for stored, name in zip(enabled, alert_names([s.rule.name for s in enabled]), strict=True):
        rule = stored.rule
        try:
            expr, on, scenario = _build(name, rule, preset, job)
        except CannotJudgeError as exc:
            export.skipped.append((rule.name, str(exc)))
            continue
        labels = {"severity": rule.severity, "rule": rule.name, "model": rule.model}
        export.alerts.append(Alert(name=name, rule=rule.name, expr=expr,
                                   for_seconds=rule.for_seconds, labels=labels, on=on,
                                   summary=_summary(rule), scenario=scenario))
    return export


def _summary(rule: Rule) -> str:
    if isinstance(rule, QualityRule):
        return (f"{rule.model} {rule.metric} below {rule.floor:g} over "
                f"{window_label(rule.window_seconds)} ({scope_label(rule)} version, at least "
                f"{rule.min_labels} labels); resolves at {rule.resolve_at:g}")
    if isinstance(rule, LabelBacklogRule):
        return (f"{rule.model} label backlog above {rule.size}; resolves at "
                f"{rule.resolve_size} or fewer")
    if isinstance(rule, DriftShareRule):
        return (f"{rule.model} drift share over {rule.window_days}d at or above "
                f"{rule.level:g} (at least {rule.min_rows} predictions); resolves below "
                f"{rule.resolve_level:g}")
    if isinstance(rule, ServingRule):
        return (f"{rule.model} {rule.metric.replace('_', ' ')} over {rule.window} above "
                f"{rule.threshold:g} (at least {rule.min_requests} requests); resolves at "
                f"{rule.resolve_at:g}")
    assert isinstance(rule, TrafficStoppedRule)
    return f"{rule.model} made no prediction for {window_label(rule.silence_seconds)}"
