"""The demo's worker serves /metrics and the demo's Prometheus scrapes it."""

from __future__ import annotations

import pytest

from devstack.prometheus_config import render_config
from devstack.specs import (
    DEMO_WORKER_METRICS_PORT,
    child_env,
    with_worker_metrics,
    worker_target,
)
from services.prometheus.metric_names import SERVING_JOB, WORKER_JOB
from services.settings import Settings


def test_the_config_scrapes_the_worker_as_its_own_job() -> None:
    text = render_config(scrape_target="127.0.0.1:8000", worker_target="127.0.0.1:9101")
    jobs = [line.strip() for line in text.splitlines() if "job_name" in line]
    assert jobs == [f'- job_name: "{SERVING_JOB}"', f'- job_name: "{WORKER_JOB}"']
    assert text.rstrip().endswith('- targets: ["127.0.0.1:9101"]')


def test_without_a_worker_target_only_the_service_is_scraped() -> None:
    assert WORKER_JOB not in render_config(scrape_target="127.0.0.1:8000")


@pytest.mark.parametrize("target", ["127.0.0.1", "127.0.0.1:0", "h:1\n  - job_name: x"])
def test_a_malformed_worker_target_is_refused(target: str) -> None:
    with pytest.raises(ValueError, match="host:port"):
        render_config(scrape_target="127.0.0.1:8000", worker_target=target)


def test_the_demo_worker_serves_metrics_on_its_default_port_unless_one_is_set() -> None:
    demo = with_worker_metrics(Settings(worker_metrics_port=0))
    assert demo.worker_metrics_port == DEMO_WORKER_METRICS_PORT
    assert worker_target(demo) == f"127.0.0.1:{DEMO_WORKER_METRICS_PORT}"
    assert child_env(demo, {})["OPSDASH_WORKER_METRICS_PORT"] == str(DEMO_WORKER_METRICS_PORT)
    chosen = with_worker_metrics(Settings(worker_metrics_port=9300))
    assert worker_target(chosen) == "127.0.0.1:9300"


def test_outside_the_demo_port_zero_means_no_worker_metrics() -> None:
    settings = Settings(worker_metrics_port=0)
    assert worker_target(settings) is None
    assert "OPSDASH_WORKER_METRICS_PORT" not in child_env(settings, {})
