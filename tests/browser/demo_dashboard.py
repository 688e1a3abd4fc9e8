"""A dashboard on its own store seeded as ``make demo`` seeds it, for the Models page's
browser tests (three days of history: churn v1 in production, a candidate v2 answering the
last hours in the shadow), optionally with a real worker beside it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from db.schema import upgrade
from db.session import make_engine
from devstack.demo.seed import seed_demo
from devstack.processes import free_loopback_port
from devstack.specs import child_env, dashboard_spec, worker_spec
from services.access import SYSTEM, Role
from services.auth.users import create_user
from services.settings import Settings
from tests.live_stack import new_supervisor

OPERATOR, PASSWORD = "opal", "quiet harbour lantern 12"


@dataclass(frozen=True)
class Demo:
    url: str
    engine: Engine


def demo_dashboard(var: Path, *, with_worker: bool = False) -> Iterator[Demo]:
    """Seed a store in ``var``, add the operator, start the dashboard (and the worker);
    stop them when the generator is closed."""
    settings = Settings(var_dir=str(var), database_url="", dashboard_port=free_loopback_port(),
                        demo_days=3)
    engine = make_engine(settings.resolved_database_url)
    upgrade(engine)
    seed_demo(engine=engine, settings=settings)
    create_user(engine=engine, actor=SYSTEM, username=OPERATOR, role=Role.OPERATOR,
                password=PASSWORD)
    env = child_env(settings, os.environ)
    env.update({
        "OPSDASH_DATABASE_URL": "",
        "OPSDASH_COOKIE_SECRET": f"{var.name}-test-cookie-secret-" + "m" * 32,
        # Nothing listens here: the pages say so and carry on with the store's figures.
        "OPSDASH_PROMETHEUS_URL": f"http://127.0.0.1:{free_loopback_port()}",
        "OPSDASH_PROMETHEUS_TIMEOUT": "0.5",
    })
    supervisor = new_supervisor(var / "logs", env)
    try:
        started = [supervisor.start(dashboard_spec(settings))]
        if with_worker:
            started.append(supervisor.start(worker_spec()))
        supervisor.wait_ready(started)
        yield Demo(url=f"http://127.0.0.1:{settings.dashboard_port}", engine=engine)
    finally:
        supervisor.stop_all()
        engine.dispose()
