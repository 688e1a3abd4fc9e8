"""A store seeded with history gets its alerts' history: each rule's replay written as the
events and the state the worker would have left, which the worker then carries on from."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine

from db.base import utcnow
from services.access.principal import SYSTEM
from services.alerts import store
from services.alerts.evaluate import evaluate_due
from services.alerts.replay import replay_history
from services.alerts.sources import Sources
from services.settings import Settings
from tests.db.alerts.test_engine import _history, _hours_ago, _rule


def test_the_replay_is_written_as_events_and_state_and_the_worker_carries_on(
        engine: Engine, settings: Settings) -> None:
    base = _hours_ago(72)
    # Good, bad, good again, then bad to the end: fired, resolved, fired again.
    _history(engine, base=base, good=24, bad=24, again=12)
    rule_id = store.save_rule(engine=engine, actor=SYSTEM, rule=_rule())
    store.save_rule(engine=engine, actor=SYSTEM, rule=_rule(name="off"), enabled=False)
    end = base + timedelta(hours=60)
    written = replay_history(engine=engine, sources=Sources.from_settings(settings),
                             start=base, end=end)
    events = store.events(engine=engine)
    assert written == len(events) == 2
    assert [e.event for e in reversed(events)] == ["firing", "resolved"]
    fired = events[-1]
    assert fired.value is not None
    assert fired.upper is not None
    assert fired.upper < 0.75  # the whole interval below the floor when it fired
    assert fired.sample_size is not None
    assert fired.sample_size >= 60
    assert not any(e.silenced or e.deliveries for e in events)
    state = store.get_rule(engine=engine, rule_id=rule_id).state
    assert state.status == "inactive"
    assert state.evaluated_at is not None
    assert state.evaluated_at <= end
    assert store.firing(engine=engine) == []


def test_a_rule_the_history_left_firing_is_firing_at_once(
        engine: Engine, settings: Settings) -> None:
    base = _hours_ago(48)
    _history(engine, base=base, good=24, bad=24, again=0)
    rule_id = store.save_rule(engine=engine, actor=SYSTEM, rule=_rule())
    now = utcnow()
    replay_history(engine=engine, sources=Sources.from_settings(settings), start=base,
                   end=now)
    state = store.get_rule(engine=engine, rule_id=rule_id).state
    assert state.status == "firing"
    assert state.fired_at is not None
    assert base + timedelta(hours=24) < state.fired_at < now
    assert [a.rule_id for a in store.firing(engine=engine)] == [rule_id]
    # The worker's first look keeps it firing: no new event, no pending period again.
    done = evaluate_due(engine=engine, settings=settings, holder="w", now=now, force=True)
    assert done.held
    assert [o.event for o in done.outcomes] == [None]
    assert store.get_rule(engine=engine, rule_id=rule_id).state.status == "firing"
    assert len(store.events(engine=engine)) == 1
    # A day later nothing is labelled in its window: nothing to judge, so it keeps firing
    # and keeps showing the figures that fired it, saying why none is newer.
    before = store.get_rule(engine=engine, rule_id=rule_id).state
    later = evaluate_due(engine=engine, settings=settings, holder="w",
                         now=now + timedelta(hours=30), force=True)
    assert [o.event for o in later.outcomes] == [None]
    after = store.get_rule(engine=engine, rule_id=rule_id).state
    assert after.status == "firing"
    assert (after.value, after.sample_size) == (before.value, before.sample_size)
    assert after.message.startswith(before.message + " (newest look, not judged: ")
    assert store.firing(engine=engine)[0].summary == after.message
