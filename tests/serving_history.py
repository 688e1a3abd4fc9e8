"""A known serving history of two versions, in a store and in a backfilled Prometheus.

Model ``churn``: version 1 serves from ``start``; version 2 is promoted at ``promoted`` and
serves until ``end``. Each version's predictions are evenly spaced over its period, so its
true request rate is exactly ``count / duration``. Prometheus gets that history the way
``make demo`` gives it the demo's: ``promtool`` blocks written from the store
(:func:`devstack.backfill.backfill_prometheus`), then a normal start.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine

from db.repositories import registry
from db.session import session_scope
from devstack.backfill import backfill_prometheus
from devstack.processes import RunningService, Supervisor
from devstack.specs import StackPaths, prometheus_spec
from tests.factories import log_predictions, make_model

MODEL = "churn"
#: Who promoted version 2, and why (shown in the page's deployments table).
PROMOTER, REASON = "release-bot", "canary looked fine"
#: Every fourth prediction is "churns".
CHURN_EVERY = 4
#: Prometheus scrapes nothing: the backfilled blocks are all there is.
IDLE_CONFIG = "global:\n  scrape_interval: 15s\nscrape_configs: []\n"


@dataclass(frozen=True)
class History:
    """When each version served and how many predictions it logged."""

    start: datetime
    promoted: datetime
    end: datetime
    v1_count: int
    v2_count: int

    @property
    def v1_rate(self) -> float:
        """Version 1's true requests per second over ``[start, promoted)``."""
        return self.v1_count / (self.promoted - self.start).total_seconds()

    @property
    def v2_rate(self) -> float:
        """Version 2's true requests per second over ``[promoted, end)``."""
        return self.v2_count / (self.end - self.promoted).total_seconds()


def _evenly(first: datetime, last: datetime, count: int) -> list[datetime]:
    gap = (last - first) / count
    return [first + gap * (i + 0.5) for i in range(count)]


def record_history(engine: Engine, history: History) -> None:
    """Register churn v1 (in production well before ``start``) and v2, promote v2 at
    ``history.promoted`` and log both versions' predictions."""
    model_id, v1_id = make_model(engine, name=MODEL, at=history.start - timedelta(days=2))
    with session_scope(engine, write=True) as session:
        v1 = registry.production_version(session=session, model_id=model_id)
        assert v1 is not None
        v2 = registry.add_version(session=session, model_id=model_id,
                                  artifact_path=v1.artifact_path,
                                  artifact_sha256=v1.artifact_sha256, created_by="test")
        registry.set_production(session=session, model_id=model_id, version_id=v2.id,
                                actor=PROMOTER, reason=REASON, at=history.promoted)
        v2_id = v2.id
    for version_id, first, last, count in (
        (v1_id, history.start, history.promoted, history.v1_count),
        (v2_id, history.promoted, history.end, history.v2_count),
    ):
        rows: list[tuple[datetime, str, str | None]] = [
            (ts, "churns" if i % CHURN_EVERY == 0 else "stays", None)
            for i, ts in enumerate(_evenly(first, last, count))
        ]
        log_predictions(engine, model_id=model_id, version_id=version_id, rows=rows)


@dataclass(frozen=True)
class BackfilledPrometheus:
    """How to (re)start the Prometheus over the backfilled data folder."""

    binary: str
    paths: StackPaths
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, supervisor: Supervisor) -> RunningService:
        """Start it on its port and data folder, and wait until it is ready."""
        service = supervisor.start(prometheus_spec(
            binary=self.binary, config=self.paths.prometheus_config,
            data_dir=self.paths.prometheus_data, port=self.port))
        supervisor.wait_ready([service])
        return service


def backfill(
    engine: Engine, *, var: Path, port: int, end: datetime, instance: str
) -> BackfilledPrometheus:
    """Write the store's history as TSDB blocks under ``var`` for a Prometheus on ``port``.

    Raises:
        LookupError: prometheus or promtool is not installed (callers skip on it).
    """
    binary, promtool = shutil.which("prometheus"), shutil.which("promtool")
    if binary is None or promtool is None:
        raise LookupError("Debian's prometheus package (prometheus, promtool) is not installed")
    paths = StackPaths(var)
    samples = backfill_prometheus(engine=engine, paths=paths, instance=instance,
                                  promtool=promtool, end=end)
    assert samples > 0
    paths.prometheus_config.write_text(IDLE_CONFIG, encoding="utf-8")
    return BackfilledPrometheus(binary=binary, paths=paths, port=port)
