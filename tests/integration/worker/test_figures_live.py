"""The worker's figures scraped by a real Prometheus, and an exported rule judged on them.

A real worker process (``python -m services.worker`` with ``OPSDASH_WORKER_METRICS_PORT``)
over a store whose churn model is right on half of 300 labelled predictions; a real
Prometheus scrapes it as job ``opsdash-worker`` and loads the rules file that
``alerts export-rules`` would write for a stored accuracy rule (floor 75 %). The quality
series comes back from Prometheus with the figures the in-app rule observes, and the
exported alert fires in Prometheus.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from db.base import utcnow
from devstack.processes import free_loopback_port
from devstack.prometheus_config import render_config
from devstack.specs import child_env, prometheus_spec, worker_spec
from services.access import SYSTEM
from services.alerts.figures import scope_label
from services.alerts.observe import observe
from services.alerts.promfiles import RULES_FILE, render_rules
from services.alerts.promrules import export_rules
from services.alerts.rules import QualityRule
from services.alerts.store import list_rules, save_rule
from services.prometheus.metric_names import SERVING_JOB, WORKER_JOB
from services.prometheus.presets import BUILTIN_PRESETS
from services.prometheus.source import PrometheusSource
from services.settings import PROJECT_ROOT, Settings
from tests.factories import log_predictions, make_model
from tests.live_stack import new_supervisor

pytestmark = pytest.mark.integration

RULE = QualityRule(name="churn accuracy", model="churn", metric="accuracy", floor=0.75,
                   resolve_at=0.8, window_seconds=86_400, min_labels=200)


def _wait(check: Callable[[], Any], *, seconds: float, what: Callable[[], str]) -> Any:
    deadline = time.monotonic() + seconds
    while not (found := check()):
        assert time.monotonic() < deadline, what()
        time.sleep(0.25)
    return found


def _history(engine: Engine) -> None:
    model_id, version_id = make_model(engine, at=utcnow() - timedelta(days=2))
    start = utcnow() - timedelta(hours=6)
    rows = []
    for i in range(300):
        truth = "churns" if i % 2 else "stays"
        predicted = truth if i % 4 < 2 else ("stays" if truth == "churns" else "churns")
        rows.append((start + timedelta(seconds=60 * i), predicted, truth))
    log_predictions(engine, model_id=model_id, version_id=version_id, rows=rows)


def test_prometheus_scrapes_the_quality_series_and_the_exported_rule_fires(
        engine: Engine, settings: Settings, tmp_path: Path) -> None:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("Debian's prometheus is not installed; `make test` installs it")
    _history(engine)
    save_rule(engine=engine, actor=SYSTEM, rule=RULE)
    export = export_rules(list_rules(engine=engine), preset=BUILTIN_PRESETS["opsdash"],
                          job=SERVING_JOB)
    (tmp_path / RULES_FILE).write_text(render_rules(export), encoding="utf-8")
    metrics_port, prometheus_port = free_loopback_port(), free_loopback_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(render_config(
        scrape_target=f"127.0.0.1:{free_loopback_port()}",  # no inference service here
        worker_target=f"127.0.0.1:{metrics_port}", scrape_interval_s=1,
    ) + f"rule_files: [{json.dumps(str(tmp_path / RULES_FILE))}]\n", encoding="utf-8")
    env = child_env(settings.replace(worker_metrics_port=metrics_port), os.environ)
    env["OPSDASH_DATABASE_URL"] = settings.database_url
    source = PrometheusSource(f"http://127.0.0.1:{prometheus_port}", timeout=5)
    on = {"model": "churn", "version": scope_label(RULE), "metric": "accuracy", "window": "1d"}
    matchers = ",".join(f'{k}="{v}"' for k, v in on.items())
    with new_supervisor(tmp_path / "logs", env) as supervisor:
        supervisor.wait_ready([
            supervisor.start(prometheus_spec(binary=binary, config=config,
                                             data_dir=tmp_path / "data", port=prometheus_port)),
            supervisor.start(worker_spec()),
        ])
        bounds = _wait(
            lambda: {s.labels["bound"]: s.value for s in source.instant(
                f'opsdash_model_quality{{{matchers},job="{WORKER_JOB}"}}')},
            seconds=60, what=lambda: f"no quality series in Prometheus; worker log:\n"
                                     f"{_log(tmp_path)}")
        labels = source.instant(f"opsdash_model_quality_labels{{{matchers}}}")
        backlog = source.instant('opsdash_label_backlog{model="churn"}')
        states = source.instant('opsdash_alert_firing{rule="churn accuracy"}')
        firing = _wait(
            lambda: source.instant('ALERTS{alertname="OpsdashChurnAccuracy",'
                                   'alertstate="firing"}'),
            seconds=30, what=lambda: "the exported rule did not fire in Prometheus")
    seen = observe(engine=engine, rule=RULE, at=utcnow())
    assert seen.interval is not None
    assert bounds == {"estimate": pytest.approx(seen.value), "lower": pytest.approx(
        seen.interval[0]), "upper": pytest.approx(seen.interval[1])}
    assert [s.value for s in labels] == [300]
    assert [s.value for s in backlog] == [0]  # every prediction has its label
    assert [s.labels["severity"] for s in states] == ["warning"]
    assert firing[0].labels["rule"] == "churn accuracy"
    assert firing[0].labels["model"] == "churn"


def _log(tmp_path: Path) -> str:
    path = tmp_path / "logs" / "worker.log"
    return path.read_text(encoding="utf-8") if path.exists() else "(none)"


def test_a_taken_metrics_port_stops_the_worker_with_one_line(
        engine: Engine, settings: Settings) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = child_env(settings.replace(worker_metrics_port=port), os.environ)
        env["OPSDASH_DATABASE_URL"] = settings.database_url
        done = subprocess.run([sys.executable, "-m", "services.worker"], cwd=PROJECT_ROOT,
                              env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"worker: cannot serve /metrics on 127.0.0.1:{port} (OPSDASH_WORKER_METRICS_PORT): "
        "Address already in use"]
