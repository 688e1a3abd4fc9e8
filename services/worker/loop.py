"""Periodic tasks and the loop that runs them: a list of tasks, each with its own cadence.

No framework: a task is a name, an interval and a function of no arguments. The loop runs
every task that is due, then sleeps until the next one is, and stops within a fraction of a
second once its :class:`StopFlag` is set (from a signal handler, say). A task that raises is
logged and runs again at its next turn: one failing look never ends the worker.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["StopFlag", "Task", "run_tasks"]

logger = logging.getLogger(__name__)


class StopFlag:
    """A stop request that a signal handler may set.

    Unlike :class:`threading.Event`, setting it takes no lock, so a handler that interrupts
    the loop while it waits cannot deadlock; waiting sleeps in short steps instead.
    """

    _STEP_S = 0.1

    def __init__(self) -> None:
        self._set = False

    def set(self) -> None:
        """Request the stop."""
        self._set = True

    def is_set(self) -> bool:
        """Whether a stop was requested."""
        return self._set

    def wait(self, timeout_s: float) -> bool:
        """Sleep up to ``timeout_s`` or until set; returns whether it is set."""
        deadline = time.monotonic() + timeout_s
        while not self._set:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            time.sleep(min(self._STEP_S, left))
        return self._set


@dataclass(frozen=True)
class Task:
    """One periodic task.

    Attributes:
        name: how the log names it.
        every_s: seconds from the end of one run to the start of the next.
        run: the work; it keeps no state the next run needs (a restart loses nothing).
    """

    name: str
    every_s: float
    run: Callable[[], None]


def run_tasks(
    tasks: Sequence[Task],
    *,
    stop: StopFlag,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Run each task when it is due, first all at once, until ``stop`` is set."""
    due = {task.name: clock() for task in tasks}
    while not stop.is_set():
        for task in tasks:
            if stop.is_set():
                return
            if clock() < due[task.name]:
                continue
            try:
                task.run()
            except Exception:
                # Broad on purpose: a failed look is retried at the next turn, never fatal.
                logger.exception("task %s failed; next try in %.0f s", task.name, task.every_s)
            due[task.name] = clock() + task.every_s
        if not tasks:
            stop.wait(1.0)
            continue
        stop.wait(max(0.0, min(due.values()) - clock()))
