"""The worker's alert tasks: evaluation rounds (``alerts``) and sending notifications
(``alert deliveries``), apart so a slow webhook never delays an evaluation.

The worker's loop runs its tasks one after another, so the deliveries' look runs on a
thread of its own: the loop only starts it (when the previous look has ended) and goes on
with the evaluation. A worker that stops mid-attempt leaves the delivery claimed; it is
tried again once the claim runs out. Every worker runs both tasks; the evaluator's lease
lets exactly one of them evaluate, and each delivery is claimed before it is sent, so two
workers never send one twice.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable

from sqlalchemy import Engine

from services.alerts.evaluate import EVERY_S, evaluate_due
from services.alerts.outbox import deliver_due
from services.alerts.sources import Sources
from services.settings import Settings
from services.worker.loop import Task

__all__ = ["DELIVER_EVERY_S", "InBackground", "alert_tasks"]

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
            Task(name="alert deliveries", every_s=DELIVER_EVERY_S, run=InBackground(deliver))]


class InBackground:
    """A task's work on a thread of its own: calling it starts the work unless the
    previous run is still going, and returns at once."""

    def __init__(self, work: Callable[[], None]) -> None:
        self._work = work
        self._thread: threading.Thread | None = None

    def __call__(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        # A daemon: a stop never waits for a webhook; the claim lets it be tried again.
        self._thread = threading.Thread(target=self._run, name="alert deliveries",
                                        daemon=True)
        self._thread.start()

    def join(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for the current run; whether none is going."""
        if self._thread is not None:
            self._thread.join(timeout_s)
        return self._thread is None or not self._thread.is_alive()

    def _run(self) -> None:
        try:
            self._work()
        except Exception:
            # Broad on purpose, as the loop's own: the next look tries again.
            logger.exception("task alert deliveries failed; next try in %.0f s",
                             DELIVER_EVERY_S)
