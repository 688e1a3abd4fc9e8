"""The worker's task loop: each task at its own cadence, failures logged, stop honoured."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from services.worker.loop import StopFlag, Task, run_tasks


def test_each_task_runs_at_its_own_cadence_until_stopped() -> None:
    clock = [0.0]
    runs: list[tuple[str, float]] = []
    stop = StopFlag()

    def record(name: str) -> None:
        runs.append((name, clock[0]))
        if clock[0] >= 60:
            stop.set()

    def sleeping_wait(timeout_s: float) -> bool:
        clock[0] += timeout_s
        return stop.is_set()

    stop.wait = sleeping_wait  # type: ignore[method-assign]  # a clock that advances on wait
    tasks = [Task(name="fast", every_s=10, run=lambda: record("fast")),
             Task(name="slow", every_s=30, run=lambda: record("slow"))]

    run_tasks(tasks, stop=stop, clock=lambda: clock[0])

    assert [t for name, t in runs if name == "fast"] == [0, 10, 20, 30, 40, 50, 60]
    assert [t for name, t in runs if name == "slow"] == [0, 30]


def test_a_failing_task_is_logged_and_runs_again(caplog: pytest.LogCaptureFixture) -> None:
    stop = StopFlag()
    calls = []

    def failing() -> None:
        calls.append(1)
        if len(calls) == 2:
            stop.set()
        raise RuntimeError("store unreachable")

    with caplog.at_level(logging.ERROR):
        run_tasks([Task(name="flaky", every_s=0.01, run=failing)], stop=stop)

    assert len(calls) == 2
    assert "task flaky failed" in caplog.text
    assert "store unreachable" in caplog.text


def test_a_stop_set_from_elsewhere_ends_a_long_wait_promptly() -> None:
    stop = StopFlag()
    thread = threading.Thread(
        target=run_tasks, args=([Task(name="rare", every_s=3600, run=lambda: None)],),
        kwargs={"stop": stop})
    thread.start()
    time.sleep(0.2)
    stop.set()
    thread.join(timeout=2)  # the worker promises to stop within a second or two

    assert not thread.is_alive()
