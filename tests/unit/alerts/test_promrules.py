"""The exported Prometheus rules: names, escaping, and the generated files through promtool.

promtool (Debian's prometheus package) checks the rules file and runs the generated unit
tests; a rule file changed after export (another floor, resolve threshold or ``for``)
must fail those tests, which shows they check the thresholds, ``for`` and hysteresis.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.alerts.promexpr import template_literal, yaml_quote
from services.alerts.promfiles import (
    RULES_FILE,
    TESTS_FILE,
    render_rules,
    render_tests,
    series_values,
)
from services.alerts.promrules import Export, alert_names, export_rules
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
from services.alerts.store import StoredRule
from services.prometheus.metric_names import SERVING_JOB
from services.prometheus.presets import BUILTIN_PRESETS

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool (Debian's prometheus package) is not installed")
NOW = datetime(2026, 12, 1, tzinfo=UTC)
HOSTILE = ('say "hi" {{ $value }}\nand \\ more', "日本語 🎉", 'x"} or vector(1) #',
           "line\u2028sep\u0085nel")


def stored(rule: Rule, *, rule_id: int = 1, enabled: bool = True) -> StoredRule:
    return StoredRule(id=rule_id, rule=rule, enabled=enabled, webhook_url=None,
                      webhook_format="json", created_by="test", created_at=NOW,
                      updated_by="test", updated_at=NOW)


def quality(**change: object) -> QualityRule:
    fields: dict[str, object] = {
        "name": "churn accuracy", "model": "churn", "metric": "accuracy", "floor": 0.75,
        "resolve_at": 0.80, "window_seconds": 86_400, "min_labels": 200,
        "for_seconds": 2 * 3600}
    return QualityRule(**{**fields, **change})  # type: ignore[arg-type]


def backlog(**change: object) -> LabelBacklogRule:
    fields: dict[str, object] = {"name": "churn backlog", "model": "churn", "size": 1000,
                                 "resolve_size": 800, "for_seconds": 300}
    return LabelBacklogRule(**{**fields, **change})  # type: ignore[arg-type]


def serving(**change: object) -> ServingRule:
    fields: dict[str, object] = {"name": "churn p95", "model": "churn", "metric": "p95_latency",
                                 "threshold": 0.25, "resolve_at": 0.2, "window": "5m",
                                 "min_requests": 20, "for_seconds": 120}
    return ServingRule(**{**fields, **change})  # type: ignore[arg-type]


def errors(**change: object) -> ServingRule:
    return serving(**{"name": "churn errors", "metric": "error_rate", "threshold": 0.05,
                      "resolve_at": 0.01, **change})


def drift(**change: object) -> DriftShareRule:
    fields: dict[str, object] = {"name": "churn drift", "model": "churn", "level": 0.5,
                                 "resolve_level": 0.3, "window_days": 1, "min_rows": 200,
                                 "for_seconds": 0}
    return DriftShareRule(**{**fields, **change})  # type: ignore[arg-type]


def export(*rules: Rule) -> Export:
    return export_rules([stored(r, rule_id=i) for i, r in enumerate(rules, 1)],
                        preset=BUILTIN_PRESETS["opsdash"], job=SERVING_JOB)


def write(folder: Path, found: Export) -> tuple[Path, Path]:
    rules, tests = folder / RULES_FILE, folder / TESTS_FILE
    rules.write_text(render_rules(found), encoding="utf-8")
    tests.write_text(render_tests(found), encoding="utf-8")
    return rules, tests


def promtool(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=120, check=False)


def test_alert_names_are_valid_unique_and_readable() -> None:
    names = alert_names(["churn accuracy", "churn accuracy", "日本語", "p95 > 250ms", *HOSTILE])
    assert names[:4] == ["OpsdashChurnAccuracy", "OpsdashChurnAccuracy_2", "Opsdash",
                         "OpsdashP95250ms"]
    assert len(set(names)) == len(names)
    assert all(n.isascii() and n.replace("_", "").isalnum() for n in names)


def test_text_is_escaped_for_yaml_and_templates() -> None:
    assert yaml_quote('a "b"\n\u2028\u0085') == '"a \\"b\\"\\n\\u2028\\u0085"'
    assert template_literal("{{ $value }}") == '{{ "{{" }} $value }}'
    assert series_values([0.5, 0.5, 0.5, 1.0]) == "0.5x2 1.0x0"


def test_disabled_rules_are_left_out_and_every_kind_is_exported() -> None:
    rules = [stored(quality(), rule_id=1),
             stored(backlog(), rule_id=2, enabled=False),
             stored(TrafficStoppedRule(name="quiet", model="churn", silence_seconds=900),
                    rule_id=3)]
    found = export_rules(rules, preset=BUILTIN_PRESETS["opsdash"], job=SERVING_JOB)
    assert [a.rule for a in found.alerts] == ["churn accuracy", "quiet"]
    assert found.skipped == []
    quiet = found.alerts[1]
    assert 'opsdash_predictions_total{model="churn"}[15m]' in quiet.expr


def test_kinds_prometheus_cannot_judge_are_skipped_with_the_reason() -> None:
    found = export(PredictionDriftRule(name="answers moved", model="churn"),
                   RetrainFailedRule(name="retrain failed", model="churn"),
                   BakeRollbackRule(name="rolled back", model="churn"), drift())
    assert [a.rule for a in found.alerts] == ["churn drift"]
    assert found.skipped == [
        ("answers moved", "the prediction drift is computed in the app only (no series)"),
        ("retrain failed", "retrain jobs live in the store, not in Prometheus"),
        ("rolled back", "bake-watch rollbacks live in the store, not in Prometheus")]


def test_a_preset_without_the_panel_cannot_judge_a_serving_rule() -> None:
    found = export_rules([stored(serving(metric="error_rate", threshold=0.05,
                                         resolve_at=0.01))],
                         preset=BUILTIN_PRESETS["kserve"], job=SERVING_JOB)
    assert found.alerts == []
    assert found.skipped == [("churn p95", "the query preset 'kserve' has no error_rate panel")]


@needs_promtool
@pytest.mark.parametrize("name", ["churn accuracy", *HOSTILE])
def test_generated_rules_and_tests_pass_promtool(tmp_path: Path, name: str) -> None:
    found = export(
        quality(name=name, model=name),
        quality(name=f"{name} recall", model=name, metric="recall:churns", floor=0.5,
                resolve_at=0.5, window_seconds=5400, min_labels=1, for_seconds=0),
        backlog(name=f"{name} backlog", model=name, for_seconds=90),
        TrafficStoppedRule(name=f"{name} quiet", model=name, silence_seconds=600,
                           for_seconds=60),
        drift(name=f"{name} drift", model=name, window_days=7, for_seconds=1800),
        serving(name=f"{name} p95", model=name),
        serving(name=f"{name} errors", model=name, metric="error_rate", threshold=0.05,
                resolve_at=0.01, window="2m", min_requests=200, for_seconds=0))
    assert all(a.scenario is not None for a in found.alerts)
    rules, tests = write(tmp_path, found)
    checked = promtool("check", "rules", rules, cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 7 rules found" in checked.stdout
    tested = promtool("test", "rules", tests, cwd=tmp_path)
    assert tested.returncode == 0, tested.stdout + tested.stderr


@needs_promtool
@pytest.mark.parametrize(("exported", "changed"), [
    (quality(), quality(floor=0.74)),            # the breach threshold, from below
    (quality(), quality(floor=0.76)),            # and from above
    (quality(), quality(resolve_at=0.79)),       # the resolve threshold (hysteresis)
    (quality(), quality(resolve_at=0.81)),
    (quality(), quality(for_seconds=3600)),      # the pending period
    (quality(), quality(min_labels=199)),        # the label minimum
    (quality(), quality(min_labels=201)),
    (backlog(), backlog(size=1001)),
    (backlog(), backlog(size=999)),
    (backlog(), backlog(resolve_size=801)),
    (backlog(), backlog(resolve_size=799)),
    (drift(), drift(level=0.49)),
    (drift(), drift(level=0.51)),                # the breach sits at the level
    (drift(), drift(resolve_level=0.29)),
    (drift(), drift(resolve_level=0.31)),        # at the resolve level it keeps firing
    (drift(), drift(min_rows=199)),
    (drift(), drift(min_rows=201)),
    (serving(), serving(threshold=0.265)),
    (serving(), serving(threshold=0.24)),
    (serving(), serving(resolve_at=0.21)),
    (serving(), serving(resolve_at=0.199)),
    (errors(), errors(threshold=0.07)),
    (errors(), errors(threshold=0.048)),
    (errors(), errors(resolve_at=0.011)),
    (errors(), errors(resolve_at=0.0095)),
    (TrafficStoppedRule(name="q", model="churn", silence_seconds=600, for_seconds=300),
     TrafficStoppedRule(name="q", model="churn", silence_seconds=600, for_seconds=900)),
], ids=["floor-down", "floor-up", "resolve-down", "resolve-up", "for", "min-labels-down",
        "min-labels-up", "size-up", "size-down", "resolve-size-up", "resolve-size-down",
        "drift-level-down", "drift-level-up", "drift-resolve-down", "drift-resolve-up",
        "drift-min-rows-down", "drift-min-rows-up", "p95-up", "p95-down", "p95-resolve-up",
        "p95-resolve-down", "errors-up", "errors-down", "errors-resolve-up",
        "errors-resolve-down", "traffic-for"])
def test_the_generated_tests_catch_a_changed_rule(tmp_path: Path, exported: Rule,
                                                   changed: Rule) -> None:
    """Tests written for one rule fail against the file of a rule that differs in one
    threshold: they pin the thresholds, ``for`` and hysteresis. The changed rule keeps the
    first one's summary, so only its expression and ``for`` can make the tests fail."""
    original = export(exported)
    _, tests = write(tmp_path, original)
    other = export(changed)
    other.alerts[0] = replace(other.alerts[0], summary=original.alerts[0].summary)
    (tmp_path / RULES_FILE).write_text(render_rules(other), encoding="utf-8")
    assert promtool("check", "rules", RULES_FILE, cwd=tmp_path).returncode == 0
    tested = promtool("test", "rules", tests, cwd=tmp_path)
    assert tested.returncode != 0
    assert "FAILED" in tested.stdout + tested.stderr


@needs_promtool
def test_an_empty_export_passes_promtool(tmp_path: Path) -> None:
    rules, tests = write(tmp_path, export())
    assert promtool("check", "rules", rules, cwd=tmp_path).returncode == 0
    assert promtool("test", "rules", tests, cwd=tmp_path).returncode == 0


EDGES: dict[str, Rule] = {
    "floor-0": quality(floor=0.0, resolve_at=0.0),
    "floor-1": quality(floor=1.0, resolve_at=1.0),
    "one-label-odd-seconds": quality(min_labels=1, for_seconds=61, window_seconds=61),
    "for-a-day": quality(for_seconds=86_400),
    "backlog-no-gap": backlog(size=1, resolve_size=1, for_seconds=0),
    "drift-level-1": drift(level=1.0, resolve_level=1.0),
    "drift-tiny": drift(level=0.01, resolve_level=0.001, for_seconds=59, min_rows=30),
    "p95-90s": serving(window="90s", for_seconds=30),
    "p95-no-gap": serving(threshold=0.25, resolve_at=0.25),
    "p95-an-hour": serving(threshold=3600.0, resolve_at=0.001, window="1h",
                           min_requests=100_000),
    "errors-resolve-0": serving(metric="error_rate", threshold=0.001, resolve_at=0.0),
    "traffic-200s": TrafficStoppedRule(name="t", model="m", silence_seconds=200, for_seconds=61),
}


@needs_promtool
@pytest.mark.parametrize("rule", EDGES.values(), ids=EDGES.keys())
def test_rules_at_the_edges_of_their_ranges_pass_promtool(tmp_path: Path, rule: Rule) -> None:
    found = export(rule)
    assert found.alerts[0].scenario is not None
    rules, tests = write(tmp_path, found)
    assert promtool("check", "rules", rules, cwd=tmp_path).returncode == 0
    tested = promtool("test", "rules", tests, cwd=tmp_path)
    assert tested.returncode == 0, tested.stdout + tested.stderr


@pytest.mark.parametrize("rule", [
    serving(metric="error_rate", threshold=1.0, resolve_at=0.5),  # no share is above 1
    TrafficStoppedRule(name="t", model="m", silence_seconds=60),  # a rate needs 2 samples
], ids=["errors-threshold-1", "traffic-1m"])
def test_rules_no_test_can_drive_are_exported_untested(rule: Rule) -> None:
    found = export(rule)
    assert found.alerts[0].scenario is None
    assert f"# Exported without a generated test: {yaml_quote(rule.name)}" in render_tests(found)
