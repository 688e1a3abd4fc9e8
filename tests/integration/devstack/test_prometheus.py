"""The launcher's Prometheus steps against Debian's real prometheus and promtool."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from devstack.backfill import backfill_prometheus
from devstack.processes import StartupError, Supervisor, free_loopback_port, http_ok
from devstack.prometheus_config import render_config
from devstack.specs import StackPaths, start_prometheus

PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        PROMETHEUS is None or PROMTOOL is None,
        reason="Debian's prometheus package is not installed (`make setup` installs it)",
    ),
]

INSTANCE = "127.0.0.1:8000"




def _fake_backfill(monkeypatch: pytest.MonkeyPatch, body: str) -> None:
    def write_openmetrics(*, path: Path, end: datetime, instance: str, **_: Any) -> int:
        t = int(end.timestamp())
        samples = [
            f'opsdash_backfill_probe{{instance="{instance}"}} {v} {t - age}'
            for v, age in ((1, 3 * 3600), (2, 120))
        ]
        path.write_text(
            body or "# TYPE opsdash_backfill_probe gauge\n" + "\n".join(samples) + "\n# EOF\n"
        )
        return len(samples)

    monkeypatch.setitem(
        sys.modules, "devstack.demo.backfill", SimpleNamespace(write_openmetrics=write_openmetrics)
    )


def _query(port: int, promql: str, at: datetime) -> list[Any]:
    url = f"http://127.0.0.1:{port}/api/v1/query?query={promql}&time={at.timestamp():.0f}"
    with urllib.request.urlopen(url, timeout=5) as response:
        result: list[Any] = json.load(response)["data"]["result"]
    return result


def test_backfilled_history_is_served_by_the_started_prometheus(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert PROMETHEUS is not None
    assert PROMTOOL is not None
    _fake_backfill(monkeypatch, "")
    paths = StackPaths(tmp_path / "var")
    end = datetime.now(UTC).replace(microsecond=0)
    port = free_loopback_port()

    samples = backfill_prometheus(
        engine=None,  # type: ignore[arg-type]
        paths=paths,
        instance=INSTANCE,
        promtool=PROMTOOL,
        end=end,
    )
    assert samples == 2
    assert any(paths.prometheus_data.glob("*/meta.json")), "promtool wrote no block"
    assert not (paths.prometheus_dir / "backfill.om").exists()

    sup = Supervisor(log_dir=paths.logs, cwd=tmp_path, env={}, out=io.StringIO())
    with sup:
        prom = start_prometheus(sup, paths=paths, port=port, target=INSTANCE, binary=PROMETHEUS)
        sup.wait_ready([prom])

        assert http_ok(f"http://127.0.0.1:{port}/-/ready")
        result = _query(port, "opsdash_backfill_probe", end - timedelta(seconds=60))
        assert [r["value"][1] for r in result] == ["2"]
        assert result[0]["metric"]["instance"] == INSTANCE

    assert prom.process.returncode == 0
    assert f'targets: ["{INSTANCE}"]' in paths.prometheus_config.read_text()
    assert "Server is ready to receive web requests" in (paths.logs / "prometheus.log").read_text()


def test_a_failed_backfill_names_the_promtool_log_and_leaves_no_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert PROMTOOL is not None
    _fake_backfill(monkeypatch, "not a metric name{} 1 1700000000\n# EOF\n")
    paths = StackPaths(tmp_path / "var")

    with pytest.raises(StartupError, match=r"promtool could not backfill .*promtool\.log"):
        backfill_prometheus(
            engine=None,  # type: ignore[arg-type]
            paths=paths,
            instance=INSTANCE,
            promtool=PROMTOOL,
            end=datetime.now(UTC),
        )

    assert not paths.prometheus_data.exists()
    assert not (paths.prometheus_dir / "data.backfill").exists()


def test_a_failing_promtool_leaves_no_half_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_backfill(monkeypatch, "# TYPE g gauge\ng 1 7200\n# EOF\n")
    paths = StackPaths(tmp_path)
    promtool = tmp_path / "promtool"
    promtool.write_text("#!/bin/sh\necho 'cannot parse' >&2\nexit 1\n")
    promtool.chmod(0o755)

    with pytest.raises(StartupError, match=r"1 of 1 windows failed.*promtool\.log"):
        backfill_prometheus(engine=None, paths=paths, instance=INSTANCE,  # type: ignore[arg-type]
                            promtool=str(promtool), end=datetime.now(UTC))

    assert sorted(p.name for p in paths.prometheus_dir.iterdir()) == []
    assert "cannot parse" in (paths.logs / "promtool.log").read_text()


def test_promtool_accepts_the_config(tmp_path: Path) -> None:
    config = tmp_path / "prometheus.yml"
    config.write_text(render_config(scrape_target="127.0.0.1:8000"), encoding="utf-8")

    result = subprocess.run(
        [str(PROMTOOL), "check", "config", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
