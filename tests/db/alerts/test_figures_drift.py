"""The exported drift share on a seeded demo store: what a drift-share rule observes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from devstack.demo.seed import seed_demo
from services.access import SYSTEM
from services.alerts.figures import FiguresTask
from services.alerts.observe import observe
from services.alerts.rules import DriftShareRule
from services.alerts.sources import Sources
from services.alerts.store import save_rule
from services.settings import Settings

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def test_the_drift_share_is_what_a_drift_rule_observes(engine: Engine,
                                                       settings: Settings) -> None:
    demo = settings.replace(demo_days=3)
    report = seed_demo(engine=engine, settings=demo, now=NOW)
    save_rule(engine=engine, actor=SYSTEM, rule=DriftShareRule(
        name="churn drift", model="churn", level=0.5, resolve_level=0.3, window_days=2))
    sources = Sources.from_settings(demo)
    task = FiguresTask(engine=engine, sources=sources, clock=lambda: NOW)
    task.step()
    shares = {(d.model, d.window): d for d in task.latest().drift_share}
    assert {window for model, window in shares if model == "churn"} == {"1d", "2d"}
    for days in (1, 2):
        rule = DriftShareRule(name="probe", model="churn", level=0.5, resolve_level=0.3,
                              window_days=days, min_rows=30)
        seen = observe(engine=engine, rule=rule, at=NOW, sources=sources)
        assert seen.value is not None
        assert shares[("churn", f"{days}d")].share == pytest.approx(seen.value)
        assert shares[("churn", f"{days}d")].rows == seen.sample_size
        assert 0.0 <= seen.value <= 1.0
    assert {model for model, _ in shares} <= set(report.models)


def test_without_sources_no_drift_share_is_exported(engine: Engine,
                                                    settings: Settings) -> None:
    seed_demo(engine=engine, settings=settings.replace(demo_days=2), now=NOW)
    task = FiguresTask(engine=engine, clock=lambda: NOW)
    task.step()
    assert task.latest().drift_share == ()
    assert task.latest().quality != ()
