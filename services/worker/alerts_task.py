"""The worker's alert tasks: evaluation rounds (``alerts``) and sending notifications
(``alert deliveries``), apart so a slow webhook never delays an evaluation.

Every worker runs both; the evaluator's lease lets exactly one of them evaluate, and each
delivery is claimed before it is sent, so two workers never send one twice.
"""

from __future__ import annotations

import logging
import os
import socket

from sqlalchemy import Engine

from services.alerts.evaluate import EVERY_S, evaluate_due
from services.alerts.outbox import deliver_due
from services.alerts.sources import Sources
from services.settings import Settings
from services.worker.loop import Task

__all__ = ["DELIVER_EVERY_S", "alert_tasks"]

logger = logging.getLogger(__name__)

#: Seconds between two looks of the outbox.
DELIVER_EVERY_S = 5.0


def alert_tasks(*, engine: Engine, settings: Settings) -> list[Task]:
    """The ``alerts`` task (a round every 15 s; each rule's cadence decides what it
    evaluates) and the ``alert deliveries`` task (every 5 s)."""
    holder = f"{socket.gethostname()}:{os.getpid()}:alerts"[:100]
    state = {"held": False}
    # Kept for the process: finished days of drift stay cached between rounds.
    sources = Sources.from_settings(settings)

    def evaluate() -> None:
        result = evaluate_due(engine=engine, settings=settings, holder=holder,
                              sources=sources)
        if result.held != state["held"]:
            # Said once when it changes, not every round.
            logger.info("%s", "evaluating alert rules" if result.held else result.note)
            state["held"] = result.held

    def deliver() -> None:
        sent = deliver_due(engine=engine, settings=settings)
        if sent:
            logger.info("alert notifications: %d attempt(s)", sent)

    return [Task(name="alerts", every_s=EVERY_S, run=evaluate),
            Task(name="alert deliveries", every_s=DELIVER_EVERY_S, run=deliver)]
