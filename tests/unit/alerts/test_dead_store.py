"""A store that cannot be opened gives an unavailable observation: the rule goes unknown."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine

from services.alerts.observe import observe
from services.alerts.rules import LabelBacklogRule, QualityRule, Rule, TrafficStoppedRule
from services.alerts.state import RuleState, Status, step


def test_an_unreadable_store_makes_every_kind_unknown(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'missing' / 'opsdash.db'}")
    now = datetime(2026, 3, 1, tzinfo=UTC)
    rules: list[Rule] = [
        QualityRule(name="q", model="churn", metric="accuracy", floor=0.7, resolve_at=0.8),
        TrafficStoppedRule(name="t", model="churn", silence_seconds=600),
        LabelBacklogRule(name="b", model="churn", size=10, resolve_size=5),
    ]
    firing = RuleState(Status.FIRING, now, now)
    for rule in rules:
        seen = observe(engine=engine, rule=rule, at=now)
        assert seen.unavailable is not None
        assert seen.unavailable.startswith("the store could not be read")
        assert "\n" not in seen.unavailable
        move = step(rule, firing, seen, now)
        assert (move.state.status, move.event) == (Status.UNKNOWN, "unknown")
