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

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from services.alerts.figures import scope_label, window_label
from services.alerts.rules import LabelBacklogRule, QualityRule, Rule, TrafficStoppedRule
from services.alerts.store import StoredRule
from services.prometheus.presets import Preset
from services.prometheus.promql import escape_label_value

__all__ = [
    "GROUP",
    "Alert",
    "Export",
    "Scenario",
    "alert_names",
    "export_rules",
    "template_literal",
    "yaml_quote",
]

#: The rule group's name in the generated file.
GROUP = "opsdash-alerts"
_YAML_SAFE = re.compile("[\u007f-\u009f\u2028\u2029\ufeff\ud800-\udfff]")


def yaml_quote(text: str) -> str:
    """``text`` as a double-quoted YAML scalar: JSON's escapes, plus those YAML reads as line
    breaks or refuses (C1 controls, U+2028/9, a byte-order mark)."""
    quoted = json.dumps(text, ensure_ascii=False)
    return _YAML_SAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", quoted)


def template_literal(text: str) -> str:
    """``text`` such that Prometheus' Go templating (of alert labels and annotations)
    gives it back unchanged: each ``{{`` is written as an action printing ``{{``."""
    return text.replace("{{", '{{ "{{" }}')


def _num(value: float) -> str:
    if not math.isfinite(value):
        raise ValueError(f"not a finite number: {value}")
    return repr(float(value))


@dataclass(frozen=True)
class Scenario:
    """The input of one generated promtool test: per-minute values of each series, and
    whether the alert fires at chosen minutes (with the labels of the series it fires on)."""

    series: dict[str, list[float]]
    checks: list[tuple[int, bool]]


@dataclass(frozen=True)
class Alert:
    """One Prometheus alert made from one stored rule."""

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


def _sel(metric: str, labels: dict[str, str]) -> str:
    inside = ",".join(f'{k}="{escape_label_value(v)}"' for k, v in labels.items())
    return f"{metric}{{{inside}}}"


def _by(labels: Sequence[str]) -> str:
    return f"({', '.join(labels)})"


def _with_hysteresis(alert: str, by: Sequence[str], breach: str, clear: str) -> str:
    firing = _sel("ALERTS", {"alertname": alert, "alertstate": "firing"})
    on = _by(by)
    return (f"(\n  {breach}\n)\nor on{on}\n(\n  max by {on} ({firing})\n"
            f"  unless on{on}\n  ({clear})\n)")


def _phases(for_seconds: int, *, low: bool, between: bool
            ) -> tuple[list[str], list[tuple[int, bool]]]:
    """Per-minute phases of a test: (too few labels,) clean, breach for longer than
    ``for``, (between the thresholds,) clear; and the checks along them."""
    f = math.ceil(for_seconds / 60)
    minutes: list[str] = []
    checks: list[tuple[int, bool]] = []

    def add(phase: str, length: int) -> int:
        start = len(minutes)
        minutes.extend([phase] * length)
        return start

    if low:
        start = add("low", f + 3)
        checks.append((start + f + 2, False))
    add("clean", 2)
    start = add("breach", f + 3)
    if f >= 1:
        checks.append((start + f - 1, False))
    checks += [(start + f, True), (start + f + 2, True)]
    if between:
        start = add("between", 3)
        checks += [(start, True), (start + 2, True)]
    start = add("clear", 3)
    checks += [(start + 1, False), (start + 2, False)]
    return minutes, checks


def _gauges(minutes: list[str], values: dict[str, dict[str, float]]) -> dict[str, list[float]]:
    return {series: [per_phase[phase] for phase in minutes] for series, per_phase in values.items()}


def _quality(name: str, rule: QualityRule) -> tuple[str, dict[str, str], Scenario]:
    on = {"model": rule.model, "version": scope_label(rule), "metric": rule.metric,
          "window": window_label(rule.window_seconds)}
    by = list(on)

    def q(bound: str) -> str:
        return f"max by {_by(by)} ({_sel('opsdash_model_quality', {**on, 'bound': bound})})"

    labels = f"max by {_by(by)} ({_sel('opsdash_model_quality_labels', on)})"
    enough = f"on{_by(by)} ({labels} >= {_num(rule.min_labels)})"
    breach = f"{q('estimate')} and on{_by(by)} ({q('upper')} < {_num(rule.floor)}) and {enough}"
    clear = f"({q('estimate')} >= {_num(rule.resolve_at)}) and {enough}"
    expr = _with_hysteresis(name, by, breach, clear)
    return expr, on, _quality_scenario(rule, on)


def _quality_scenario(rule: QualityRule, on: dict[str, str]) -> Scenario:
    floor, resolve = rule.floor, rule.resolve_at
    top = max(1.0, resolve)
    # Breaching values sit below the floor (below 0 only when the floor is 0, where
    # nothing real can breach: the expression is checked all the same).
    bad = floor / 2 if floor > 0 else -0.1
    per_phase = {
        "estimate": {"low": bad, "clean": top, "breach": bad,
                     "between": (floor + resolve) / 2, "clear": resolve},
        "lower": {"low": bad - 0.05, "clean": top, "breach": bad - 0.05,
                  "between": floor - 0.05, "clear": floor},
        "upper": {"low": (floor + bad) / 2, "clean": top, "breach": (floor + bad) / 2,
                  "between": resolve, "clear": top},
    }
    minutes, checks = _phases(rule.for_seconds, low=True, between=resolve > floor)
    values = {_sel("opsdash_model_quality", {**on, "bound": b}): v for b, v in per_phase.items()}
    count = {"low": rule.min_labels - 1, "clean": rule.min_labels, "breach": rule.min_labels,
             "between": rule.min_labels, "clear": rule.min_labels}
    values[_sel("opsdash_model_quality_labels", on)] = {k: float(v) for k, v in count.items()}
    return Scenario(_gauges(minutes, values), checks)


def _above(name: str, series: str, on: dict[str, str], *, level: float, resolve: float,
           for_seconds: int) -> tuple[str, dict[str, str], Scenario]:
    """A gauge above ``level`` breaches; at ``resolve`` or below it clears."""
    by = list(on)
    value = f"max by {_by(by)} ({_sel(series, on)})"
    expr = _with_hysteresis(name, by, f"{value} > {_num(level)}", f"{value} <= {_num(resolve)}")
    step = max(abs(level) * 0.5, 0.01)
    per_phase = {"clean": resolve, "breach": level + step, "between": level, "clear": resolve}
    minutes, checks = _phases(for_seconds, low=False, between=resolve < level)
    return expr, on, Scenario(_gauges(minutes, {_sel(series, on): per_phase}), checks)


def _traffic(rule: TrafficStoppedRule, preset: Preset, job: str
             ) -> tuple[str, dict[str, str], Scenario | None]:
    """No request in the last ``silence_seconds`` (and none at all counts too)."""
    window = window_label(rule.silence_seconds)
    rate = preset.render("request_rate", model=rule.model, versions=None, window=window, job=job)
    if rate is None:
        raise _CannotJudgeError(f"the query preset {preset.name!r} has no request rate")
    expr = f"(sum({rate}) or on() vector(0)) == 0"
    return expr, {}, None


class _CannotJudgeError(Exception):
    """Prometheus cannot judge this rule; the message says why."""


def _build(name: str, rule: Rule, preset: Preset, job: str
           ) -> tuple[str, dict[str, str], Scenario | None]:
    if isinstance(rule, QualityRule):
        return _quality(name, rule)
    if isinstance(rule, LabelBacklogRule):
        return _above(name, "opsdash_label_backlog", {"model": rule.model},
                      level=rule.size, resolve=rule.resolve_size, for_seconds=rule.for_seconds)
    if isinstance(rule, TrafficStoppedRule):
        return _traffic(rule, preset, job)
    builder = _EXTRA_KINDS.get(rule.kind)
    if builder is None:
        raise _CannotJudgeError(f"a {rule.kind} rule is judged in the app only")
    return builder(name, rule, preset, job)


#: Builders of kinds added beside the ones above (kind → builder).
_EXTRA_KINDS: dict[str, Callable[[str, Rule, Preset, str],
                                 tuple[str, dict[str, str], Scenario | None]]] = {}


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
        except _CannotJudgeError as exc:
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
    if isinstance(rule, TrafficStoppedRule):
        return f"{rule.model} made no prediction for {window_label(rule.silence_seconds)}"
    return f"{rule.model}: {rule.name}"
