"""The exported rules judge as the app does: on the seeded demo, with its default rules, a
real Prometheus scraping a real worker holds an active alert (pending or firing) for
exactly the rules the app finds breached at the moment the worker computed its figures.

Only the kinds judged on the worker's figures are compared (quality, drift share, label
backlog): no inference service runs here, so the serving and traffic alerts have nothing to
read.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import Engine

from devstack.demo.seed import seed_demo
from devstack.processes import free_loopback_port
from devstack.prometheus_config import render_config
from devstack.specs import child_env, prometheus_spec, worker_spec
from services.access import SYSTEM
from services.alerts.observe import observe
from services.alerts.promfiles import RULES_FILE, render_rules
from services.alerts.promrules import export_rules
from services.alerts.rules import DriftShareRule, LabelBacklogRule, QualityRule
from services.alerts.sources import Sources
from services.alerts.state import is_breach
from services.alerts.store import list_rules, save_rule
from services.prometheus.metric_names import SERVING_JOB
from services.prometheus.presets import BUILTIN_PRESETS
from services.prometheus.source import PrometheusSource
from services.settings import Settings
from tests.live_stack import new_supervisor

pytestmark = pytest.mark.integration

ON_FIGURES = {"quality_below", "drift_share_above", "label_backlog_above"}


def _wait(check: Callable[[], Any], *, seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while not (found := check()):
        assert time.monotonic() < deadline, what
        time.sleep(0.25)
    return found


def _evaluated_after(base: str, moment: float) -> bool:
    """Whether the alert group has been evaluated twice since ``moment`` (Unix time)."""
    answer = requests.get(f"{base}/api/v1/rules", timeout=5).json()
    groups = answer["data"]["groups"]
    if not groups:
        return False
    last = datetime.fromisoformat(groups[0]["lastEvaluation"].replace("Z", "+00:00"))
    return last.timestamp() > moment + 2


def test_prometheus_finds_breached_exactly_the_rules_the_app_does(
        engine: Engine, settings: Settings, tmp_path: Path) -> None:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("Debian's prometheus is not installed; `make test` installs it")
    demo = settings.replace(demo_days=2)
    seed_demo(engine=engine, settings=demo)
    for rule in (
        DriftShareRule(name="churn any drift", model="churn", level=0.01, resolve_level=0.01,
                       window_days=2, min_rows=30),
        # Never judged (more rows than two demo days hold): a drift rule seen unbreached
        # whatever the hour, as the defaults' day-so-far windows are not at every hour.
        DriftShareRule(name="churn drift on more rows than exist", model="churn", level=0.5,
                       resolve_level=0.3, window_days=2, min_rows=100_000_000),
        LabelBacklogRule(name="churn small backlog", model="churn", size=10, resolve_size=5),
        QualityRule(name="churn accuracy far floor", model="churn", metric="recall:churned",
                    floor=0.05, resolve_at=0.1, window_seconds=6 * 3600, min_labels=30,
                    scope="all"),
    ):
        save_rule(engine=engine, actor=SYSTEM, rule=rule)
    stored = [s for s in list_rules(engine=engine) if s.enabled]
    export = export_rules(stored, preset=BUILTIN_PRESETS["opsdash"], job=SERVING_JOB)
    (tmp_path / RULES_FILE).write_text(render_rules(export), encoding="utf-8")
    metrics_port, prometheus_port = free_loopback_port(), free_loopback_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(render_config(
        scrape_target=f"127.0.0.1:{free_loopback_port()}",
        worker_target=f"127.0.0.1:{metrics_port}", scrape_interval_s=1,
    ) + f"rule_files: [{json.dumps(str(tmp_path / RULES_FILE))}]\n", encoding="utf-8")
    env = child_env(demo.replace(worker_metrics_port=metrics_port), os.environ)
    env["OPSDASH_DATABASE_URL"] = settings.database_url
    base = f"http://127.0.0.1:{prometheus_port}"
    source = PrometheusSource(base, timeout=5)
    with new_supervisor(tmp_path / "logs", env) as supervisor:
        supervisor.wait_ready([
            supervisor.start(prometheus_spec(binary=binary, config=config,
                                             data_dir=tmp_path / "data", port=prometheus_port)),
            supervisor.start(worker_spec()),
        ])
        stamp = _wait(lambda: source.instant("opsdash_worker_figures_timestamp_seconds"),
                      seconds=90, what="the worker's figures never reached Prometheus")
        seen_at = time.time()
        _wait(lambda: _evaluated_after(base, seen_at), seconds=30,
              what="the alert group was not evaluated")
        active = {s.labels["rule"] for s in source.instant("ALERTS")}
    at = datetime.fromtimestamp(stamp[0].value, tz=UTC)
    sources = Sources.from_settings(demo)
    judged = [s.rule for s in stored if s.rule.kind in ON_FIGURES]
    breached = {r.name for r in judged
                if is_breach(r, observe(engine=engine, rule=r, at=at, sources=sources))}
    assert active & {r.name for r in judged} == breached
    # Each kind is seen both ways (its defaults plus the rules added here).
    assert {r.kind for r in judged if r.name in breached} == ON_FIGURES
    assert {r.kind for r in judged if r.name not in breached} == ON_FIGURES
