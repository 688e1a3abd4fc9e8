"""Backtests of the kinds other than quality, each from history read once.

- Traffic stopped: the newest prediction per UTC hour (one grouped query), hourly steps.
- Label backlog: predictions made minus labels given before the replay, and that change
  per hour (predictions by their time, labels by when they were given), hourly steps.
- Failed retrain job, bake-watch rollback: the finished jobs and the ledger's system
  rollbacks, counted per step by the live evaluation's own functions.
- Drift share, prediction drift: each local day's logged rows read once (finished days
  from the drift cache) and sliced per step; every step judged by the Drift page's
  analysis against the version in production at that step, every
  :data:`DRIFT_STEP_SECONDS` or at the rule's step, whichever is coarser; a window ending
  at a local midnight is cached.
- Serving: range queries of the same panels over the span; Prometheus down makes the
  whole backtest unavailable, saying so.

Steps are whole hours from ``start`` rounded up to the hour.
"""

from __future__ import annotations

import math
from datetime import datetime

from sqlalchemy import Engine

from db.repositories import alert_sources, registry
from db.session import session_scope
from services.alerts.backtest_core import HOUR, Backtest, ceil_hour, replay
from services.alerts.observe_drift import (
    DriftSubject,
    WindowDrift,
    as_observation,
    day_frames,
    drift_subject,
    reference_for,
    verdict_of,
    window_start,
)
from services.alerts.observe_events import (
    failed_jobs_at,
    read_jobs,
    read_rollbacks,
    rollbacks_at,
)
from services.alerts.observe_serving import serving_history
from services.alerts.rules import (
    BakeRollbackRule,
    DriftShareRule,
    LabelBacklogRule,
    PredictionDriftRule,
    RetrainFailedRule,
    Rule,
    ServingRule,
    TrafficStoppedRule,
)
from services.alerts.sources import Sources
from services.alerts.state import Observation
from services.drift.frame import Frame
from services.drift.scoring import TrainingReference

__all__ = ["DRIFT_STEP_SECONDS", "backtest_other"]

#: Drift rules are replayed at most this often (each step is a full drift analysis).
DRIFT_STEP_SECONDS = 6 * 3600

_Steps = list[tuple[datetime, Observation]]


def _times(start: datetime, end: datetime, every_s: int) -> list[datetime]:
    """Whole-hour steps from ``start`` rounded up to the hour, every ``every_s`` rounded
    up to whole hours, before ``end``."""
    every = HOUR * max(1, math.ceil(every_s / 3600))
    out, at = [], ceil_hour(start)
    while at < end:
        out.append(at)
        at += every
    return out


def backtest_other(*, engine: Engine, rule: Rule, start: datetime, end: datetime,
                   step_seconds: int, sources: Sources | None) -> Backtest:
    """Replay a rule of any kind but quality (see the module's description)."""
    floor = DRIFT_STEP_SECONDS if isinstance(rule, DriftShareRule | PredictionDriftRule) else 0
    times = _times(start, end, max(step_seconds, 3600, floor))
    every = int((times[1] - times[0]).total_seconds()) if len(times) > 1 else max(
        step_seconds, 3600, floor)
    result = Backtest(start=ceil_hour(start), end=end, step_seconds=every)
    if not times:
        return result
    steps = _history(engine, rule, times, end, sources)
    if isinstance(steps, str):
        return Backtest(start=result.start, end=end, step_seconds=every, unavailable=steps)
    return replay(rule, steps, result)


def _history(engine: Engine, rule: Rule, times: list[datetime], end: datetime,
             sources: Sources | None) -> _Steps | str:
    if isinstance(rule, TrafficStoppedRule):
        return _traffic(engine, rule, times, end)
    if isinstance(rule, LabelBacklogRule):
        return _backlog(engine, rule, times, end)
    if isinstance(rule, RetrainFailedRule):
        jobs = read_jobs(engine, rule, times[0], end)
        return [(at, failed_jobs_at(rule, jobs, at)) for at in times]
    if isinstance(rule, BakeRollbackRule):
        rollbacks = read_rollbacks(engine, rule.model)
        return [(at, rollbacks_at(rule, rollbacks, at)) for at in times]
    if isinstance(rule, ServingRule):
        return _serving(rule, times, sources)
    assert isinstance(rule, DriftShareRule | PredictionDriftRule)
    return _drift(engine, rule, times, end, sources)


def _model_id(engine: Engine, model: str) -> int:
    with session_scope(engine) as session:
        return registry.get_model(session=session, name=model).id


def _traffic(engine: Engine, rule: TrafficStoppedRule, times: list[datetime],
             end: datetime) -> _Steps:
    model_id = _model_id(engine, rule.model)
    with session_scope(engine) as session:
        newest = alert_sources.newest_prediction(session=session, model_id=model_id,
                                                 before=times[0])
        hourly = alert_sources.hourly_newest_prediction(
            session=session, model_id=model_id, since=times[0], until=end)
    steps: _Steps = []
    index = 0
    for at in times:
        while index < len(hourly) and hourly[index][0] < at:
            newest = hourly[index][1] if newest is None else max(newest, hourly[index][1])
            index += 1
        if newest is None:
            steps.append((at, Observation(None, unavailable="the model has made no "
                                                            "prediction yet")))
        else:
            steps.append((at, Observation((at - newest).total_seconds())))
    return steps


def _backlog(engine: Engine, rule: LabelBacklogRule, times: list[datetime],
             end: datetime) -> _Steps:
    model_id = _model_id(engine, rule.model)
    with session_scope(engine) as session:
        waiting, change = alert_sources.hourly_arrivals(
            session=session, model_id=model_id, since=times[0], until=end)
    steps: _Steps = []
    hour = times[0]
    for at in times:
        while hour < at:
            waiting += change.get(hour, 0)
            hour += HOUR
        steps.append((at, Observation(float(max(waiting, 0)))))
    return steps


def _serving(rule: ServingRule, times: list[datetime], sources: Sources | None
             ) -> _Steps | str:
    every = int((times[1] - times[0]).total_seconds()) if len(times) > 1 else 3600
    seen = serving_history(rule=rule, sources=sources, start=times[0], end=times[-1],
                           step_seconds=every)
    if isinstance(seen, str):
        return seen
    by_time = {at.timestamp(): obs for at, obs in seen}
    nothing = Observation(None, sample_size=0)
    return [(at, by_time.get(at.timestamp(), nothing)) for at in times]


def _drift(engine: Engine, rule: DriftShareRule | PredictionDriftRule,
           times: list[datetime], end: datetime, sources: Sources | None) -> _Steps | str:
    if sources is None:
        return "drift rules need the settings (none given)"
    if sources.drift_config is None:
        return sources.drift_problem
    subject = drift_subject(engine, rule.model)
    if subject is None:
        return f"no model is called {rule.model!r}"
    tz = sources.settings.timezone
    days = day_frames(engine, sources, subject,
                      window_start(times[0], days=rule.window_days, tz=tz), end)
    references: dict[int, TrainingReference | str] = {}
    steps: _Steps = []
    for at in times:
        found = _drift_at(engine, sources, subject, days, at,
                          window_start(at, days=rule.window_days, tz=tz), references)
        steps.append((at, Observation(None, unavailable=found) if isinstance(found, str)
                      else as_observation(rule, found)))
    return steps


def _drift_at(engine: Engine, sources: Sources, subject: DriftSubject,
              days: list[tuple[datetime, datetime, Frame]], at: datetime,
              start: datetime, references: dict[int, TrainingReference | str]
              ) -> WindowDrift | str:
    version = subject.version_at(at)
    if version is None:
        return f"{subject.model} had no production version to compare with"
    if version not in references:
        references[version] = reference_for(engine, sources, version, subject.kinds)
    reference = references[version]
    if isinstance(reference, str):
        return reference
    inside = [(lo, hi, frame) for lo, hi, frame in days if lo < at and hi > start]
    parts = [frame if (start <= lo and hi <= at) else frame.between(max(lo, start), at)
             for lo, hi, frame in inside]

    def compute() -> WindowDrift:
        return verdict_of(sources, subject, reference,
                          Frame.concat(parts, list(subject.kinds)))
    if all(hi <= at for _, hi, _ in inside):
        key = ("window", subject.model_id, version, start, at,
               tuple(p.rows for p in parts))
        return sources.drift.get_or_compute(key, compute)
    return compute()
