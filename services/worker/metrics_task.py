"""The worker's Prometheus export: the figures task and the ``/metrics`` server together.

Started only when ``OPSDASH_WORKER_METRICS_PORT`` is set (0, the default, starts neither):
nobody would read figures that no server serves.
"""

from __future__ import annotations

from sqlalchemy import Engine

from services.alerts.figures import FiguresTask
from services.alerts.sources import Sources
from services.settings import Settings
from services.worker.loop import Task
from services.worker.metrics_server import MetricsServer, start_metrics_server

__all__ = ["FIGURES_EVERY_S", "WorkerMetrics"]

#: Seconds between two computations of the exported figures.
FIGURES_EVERY_S = 60.0


class WorkerMetrics:
    """The figures task and, when a port is given, the server of its figures."""

    def __init__(self, *, engine: Engine, settings: Settings) -> None:
        """Start serving on 127.0.0.1:``OPSDASH_WORKER_METRICS_PORT`` (0: export nothing).

        Raises:
            OSError: the port cannot be bound.
        """
        self.server: MetricsServer | None = None
        port = settings.worker_metrics_port
        sources = Sources.from_settings(settings) if port else None
        self.figures = FiguresTask(engine=engine, sources=sources)
        if port:
            self.server = start_metrics_server(port=port, figures=self.figures.latest)

    def tasks(self) -> list[Task]:
        """The figures task, when figures are served."""
        if self.server is None:
            return []
        return [Task(name="alert figures", every_s=FIGURES_EVERY_S, run=self.figures.step)]

    def close(self) -> None:
        """Stop the server, if one runs."""
        if self.server is not None:
            self.server.close()
