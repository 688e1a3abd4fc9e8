"""A real stack for integration and browser tests: Prometheus, inference service, dashboard.

Every process binds to a free loopback port and keeps its state in a temp folder; the
same supervisor as ``make demo`` starts and stops them.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from sqlalchemy import Engine

from db.schema import upgrade
from db.session import make_engine
from devstack.processes import Supervisor, free_loopback_port
from devstack.prometheus_config import render_config
from devstack.specs import child_env, dashboard_spec, prometheus_spec, serving_spec
from services.access import SYSTEM, Role
from services.auth.users import create_user
from services.prometheus.source import PrometheusSource
from services.settings import PROJECT_ROOT, Settings

MODEL = "churn"
#: The account browser tests sign in with.
OPERATOR, OPERATOR_PASSWORD = "olga", "operator password 1"
#: Signs the stack's sign-in cookies.
COOKIE_SECRET = "live-stack-cookie-secret-" + "z" * 32
#: The stack's prediction log is written this often, so tests see their rows soon.
LOG_FLUSH_SECONDS = 0.1


def new_supervisor(log_dir: Path, env: Mapping[str, str]) -> Supervisor:
    """A supervisor for a test's processes, run from the project folder.

    It looks at the processes every 50 ms instead of 250 ms (the tiers start a dozen stacks
    and wait for each), and kills one that ignores SIGTERM after 5 s instead of 10.
    """
    return Supervisor(log_dir=log_dir, cwd=PROJECT_ROOT, env=env, poll_s=0.05, grace_s=5.0)


@dataclass(frozen=True)
class LiveStack:
    """Where the running stack answers."""

    settings: Settings
    engine: Engine
    env: dict[str, str]
    prometheus: PrometheusSource

    @property
    def dashboard_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.dashboard_port}"

    def predict(self, n: int) -> list[str]:
        """Send ``n`` single predictions; returns their ids."""
        from tests.serving_models import GOOD  # see live_stack: scikit-learn loads slowly

        ids = []
        with requests.Session() as http:
            for i in range(n):
                features = {**GOOD, "tenure": float(i % 60)}
                r = http.post(f"{self.settings.serving_url}/predict",
                              json={"model": MODEL, "features": features}, timeout=5)
                r.raise_for_status()
                ids.append(r.json()["prediction_id"])
        return ids

    def wait_for(self, query: str, expected: float, timeout_s: float = 30) -> float:
        """Poll Prometheus until ``query``'s single value equals ``expected``."""
        deadline = time.monotonic() + timeout_s
        value = None
        while time.monotonic() < deadline:
            samples = self.prometheus.instant(query)
            value = samples[0].value if samples else None
            if value == expected:
                return value
            time.sleep(0.1)
        raise AssertionError(f"{query} stayed at {value}, expected {expected}")




@pytest.fixture(scope="session")
def live_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    """Start the stack once per test session (skipped only when Prometheus is absent)."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("Debian's prometheus is not installed; `make test` installs it")
    # Imported here: every test run loads this module through tests/conftest.py, and
    # scikit-learn takes about 1.5 s to import, which a run of a few unit tests need not pay.
    from tests.serving_models import register_model

    var = tmp_path_factory.mktemp("stack")
    settings = Settings(
        var_dir=str(var),
        database_url="",
        serving_port=free_loopback_port(),
        prometheus_port=free_loopback_port(),
        dashboard_port=free_loopback_port(),
        model_reload_seconds=1.0,
        log_flush_seconds=LOG_FLUSH_SECONDS,
    )
    engine = make_engine(settings.resolved_database_url)
    upgrade(engine)
    register_model(engine, folder=var / "artifacts", name=MODEL)
    create_user(engine=engine, actor=SYSTEM, username=OPERATOR, role=Role.OPERATOR,
                password=OPERATOR_PASSWORD)
    prom_dir = var / "prometheus"
    prom_dir.mkdir()
    config = prom_dir / "prometheus.yml"
    target = f"127.0.0.1:{settings.serving_port}"
    config.write_text(render_config(scrape_target=target, scrape_interval_s=1))
    env = child_env(settings, os.environ)
    env.update({
        "OPSDASH_SERVING_PORT": str(settings.serving_port),
        "OPSDASH_DASHBOARD_PORT": str(settings.dashboard_port),
        "OPSDASH_PROMETHEUS_URL": f"http://127.0.0.1:{settings.prometheus_port}",
        "OPSDASH_MODEL_RELOAD_SECONDS": "1",
        "OPSDASH_LOG_FLUSH_SECONDS": str(LOG_FLUSH_SECONDS),
        "OPSDASH_DATABASE_URL": "",
        "OPSDASH_COOKIE_SECRET": COOKIE_SECRET,
        # Every test's browser signs in from 127.0.0.1: the per-client limit on failed
        # sign-ins must not carry over from one test to the next (it is tested on a
        # dashboard of its own, tests/browser/test_signin_limit_browser.py).
        "OPSDASH_SIGNIN_CLIENT_MAX_FAILURES": "1000",
    })
    supervisor = new_supervisor(var / "logs", env)
    try:
        services = [
            supervisor.start(prometheus_spec(binary=binary, config=config,
                                             data_dir=prom_dir / "data",
                                             port=settings.prometheus_port)),
            supervisor.start(serving_spec(settings)),
            supervisor.start(dashboard_spec(settings)),
        ]
        supervisor.wait_ready(services)
        yield LiveStack(
            settings=settings,
            engine=engine,
            env=env,
            prometheus=PrometheusSource(f"http://127.0.0.1:{settings.prometheus_port}",
                                        timeout=5),
        )
    finally:
        supervisor.stop_all()
        engine.dispose()
