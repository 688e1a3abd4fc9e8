"""The worker's export is started only when a metrics port is set."""

from __future__ import annotations

import pytest
import requests
from sqlalchemy import create_engine

from devstack.processes import free_loopback_port
from services.settings import Settings
from services.worker.metrics_task import FIGURES_EVERY_S, WorkerMetrics


def test_port_zero_serves_nothing_and_adds_no_task() -> None:
    exported = WorkerMetrics(engine=create_engine("sqlite://"),
                             settings=Settings(worker_metrics_port=0))
    try:
        assert exported.server is None
        assert exported.tasks() == []
    finally:
        exported.close()


def test_a_port_serves_the_figures_task_publishes() -> None:
    port = free_loopback_port()
    exported = WorkerMetrics(engine=create_engine("sqlite://"),
                             settings=Settings(worker_metrics_port=port))
    try:
        assert [(t.name, t.every_s) for t in exported.tasks()] == [
            ("alert figures", FIGURES_EVERY_S)]
        assert exported.tasks()[0].run == exported.figures.step
        answer = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
        assert answer.status_code == 200
        assert "opsdash_model_quality" in answer.text  # described, no sample yet
    finally:
        exported.close()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
