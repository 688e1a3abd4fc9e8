"""The worker's hand-off task: deliver queued webhook jobs, end abandoned handed-off ones.

Runs only with ``OPSDASH_RETRAIN_BACKEND=webhook``. Each look first ends the handed-off
jobs an operator cancelled or whose pipeline stopped reporting, then delivers the queued
webhook jobs one at a time (a slow receiver delays the next delivery, never the dashboard,
which only queues). Several workers may run it: a job is claimed before it is delivered.
"""

from __future__ import annotations

import logging
import os
import socket

from sqlalchemy import Engine

from services.retrain.handoff import deliver_next, end_overdue, webhook_headers
from services.settings import Settings
from services.worker.loop import Task

__all__ = ["EVERY_S", "MAX_PER_LOOK", "handoff_step", "handoff_task"]

logger = logging.getLogger(__name__)

#: Seconds between two looks.
EVERY_S = 2.0
#: Most jobs one look delivers (the rest wait for the next look).
MAX_PER_LOOK = 10


def handoff_step(*, engine: Engine, settings: Settings, worker_id: str) -> None:
    """One look: end cancelled or silent handed-off jobs, then deliver queued ones."""
    for job_id in end_overdue(engine=engine, settings=settings):
        logger.info("handed-off retrain job %d ended (cancelled, or its pipeline went "
                    "silent)", job_id)
    for _ in range(MAX_PER_LOOK):
        job = deliver_next(engine=engine, settings=settings, worker_id=worker_id)
        if job is None:
            return
        if job.status == "failed":
            logger.warning("retrain job %d not handed off: %s", job.id, job.error)
        else:
            logger.info("retrain job %d handed off to the pipeline", job.id)


def handoff_task(*, engine: Engine, settings: Settings) -> list[Task]:
    """The hand-off task, when the backend is ``webhook`` (else none).

    Raises:
        SettingsError: ``OPSDASH_RETRAIN_WEBHOOK_HEADERS`` is malformed (said at start).
    """
    if settings.retrain_backend != "webhook":
        return []
    webhook_headers(settings)
    worker_id = f"{socket.gethostname()}:{os.getpid()}:handoff"[:100]

    def run() -> None:
        handoff_step(engine=engine, settings=settings, worker_id=worker_id)

    return [Task(name="retrain hand-off", every_s=EVERY_S, run=run)]
