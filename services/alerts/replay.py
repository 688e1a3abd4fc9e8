"""A store seeded with history (the demo's) gets its alerts' history too: each rule's
backtest over the seeded days is written as the events and the state the worker would
have left had it evaluated the rules all along.

Only ``firing`` and ``resolved`` events are written (the pending steps in between would
be noise), with what the rule saw at that step; the state is the replay's last status,
since the step it began. Nothing is notified: these events happened before anyone could
have been told. The worker then carries on from that state, so a rule the history left
firing is firing at once, not pending for its ``for`` again.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine

from db.repositories import alert_runs
from db.session import session_scope
from services.alerts import store
from services.alerts.backtest import backtest
from services.alerts.backtest_core import Backtest
from services.alerts.describe import summary
from services.alerts.rules import Rule, ServingRule, cadence_seconds
from services.alerts.sources import Sources
from services.alerts.state import Observation, Status

__all__ = ["record_replay", "replay_history"]



def record_replay(*, engine: Engine, rule_id: int, rule: Rule, replay: Backtest) -> int:
    """Write ``replay`` as rule ``rule_id``'s events and state; returns the events written
    (none, and no state, for a replay that could not be made or has no step)."""
    if replay.unavailable is not None or not replay.steps:
        return 0
    written, previous, since, fired_at = 0, Status.INACTIVE, None, None
    seen: Observation | None = None  # the newest step with a figure
    with session_scope(engine, write=True) as session:
        for at, obs, status in replay.steps:
            if obs.value is not None:
                seen = obs
            if status is not previous:
                since = at
                event = ("firing" if status is Status.FIRING
                         else "resolved" if previous is Status.FIRING
                         and status is Status.INACTIVE else None)
                if event is not None:
                    alert_runs.insert_event(session=session, rule_id=rule_id, event=event,
                                            at=at, figures=obs.figures(),
                                            message=summary(rule, obs), silenced=False)
                    written += 1
                fired_at = at if status is Status.FIRING else (
                    fired_at if status is Status.UNKNOWN else None)
                previous = status
        last_at, last_obs, last = replay.steps[-1]
        if last is Status.FIRING and last_obs.value is None and seen is not None:
            # Nothing to judge at the end (too few rows so far today): the rule fires on
            # the newest figure it had, as the worker keeps it.
            last_obs = seen
        alert_runs.write_state(
            session=session, rule_id=rule_id,
            values={"status": str(last), "since": None if last is Status.INACTIVE else since,
                    "fired_at": fired_at, "message": summary(rule, last_obs),
                    "evaluated_at": last_at, **last_obs.figures()},
            clear_acknowledgement=True)
    return written


def replay_history(*, engine: Engine, sources: Sources, start: datetime,
                   end: datetime) -> int:
    """Replay every enabled stored rule over ``[start, end)`` and record what it did;
    returns the events written. Serving rules are left to the worker (their history is
    Prometheus', which a freshly seeded store's Prometheus does not hold yet), as is any
    rule whose history cannot be replayed."""
    written = 0
    for stored in store.list_rules(engine=engine, now=end):
        if not stored.enabled or isinstance(stored.rule, ServingRule):
            continue
        replay = backtest(engine=engine, rule=stored.rule, start=start, end=end,
                          step_seconds=cadence_seconds(stored.rule), sources=sources)
        written += record_replay(engine=engine, rule_id=stored.id, rule=stored.rule,
                                 replay=replay)
    return written
