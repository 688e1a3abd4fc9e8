"""The generated Prometheus configuration."""

from __future__ import annotations

import pytest

from devstack.prometheus_config import render_config
from services.prometheus.metric_names import SERVING_JOB


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip() and not line.startswith("#")]


def test_config_has_global_intervals_and_one_scrape_job() -> None:
    text = render_config(scrape_target="127.0.0.1:8000", scrape_interval_s=5)

    assert _lines(text) == [
        "global:",
        "  scrape_interval: 5s",
        "  scrape_timeout: 4s",
        "  evaluation_interval: 5s",
        "scrape_configs:",
        f'  - job_name: "{SERVING_JOB}"',
        "    metrics_path: /metrics",
        "    scheme: http",
        "    static_configs:",
        '      - targets: ["127.0.0.1:8000"]',
    ]


def test_scrape_timeout_never_exceeds_the_interval() -> None:
    text = render_config(scrape_target="127.0.0.1:8000", scrape_interval_s=2)

    assert "scrape_timeout: 2s" in text


def test_job_name_and_target_are_the_given_ones() -> None:
    text = render_config(scrape_target="localhost:18000", job="other-job")

    assert 'job_name: "other-job"' in text
    assert 'targets: ["localhost:18000"]' in text


def test_default_job_is_the_serving_job_on_loopback() -> None:
    text = render_config(scrape_target="127.0.0.1:8000")

    assert f'"{SERVING_JOB}"' in text
    assert "0.0.0.0" not in text  # noqa: S104 (asserting its absence)


@pytest.mark.parametrize(
    "target",
    [
        "127.0.0.1",
        "127.0.0.1:",
        "127.0.0.1:0",
        "127.0.0.1:70000",
        'evil:80"]\n  - job_name: x',
        "host with space:80",
        "",
    ],
)
def test_malformed_targets_are_refused(target: str) -> None:
    with pytest.raises(ValueError, match="host:port"):
        render_config(scrape_target=target)


def test_malformed_job_and_interval_are_refused() -> None:
    with pytest.raises(ValueError, match="job name"):
        render_config(scrape_target="127.0.0.1:8000", job='a"\nb')
    with pytest.raises(ValueError, match="interval"):
        render_config(scrape_target="127.0.0.1:8000", scrape_interval_s=0)


def test_ipv6_loopback_target_is_accepted() -> None:
    assert 'targets: ["[::1]:8000"]' in render_config(scrape_target="[::1]:8000")
