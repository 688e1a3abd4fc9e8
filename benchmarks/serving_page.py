"""Benchmark: the Serving page's server-side work over 7 days with two versions.

Seeds the demo into a temporary store, makes a second churn version serve the last 3.5
days (promoted, so the page also draws a marker), backfills a real Prometheus with that
history, starts it on a free loopback port, then times ``serving_view`` — every PromQL
request of one page refresh, plus the registry reads — cold once and warm several times.

Run with ``make bench-serving`` (or ``.venv/bin/python -m benchmarks.serving_page``).
Prints the figures and writes them as JSON to ``benchmarks/results/serving_page.json``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, update

from benchmarks.report import report
from db.models import Prediction
from db.repositories import registry
from db.schema import upgrade
from db.session import make_engine, session_scope
from devstack.backfill import backfill_prometheus
from devstack.demo.seed import seed_demo
from devstack.processes import Supervisor, free_loopback_port
from devstack.specs import StackPaths, prometheus_spec, scrape_target
from services.prometheus.presets import active_preset
from services.prometheus.source import PrometheusSource
from services.settings import PROJECT_ROOT, Settings
from services.views.serving import serving_view

RESULTS = PROJECT_ROOT / "benchmarks" / "results" / "serving_page.json"
TARGET_WARM_S = 1.0




def _second_version(engine: Engine, now: datetime) -> datetime:
    """Register churn v2 (v1's artifact), promote it 3.5 days ago, move later rows to it."""
    promoted = now - timedelta(days=3, hours=12)
    with session_scope(engine, write=True) as session:
        model = registry.get_model(session=session, name="churn")
        v1 = registry.production_version(session=session, model_id=model.id)
        assert v1 is not None
        v2 = registry.add_version(session=session, model_id=model.id,
                                  artifact_path=v1.artifact_path,
                                  artifact_sha256=v1.artifact_sha256, created_by="benchmark",
                                  notes="benchmark: v1's artifact as a second version")
        registry.set_production(session=session, model_id=model.id, version_id=v2.id,
                                actor="benchmark", reason="two versions for the benchmark",
                                at=promoted)
        session.execute(
            update(Prediction)
            .where(Prediction.model_id == model.id, Prediction.ts >= promoted)
            .values(version_id=v2.id)
        )
    return promoted


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="warm runs (default 7)")
    parser.add_argument("--days", type=int, default=7, help="range of the page (default 7)")
    args = parser.parse_args(argv)
    binary, promtool = shutil.which("prometheus"), shutil.which("promtool")
    if binary is None or promtool is None:
        print("prometheus and promtool are needed: `make setup` installs them", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="opsdash-bench-") as tmp:
        port = free_loopback_port()
        settings = Settings(var_dir=tmp, database_url="", prometheus_port=port)
        paths = StackPaths(Path(tmp))
        engine = make_engine(settings.resolved_database_url)
        upgrade(engine)
        now = datetime.now(UTC)
        t0 = time.perf_counter()
        seeded = seed_demo(engine=engine, settings=settings, now=now)
        _second_version(engine, now)
        samples = backfill_prometheus(engine=engine, paths=paths,
                                      instance=scrape_target(settings), promtool=promtool,
                                      end=now)
        prepared = time.perf_counter() - t0
        paths.prometheus_config.write_text(
            "global:\n  scrape_interval: 15s\nscrape_configs: []\n", encoding="utf-8")
        supervisor = Supervisor(log_dir=paths.logs, cwd=PROJECT_ROOT, env=dict(os.environ))
        try:
            prom = supervisor.start(prometheus_spec(binary=binary,
                                                    config=paths.prometheus_config,
                                                    data_dir=paths.prometheus_data, port=port))
            supervisor.wait_ready([prom])
            source = PrometheusSource(f"http://127.0.0.1:{port}", timeout=30)
            preset = active_preset(settings)
            start, end = now - timedelta(days=args.days), now

            def run() -> tuple[float, int, int]:
                began = time.perf_counter()
                view = serving_view(source=source, preset=preset, engine=engine, model="churn",
                                    versions=None, start=start, end=end)
                took = time.perf_counter() - began
                points = sum(len(s.times) for p in view.panels.values() for s in p.series)
                errors = [p.error for p in view.panels.values() if p.error]
                if errors or view.unavailable:
                    raise SystemExit(f"the page's queries failed: {errors or view.unavailable}")
                return took, view.requests, points

            cold, requests, points = run()
            warm = [run()[0] for _ in range(args.runs)]
        finally:
            supervisor.stop_all()
            engine.dispose()
    figures = {
        "benchmark": "serving_page",
        "range_days": args.days,
        "versions": 2,
        "predictions_in_store": seeded.predictions,
        "backfilled_samples": samples,
        "prepare_s": round(prepared, 1),
        "cold_s": round(cold, 3),
        "warm_median_s": round(statistics.median(warm), 3),
        "warm_max_s": round(max(warm), 3),
        "warm_runs": args.runs,
        "promql_requests_per_refresh": requests,
        "points_drawn": points,
        "target_warm_s": TARGET_WARM_S,
        "meets_target": statistics.median(warm) <= TARGET_WARM_S,
    }
    report(figures, RESULTS)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
