"""The bake watch end to end: a real inference service scraped by a real Prometheus, the
worker as a real process, and a promoted version whose error rate breaks the SLO.

The worker must read the breach from Prometheus, roll back as ``system`` with the figures,
and the inference service must serve the old version again.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import Engine

from devstack.processes import free_loopback_port
from devstack.prometheus_config import render_config
from devstack.specs import child_env, prometheus_spec, serving_spec, worker_spec
from services.access.principal import CLI
from services.promotion.actions import LedgerEntry, ledger, promote
from services.promotion.policy import Policy
from services.settings import Settings
from tests.live_stack import new_supervisor
from tests.serving_models import GOOD, add_version, register_model

pytestmark = pytest.mark.integration

RELOAD_SECONDS = 1


def _predict(base: str, features: dict[str, Any]) -> requests.Response:
    return requests.post(f"{base}/predict", json={"model": "churn", "features": features},
                         timeout=5)


def _served_version(base: str) -> int:
    answer = _predict(base, GOOD)
    answer.raise_for_status()
    return int(answer.json()["version"])


def _wait(check: Any, *, seconds: float, what: Callable[[], str]) -> Any:
    deadline = time.monotonic() + seconds
    while not (found := check()):
        assert time.monotonic() < deadline, what()
        time.sleep(0.2)
    return found


def _system_rollback(engine: Engine) -> LedgerEntry | None:
    latest = ledger(engine=engine, model="churn")[0]
    return latest if latest.kind == "rollback" and latest.actor == "system" else None


def test_an_error_rate_breach_seen_in_prometheus_rolls_back_the_running_service(
        engine: Engine, settings: Settings, tmp_path: Path) -> None:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("Debian's prometheus is not installed; `make test` installs it")
    var = Path(settings.var_dir)
    model_id, _ = register_model(engine, folder=var / "artifacts")
    add_version(engine, folder=var / "artifacts", model_id=model_id, seed=2, promote=False)
    stack = settings.replace(serving_port=free_loopback_port(),
                             prometheus_port=free_loopback_port())
    config = var / "prometheus.yml"
    config.write_text(render_config(scrape_target=f"127.0.0.1:{stack.serving_port}",
                                    scrape_interval_s=1))
    env = child_env(stack, os.environ)
    env.update({"OPSDASH_SERVING_PORT": str(stack.serving_port),
                "OPSDASH_DATABASE_URL": stack.database_url,
                "OPSDASH_MODEL_RELOAD_SECONDS": str(RELOAD_SECONDS),
                "OPSDASH_BAKE_CHECK_SECONDS": "1"})
    base = stack.serving_url
    with new_supervisor(tmp_path / "logs", env) as supervisor:
        supervisor.wait_ready([
            supervisor.start(prometheus_spec(binary=binary, config=config,
                                             data_dir=var / "prometheus-data",
                                             port=stack.prometheus_port)),
            supervisor.start(serving_spec(stack)),
            supervisor.start(worker_spec()),
        ])
        promote(engine=engine, actor=CLI, model="churn", version=2, expected=1,
                policy=Policy(), reason="promoted to be rolled back by the bake watch")
        _wait(lambda: _served_version(base) == 2, seconds=RELOAD_SECONDS + 5,
              what=lambda: "version 2 is not served")
        # v2 answers 20 requests and refuses 10 as invalid: a third fail, the SLO allows 1 %.
        for _ in range(20):
            assert _predict(base, GOOD).status_code == 200
        for _ in range(10):
            assert _predict(base, {"tenure": 12.0}).status_code == 422

        entry = _wait(lambda: _system_rollback(engine), seconds=60,
                      what=lambda: f"no rollback by the worker; its log:\n{_log(tmp_path)}")
        _wait(lambda: _served_version(base) == 1, seconds=RELOAD_SECONDS + 5,
              what=lambda: "the service did not return to version 1")

    assert (entry.from_version, entry.to_version) == (2, 1)
    assert "error rate" in entry.reason
    assert entry.trigger["error_rate"] > 0.01
    assert entry.trigger["requests"] >= 20


def _log(tmp_path: Path) -> str:
    path = tmp_path / "logs" / "worker.log"
    return path.read_text(encoding="utf-8") if path.exists() else "(none)"
