"""``python -m services.worker``: run the worker's periodic tasks until SIGTERM or SIGINT.

Checks the database schema first (exit 2 with a one-line reason when it is stale), then runs
the tasks of :func:`tasks` (the bake watch, retrain jobs) each at its own cadence. A stop
signal ends the process within about a second; a task's look in progress finishes first, and
a training child still running is stopped and its job failed.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Sequence
from datetime import timedelta
from types import FrameType

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from db.schema import SchemaError, check_schema
from db.session import make_engine
from services.files import private_umask
from services.prometheus.connection import source_from_settings
from services.settings import Settings, SettingsError, get_settings
from services.worker.alerts_task import alert_tasks
from services.worker.bake_watch import bake_step, limits_from_settings
from services.worker.handoff import handoff_task
from services.worker.loop import StopFlag, Task, run_tasks
from services.worker.metrics_task import WorkerMetrics
from services.worker.retrain_task import RetrainTask

__all__ = ["main", "tasks"]

logger = logging.getLogger("services.worker")
LOG_LEVELS = ("debug", "info", "warning", "error")


#: Seconds between two looks of the retrain task (claiming a job, watching its child).
RETRAIN_POLL_S = 1.0


def tasks(*, engine: Engine, settings: Settings,
          retrain: RetrainTask | None = None) -> list[Task]:
    """The worker's periodic tasks: the bake watch, retrain jobs when ``retrain`` is
    given, and alert evaluation and notifications."""
    source = source_from_settings(settings)
    limits = limits_from_settings(settings)
    period = timedelta(minutes=settings.bake_minutes)

    def bake() -> None:
        bake_step(engine=engine, source=source, limits=limits, period=period)

    found = [Task(name="bake watch", every_s=settings.bake_check_seconds, run=bake)]
    if retrain is not None:
        found.append(Task(name="retrain", every_s=RETRAIN_POLL_S, run=retrain.step))
    return [*found, *handoff_task(engine=engine, settings=settings),
            *alert_tasks(engine=engine, settings=settings)]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m services.worker",
        description="Run the opsdash worker's periodic tasks: the bake watch after each "
        "promotion and retrain jobs (settings from OPSDASH_* variables).",
    )
    parser.add_argument(
        "--log-level", choices=LOG_LEVELS, default="info", help="log level (default: info)"
    )
    return parser


def _open_store(settings: Settings) -> Engine | None:
    engine = make_engine(settings.resolved_database_url)
    try:
        check_schema(engine)
    except SchemaError as exc:
        print(f"worker: {exc}", file=sys.stderr)
    except SQLAlchemyError as exc:
        print(f"worker: cannot open the database: {exc.__class__.__name__}", file=sys.stderr)
    else:
        return engine
    engine.dispose()
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the worker until a stop signal; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        settings = get_settings()
        engine = _open_store(settings)
        if engine is None:
            return 2
        retrain = RetrainTask(engine=engine, lease_seconds=settings.retrain_lease_seconds)
        work = tasks(engine=engine, settings=settings, retrain=retrain)
        exported = WorkerMetrics(engine=engine, settings=settings)
    except SettingsError as exc:
        print(f"worker: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"worker: cannot serve /metrics on 127.0.0.1:{settings.worker_metrics_port} "
              f"(OPSDASH_WORKER_METRICS_PORT): {exc.strerror or exc}", file=sys.stderr)
        return 2
    work += exported.tasks()
    # Configured after the schema check, so its failure stays a single line.
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = StopFlag()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    logger.info("started: %s", ", ".join(f"{t.name} every {t.every_s:g} s" for t in work))
    try:
        run_tasks(work, stop=stop)
    finally:
        exported.close()
        retrain.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        engine.dispose()
    logger.info("stopped")
    return 0


if __name__ == "__main__":
    private_umask()
    raise SystemExit(main())
