"""What the local stack runs: its state folders and one :class:`ServiceSpec` per process.

Pure descriptions (no process is started here except by :func:`start_prometheus`), so the
command lines, ports and shutdown tiers can be checked without running anything.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from devstack.processes import RunningService, ServiceSpec, Supervisor
from devstack.prometheus_config import render_config
from services.settings import Settings

__all__ = [
    "DEMO_WORKER_METRICS_PORT",
    "LOOPBACK",
    "PROMETHEUS_RETENTION",
    "StackPaths",
    "child_env",
    "dashboard_spec",
    "prometheus_spec",
    "scrape_target",
    "serving_spec",
    "simulator_spec",
    "start_prometheus",
    "with_worker_metrics",
    "worker_spec",
    "worker_target",
]

#: Every process of the local stack listens here only.
LOOPBACK = "127.0.0.1"
#: Samples older than this are dropped; the demo backfills 14 days.
PROMETHEUS_RETENTION = "30d"
#: The worker's ``/metrics`` port in the demo when ``OPSDASH_WORKER_METRICS_PORT`` is unset
#: (0), so the demo's Prometheus has the model-quality figures to show.
DEMO_WORKER_METRICS_PORT = 9101


@dataclass(frozen=True)
class StackPaths:
    """Where the local stack keeps its state, all under ``var_dir``."""

    var_dir: Path

    @property
    def logs(self) -> Path:
        """Folder of the ``<process>.log`` files."""
        return self.var_dir / "logs"

    @property
    def prometheus_dir(self) -> Path:
        """Folder of Prometheus' configuration and data."""
        return self.var_dir / "prometheus"

    @property
    def prometheus_config(self) -> Path:
        """The generated ``prometheus.yml``."""
        return self.prometheus_dir / "prometheus.yml"

    @property
    def prometheus_data(self) -> Path:
        """Prometheus' TSDB folder."""
        return self.prometheus_dir / "data"


def _connect_host(bind_host: str) -> str:
    # A server bound to every interface is still reached (and scraped) over loopback.
    return LOOPBACK if bind_host in ("", "0.0.0.0") else bind_host  # noqa: S104 (compared, not bound)


def scrape_target(settings: Settings) -> str:
    """``host:port`` Prometheus scrapes; also the ``instance`` label of the backfilled series."""
    return f"{_connect_host(settings.serving_host)}:{settings.serving_port}"


def with_worker_metrics(settings: Settings) -> Settings:
    """The demo's settings: the worker serves ``/metrics`` (on
    :data:`DEMO_WORKER_METRICS_PORT` unless ``OPSDASH_WORKER_METRICS_PORT`` names a port)."""
    if settings.worker_metrics_port:
        return settings
    return settings.replace(worker_metrics_port=DEMO_WORKER_METRICS_PORT)


def worker_target(settings: Settings) -> str | None:
    """``host:port`` of the worker's ``/metrics`` (always loopback), or ``None``: none."""
    port = settings.worker_metrics_port
    return f"{LOOPBACK}:{port}" if port else None


def child_env(settings: Settings, environ: Mapping[str, str]) -> dict[str, str]:
    """Environment of the stack's processes: the caller's, plus what keeps them consistent."""
    env = dict(environ)
    env["PYTHONUNBUFFERED"] = "1"
    env["OPSDASH_VAR_DIR"] = settings.var_dir
    if settings.worker_metrics_port:
        env["OPSDASH_WORKER_METRICS_PORT"] = str(settings.worker_metrics_port)
    # The dashboard must query the Prometheus started here, also when its port was changed.
    if not environ.get("OPSDASH_PROMETHEUS_URL"):
        env["OPSDASH_PROMETHEUS_URL"] = f"http://{LOOPBACK}:{settings.prometheus_port}"
    return env


def prometheus_spec(*, binary: str, config: Path, data_dir: Path, port: int) -> ServiceSpec:
    """Prometheus on loopback only, with the retention that keeps the demo's history."""
    return ServiceSpec(
        name="prometheus",
        argv=(
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={data_dir}",
            f"--storage.tsdb.retention.time={PROMETHEUS_RETENTION}",
            f"--web.listen-address={LOOPBACK}:{port}",
        ),
        ready_url=f"http://{LOOPBACK}:{port}/-/ready",
        ready_timeout_s=120.0,
        stop_tier=2,
    )


def serving_spec(settings: Settings) -> ServiceSpec:
    """The inference service; stopped after its clients, before Prometheus."""
    return ServiceSpec(
        name="serving",
        argv=(sys.executable, "-m", "services.serving"),
        ready_url=f"http://{scrape_target(settings)}/healthz",
        ready_timeout_s=90.0,
        stop_tier=1,
    )


def simulator_spec() -> ServiceSpec:
    """The demo traffic generator (no health URL: staying up counts as ready)."""
    return ServiceSpec(
        name="simulator",
        argv=(sys.executable, "-m", "devstack.simulator"),
        ready_url=None,
        settle_s=2.0,
        stop_tier=0,
    )


def worker_spec() -> ServiceSpec:
    """The worker's periodic tasks (the bake watch); stopped with the clients, and like the
    simulator it has no health URL: staying up counts as ready."""
    return ServiceSpec(
        name="worker",
        argv=(sys.executable, "-m", "services.worker"),
        ready_url=None,
        settle_s=2.0,
        stop_tier=0,
    )


def dashboard_spec(settings: Settings) -> ServiceSpec:
    """Streamlit serving ``server.py`` (the app plus sign-in routes) on loopback, headless."""
    return ServiceSpec(
        name="dashboard",
        argv=(
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "server.py",
            "--server.address",
            LOOPBACK,
            "--server.port",
            str(settings.dashboard_port),
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
            # Nobody edits the code of a running demo; watching files only costs CPU.
            "--server.fileWatcherType",
            "none",
        ),
        ready_url=f"http://{LOOPBACK}:{settings.dashboard_port}/_stcore/health",
        ready_timeout_s=90.0,
        stop_tier=0,
    )


def start_prometheus(
    supervisor: Supervisor, *, paths: StackPaths, port: int, target: str, binary: str,
    worker: str | None = None,
) -> RunningService:
    """Write the generated configuration and start Prometheus (without waiting for it);
    ``worker`` is the worker's ``/metrics`` target, scraped as job ``opsdash-worker``."""
    paths.prometheus_dir.mkdir(parents=True, exist_ok=True)
    paths.prometheus_config.write_text(
        render_config(scrape_target=target, worker_target=worker), encoding="utf-8")
    spec = prometheus_spec(
        binary=binary, config=paths.prometheus_config, data_dir=paths.prometheus_data, port=port
    )
    return supervisor.start(spec)
